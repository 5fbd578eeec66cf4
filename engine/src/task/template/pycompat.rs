//! Python's methods on strings, lists and dicts (Jinja in Airflow is Python): minijinja's
//! `pycompat` (`upper`, `split`, `get`, `items` …) and what it lacks (`rsplit`, `zfill`,
//! `rjust`, `partition`, `list.index` …), and Python's printing of dict views.

use std::fmt;
use std::sync::Arc;

use minijinja::value::{Enumerator, Object, ObjectRepr, Value, ValueKind, from_args};
use minijinja::{Error, ErrorKind, State};

/// The methods of `str` a template can call.
pub(crate) const STR_METHODS: &[&str] = &[
    "capitalize",
    "casefold",
    "center",
    "count",
    "endswith",
    "find",
    "format",
    "index",
    "isalnum",
    "isalpha",
    "isascii",
    "isdigit",
    "islower",
    "isnumeric",
    "isspace",
    "isupper",
    "join",
    "ljust",
    "lower",
    "lstrip",
    "partition",
    "removeprefix",
    "removesuffix",
    "replace",
    "rfind",
    "rindex",
    "rjust",
    "rpartition",
    "rsplit",
    "rstrip",
    "split",
    "splitlines",
    "startswith",
    "strip",
    "swapcase",
    "title",
    "upper",
    "zfill",
];
/// The methods of `list`.
pub(crate) const LIST_METHODS: &[&str] = &["count", "index", "copy"];
/// The methods of `dict`.
pub(crate) const DICT_METHODS: &[&str] = &["copy", "get", "items", "keys", "values"];

/// minijinja's callback for a method a value does not have.
pub(super) fn unknown_method(
    state: &mut State<'_, '_>,
    value: &Value,
    method: &str,
    args: &[Value],
) -> Result<Value, Error> {
    let known = match value.kind() {
        ValueKind::String => {
            if let Some(rv) = str_method(value.as_str().unwrap_or_default(), method, args)? {
                return Ok(rv);
            }
            STR_METHODS
        }
        ValueKind::Seq => {
            if let Some(rv) = list_method(value, method, args)? {
                return Ok(rv);
            }
            LIST_METHODS
        }
        ValueKind::Map => {
            if let Some(kind) = View::of(method) {
                let () = from_args(args)?;
                return Ok(Value::from_object(DictView {
                    kind,
                    map: value.clone(),
                }));
            }
            if method == "copy" {
                return Ok(value.clone());
            }
            DICT_METHODS
        }
        _ => super::time::methods_of(value).unwrap_or(&[]),
    };
    match minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args) {
        Err(e) if e.kind() == ErrorKind::UnknownMethod => {
            let hint = crate::spec::suggest::closest(method, known.iter().copied())
                .map(|c| format!(" (did you mean `{c}`?)"))
                .unwrap_or_default();
            let kind = match value.kind() {
                ValueKind::String => "str",
                ValueKind::Seq => "list",
                ValueKind::Map => "dict",
                _ => super::time::type_name(value),
            };
            let mut message = format!("{kind} has no method named {method}{hint}");
            if kind == "list"
                && matches!(
                    method,
                    "append" | "extend" | "insert" | "pop" | "remove" | "sort" | "reverse"
                )
            {
                message.push_str("; template values cannot be changed in place: build a new list (`l + [x]`, `l | sort`)");
            }
            Err(Error::new(ErrorKind::UnknownMethod, message))
        }
        other => other,
    }
}

/// Python's `repr` of a string: single quotes unless it holds one and no double quote.
pub(crate) fn repr_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

fn strings(items: Vec<&str>) -> Value {
    Value::from(items.into_iter().map(Value::from).collect::<Vec<_>>())
}

fn tuple(items: [&str; 3]) -> Value {
    Value::from(minijinja::value::Tuple::from(
        items.map(Value::from).to_vec(),
    ))
}

fn not_found() -> Error {
    Error::new(ErrorKind::InvalidOperation, "substring not found")
}

/// The widest `zfill`/`rjust`/`ljust`/`center` a template may ask for.
const MAX_WIDTH: usize = 100_000;

fn too_wide(width: usize) -> Result<(), Error> {
    if width > MAX_WIDTH {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("a width of {width} is too large (at most {MAX_WIDTH})"),
        ));
    }
    Ok(())
}

