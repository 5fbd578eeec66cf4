//! `macros.json.dumps` and `loads`, printing as Python's `json` module does.

use std::fmt::Write as _;

use minijinja::value::{Kwargs, Value, from_args};
use minijinja::{Error, ErrorKind};

fn bad(message: String) -> Error {
    Error::new(ErrorKind::InvalidOperation, message)
}

/// `json.dumps(obj, indent=None, sort_keys=False)`: `", "` and `": "` between items,
/// non-ASCII escaped (`ensure_ascii`), as Python writes it.
pub(super) fn dumps(args: &[Value]) -> Result<Value, Error> {
    let (value, kwargs): (Value, Kwargs) = from_args(args)?;
    let indent: Option<usize> = kwargs.get("indent")?;
    if indent.is_some_and(|n| n > 64) {
        return Err(bad("json.dumps: an indent of at most 64".into()));
    }
    let sort_keys: Option<bool> = kwargs.get("sort_keys")?;
    let _: Option<Value> = kwargs.get("default")?;
    kwargs.assert_all_used()?;
    let json = serde_json::to_value(&value).map_err(|e| bad(format!("json.dumps: {e}")))?;
    let mut out = String::new();
    write(&mut out, &json, indent, sort_keys.unwrap_or(false), 0);
    Ok(Value::from(out))
}

/// `json.loads(text)`.
pub(super) fn loads(args: &[Value]) -> Result<Value, Error> {
    let (text,): (&str,) = from_args(args)?;
    let json: serde_json::Value =
        serde_json::from_str(text).map_err(|e| bad(format!("json.loads: {e}")))?;
    Ok(super::serde(&json))
}

fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write(out: &mut String, v: &serde_json::Value, indent: Option<usize>, sort: bool, depth: usize) {
    use serde_json::Value as J;
    let newline = |out: &mut String, depth: usize| {
        if let Some(n) = indent {
            out.push('\n');
            out.push_str(&" ".repeat(n * depth));
        }
    };
    let sep = if indent.is_some() { "," } else { ", " };
    match v {
        J::Null => out.push_str("null"),
        J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        J::Number(n) => {
            let _ = write!(out, "{n}");
        }
        J::String(s) => string(out, s),
        J::Array(items) if items.is_empty() => out.push_str("[]"),
        J::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(sep);
                }
                newline(out, depth + 1);
                write(out, item, indent, sort, depth + 1);
            }
            newline(out, depth);
            out.push(']');
        }
        J::Object(m) if m.is_empty() => out.push_str("{}"),
        J::Object(m) => {
            let mut entries: Vec<_> = m.iter().collect();
            if sort {
                entries.sort_by(|a, b| a.0.cmp(b.0));
            }
            out.push('{');
            for (i, (k, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(sep);
                }
                newline(out, depth + 1);
                string(out, k);
                out.push_str(": ");
                write(out, item, indent, sort, depth + 1);
            }
            newline(out, depth);
            out.push('}');
        }
    }
}