fn padded(s: &str, width: i64, fill: Option<&str>, how: char) -> Result<Value, Error> {
    // A negative width pads nothing, as in Python.
    let width = usize::try_from(width).unwrap_or(0);
    too_wide(width)?;
    let fill = match fill {
        Some(f) if f.chars().count() == 1 => f.chars().next().unwrap_or(' '),
        Some(_) => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                "the fill character must be exactly one character long",
            ));
        }
        None => ' ',
    };
    let len = s.chars().count();
    if len >= width {
        return Ok(Value::from(s));
    }
    let n = width - len;
    let f = |k: usize| fill.to_string().repeat(k);
    Ok(Value::from(match how {
        'r' => format!("{}{s}", f(n)),
        'l' => format!("{s}{}", f(n)),
        // Python puts the odd character on the right, unless the width is odd too.
        _ => {
            let left = n / 2 + (n & width & 1);
            format!("{}{s}{}", f(left), f(n - left))
        }
    }))
}

/// `split`/`rsplit`'s `sep` and `maxsplit`, by position or keyword (a negative or absent
/// `maxsplit` is no limit).
fn split_args(args: &[Value]) -> Result<(Option<String>, Option<usize>), Error> {
    let (pos, kwargs): (&[Value], minijinja::value::Kwargs) = from_args(args)?;
    let sep = match pos.first() {
        Some(v) => Some(v.clone()),
        None => kwargs.get::<Option<Value>>("sep")?,
    };
    let max = match pos.get(1) {
        Some(v) => Some(i64::try_from(v.clone())?),
        None => kwargs.get::<Option<i64>>("maxsplit")?,
    };
    kwargs.assert_all_used()?;
    let sep = match sep {
        Some(v) if v.is_none() => None,
        Some(v) => Some(
            v.as_str()
                .ok_or_else(|| {
                    Error::new(
                        ErrorKind::InvalidOperation,
                        "the separator must be a string",
                    )
                })?
                .to_string(),
        ),
        None => None,
    };
    if sep.as_deref() == Some("") {
        return Err(Error::new(ErrorKind::InvalidOperation, "empty separator"));
    }
    Ok((sep, max.and_then(|m| usize::try_from(m).ok())))
}

fn str_method(s: &str, method: &str, args: &[Value]) -> Result<Option<Value>, Error> {
    Ok(Some(match method {
        // minijinja-contrib's `split` has no keywords; `split(maxsplit=1)` is done here.
        "split" if args.last().is_some_and(Value::is_kwargs) => {
            let (sep, max) = split_args(args)?;
            let parts: Vec<&str> = match (sep.as_deref(), max) {
                (Some(sep), Some(m)) => s.splitn(m + 1, sep).collect(),
                (Some(sep), None) => s.split(sep).collect(),
                (None, max) => {
                    // Runs of whitespace separate; the tail keeps its trailing whitespace.
                    let mut rest = s.trim_start();
                    let mut parts = Vec::new();
                    let mut left = max.unwrap_or(usize::MAX);
                    while left > 0 && !rest.trim_end().is_empty() {
                        match rest.find(char::is_whitespace) {
                            Some(i) => {
                                parts.push(&rest[..i]);
                                rest = rest[i..].trim_start();
                            }
                            None => {
                                parts.push(rest);
                                rest = "";
                            }
                        }
                        left -= 1;
                    }
                    if !rest.trim_end().is_empty() {
                        parts.push(if max.is_some() { rest } else { rest.trim_end() });
                    }
                    parts
                }
            };
            strings(parts)
        }
        "rsplit" => {
            let (sep, max) = split_args(args)?;
            let sep = sep.as_deref();
            let mut parts: Vec<&str> = match (sep, max) {
                (Some(sep), Some(m)) => s.rsplitn(m + 1, sep).collect(),
                (Some(sep), None) => s.rsplit(sep).collect(),
                (None, max) => {
                    // Runs of whitespace separate; the head keeps its leading whitespace.
                    let mut rest = s.trim_end();
                    let mut parts = Vec::new();
                    let mut left = max.unwrap_or(usize::MAX);
                    while left > 0 && !rest.trim_start().is_empty() {
                        match rest.rfind(char::is_whitespace) {
                            Some(i) => {
                                let ws = rest[i..].chars().next().map_or(1, char::len_utf8);
                                parts.push(&rest[i + ws..]);
                                rest = rest[..i].trim_end();
                            }
                            None => {
                                parts.push(rest);
                                rest = "";
                            }
                        }
                        left -= 1;
                    }
                    if !rest.trim_start().is_empty() {
                        parts.push(if max.is_some() {
                            rest
                        } else {
                            rest.trim_start()
                        });
                    }
                    parts
                }
            };
            parts.reverse();
            strings(parts)
        }
        "zfill" => {
            let (width,): (i64,) = from_args(args)?;
            let width = usize::try_from(width).unwrap_or(0);
            too_wide(width)?;
            let (sign, digits) = match s.strip_prefix(['+', '-']) {
                Some(rest) => (&s[..1], rest),
                None => ("", s),
            };
            let n = width.saturating_sub(s.chars().count());
            Value::from(format!("{sign}{}{digits}", "0".repeat(n)))
        }
        "rjust" | "ljust" | "center" => {
            let (width, fill): (i64, Option<&str>) = from_args(args)?;
            padded(s, width, fill, method.chars().next().unwrap_or('c'))?
        }
        "partition" | "rpartition" => {
            let (sep,): (&str,) = from_args(args)?;
            if sep.is_empty() {
                return Err(Error::new(ErrorKind::InvalidOperation, "empty separator"));
            }
            let found = if method == "partition" {
                s.split_once(sep)
            } else {
                s.rsplit_once(sep)
            };
            match found {
                Some((a, b)) => tuple([a, sep, b]),
                None if method == "partition" => tuple([s, "", ""]),
                None => tuple(["", "", s]),
            }
        }
        "index" | "rindex" => {
            let (sub,): (&str,) = from_args(args)?;
            let at = if method == "index" {
                s.find(sub)
            } else {
                s.rfind(sub)
            };
            let at = at.ok_or_else(not_found)?;
            Value::from(s[..at].chars().count())
        }
        "swapcase" => Value::from(
            s.chars()
                .flat_map(|c| {
                    if c.is_uppercase() {
                        c.to_lowercase().collect::<Vec<_>>()
                    } else {
                        c.to_uppercase().collect::<Vec<_>>()
                    }
                })
                .collect::<String>(),
        ),
        "casefold" => Value::from(s.to_lowercase()),
        "removeprefix" => {
            let (p,): (&str,) = from_args(args)?;
            Value::from(s.strip_prefix(p).unwrap_or(s))
        }
        "removesuffix" => {
            let (p,): (&str,) = from_args(args)?;
            Value::from(s.strip_suffix(p).unwrap_or(s))
        }
        _ => return Ok(None),
    }))
}

fn list_method(value: &Value, method: &str, args: &[Value]) -> Result<Option<Value>, Error> {
    Ok(Some(match method {
        "index" => {
            let (what,): (Value,) = from_args(args)?;
            let at = value
                .try_iter()?
                .position(|item| item == what)
                .ok_or_else(|| {
                    Error::new(
                        ErrorKind::InvalidOperation,
                        format!("{what} is not in list"),
                    )
                })?;
            Value::from(at)
        }
        "copy" => value.clone(),
        _ => return Ok(None),
    }))
}

/// Which view of a dict: `keys()`, `values()`, `items()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum View {
    Keys,
    Values,
    Items,
}

impl View {
    fn of(method: &str) -> Option<View> {
        match method {
            "keys" => Some(View::Keys),
            "values" => Some(View::Values),
            "items" => Some(View::Items),
            _ => None,
        }
    }
}

/// A dict view: iterates like Python's and prints `dict_items([('k', 'v')])`.
#[derive(Debug)]
struct DictView {
    kind: View,
    map: Value,
}

impl DictView {
    fn items(&self) -> Vec<Value> {
        let Ok(keys) = self.map.try_iter() else {
            return Vec::new();
        };
        keys.map(|k| {
            let v = self.map.get_item(&k).unwrap_or_default();
            match self.kind {
                View::Keys => k,
                View::Values => v,
                View::Items => Value::from(minijinja::value::Tuple::from(vec![k, v])),
            }
        })
        .collect()
    }
}

impl Object for DictView {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Iterable
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.items())
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        self.map.len()
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.kind {
            View::Keys => "dict_keys",
            View::Values => "dict_values",
            View::Items => "dict_items",
        };
        write!(f, "{name}({})", Value::from(self.items()))
    }
}
