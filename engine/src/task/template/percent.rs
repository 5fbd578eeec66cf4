//! Python's `%` string formatting: `'%s-%05d' % ('a', 42)`, `'%(n)s' % {'n': 1}`.

use minijinja::value::Value;
use minijinja::{Error, ErrorKind};

/// The widest field or precision a format may ask for.
const MAX_WIDTH: usize = 10_000;

fn bad(message: String) -> Error {
    Error::new(ErrorKind::InvalidOperation, message)
}

/// `format % args`, as Python formats it: a tuple or list gives the positional values, a
/// mapping the `%(name)` ones, any other value is the one value.
pub(super) fn format(format: &str, args: &Value) -> Result<String, Error> {
    // As Python: a tuple gives the positional values; a list is one value.
    let positional: Vec<Value> = if args.is_tuple() {
        args.try_iter()?.collect()
    } else {
        vec![args.clone()]
    };
    let mut next = 0usize;
    let mut out = String::with_capacity(format.len() + 16);
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut key = None;
        if chars.peek() == Some(&'(') {
            chars.next();
            let name: String = chars.by_ref().take_while(|&c| c != ')').collect();
            key = Some(name);
        }
        let mut flags = String::new();
        while let Some(&f) = chars.peek().filter(|f| "-+ 0#".contains(**f)) {
            flags.push(f);
            chars.next();
        }
        let mut width = String::new();
        while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            width.push(d);
            chars.next();
        }
        let mut precision = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut p = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                p.push(d);
                chars.next();
            }
            precision = Some(p.parse::<usize>().unwrap_or(0));
        }
        let conversion = chars
            .next()
            .ok_or_else(|| bad("incomplete format".into()))?;
        if conversion == '%' {
            out.push('%');
            continue;
        }
        let value = match &key {
            Some(k) => args
                .get_attr(k)
                .ok()
                .filter(|v| !v.is_undefined())
                .ok_or_else(|| bad(format!("format key `{k}` is missing")))?,
            None => {
                let v = positional
                    .get(next)
                    .cloned()
                    .ok_or_else(|| bad("not enough arguments for format string".into()))?;
                next += 1;
                v
            }
        };
        // Bounded, as a template's output is.
        if precision.is_some_and(|p| p > MAX_WIDTH)
            || width.parse::<usize>().unwrap_or(0) > MAX_WIDTH
        {
            return Err(bad("format width or precision too large".into()));
        }
        let body = convert(conversion, &value, precision, &flags)?;
        let width: usize = width.parse().unwrap_or(0);
        out.push_str(&pad(body, width, &flags, conversion));
    }
    if key_less(format) && next < positional.len() && args.is_tuple() {
        return Err(bad(
            "not all arguments converted during string formatting".into()
        ));
    }
    Ok(out)
}

fn key_less(format: &str) -> bool {
    !format.contains("%(")
}

fn number(value: &Value) -> Result<f64, Error> {
    f64::try_from(value.clone()).map_err(|_| bad(format!("a number is required, not `{value}`")))
}

fn convert(c: char, value: &Value, precision: Option<usize>, flags: &str) -> Result<String, Error> {
    let sign = |n: f64, s: String| {
        if n >= 0.0 && flags.contains('+') {
            format!("+{s}")
        } else if n >= 0.0 && flags.contains(' ') {
            format!(" {s}")
        } else {
            s
        }
    };
    Ok(match c {
        's' => {
            let s = value.to_string();
            match precision {
                Some(p) => s.chars().take(p).collect(),
                None => s,
            }
        }
        'r' | 'a' => match value.as_str() {
            Some(s) => super::pycompat::repr_str(s),
            None => value.to_string(),
        },
        'd' | 'i' | 'u' => {
            let n = number(value)?.trunc();
            sign(n, format!("{}", n as i64))
        }
        'f' | 'F' => {
            let n = number(value)?;
            sign(n, format!("{:.*}", precision.unwrap_or(6), n))
        }
        'e' | 'E' => {
            let n = number(value)?;
            let s = python_exp(n, precision.unwrap_or(6));
            sign(n, if c == 'E' { s.to_uppercase() } else { s })
        }
        'g' | 'G' => {
            let n = number(value)?;
            sign(n, format!("{n}"))
        }
        'x' | 'X' | 'o' => {
            let n = number(value)?.trunc() as i64;
            let s = match c {
                'x' => format!("{:x}", n.unsigned_abs()),
                'X' => format!("{:X}", n.unsigned_abs()),
                _ => format!("{:o}", n.unsigned_abs()),
            };
            let s = if n < 0 { format!("-{s}") } else { s };
            sign(n as f64, s)
        }
        'c' => match value.as_str() {
            Some(s) => s.to_string(),
            None => char::from_u32(number(value)? as u32)
                .map(String::from)
                .unwrap_or_default(),
        },
        other => return Err(bad(format!("unsupported format character `{other}`"))),
    })
}

/// `1.5e+03`, as Python writes exponents (sign and at least two digits).
fn python_exp(n: f64, precision: usize) -> String {
    let s = format!("{:.*e}", precision, n);
    match s.split_once('e') {
        Some((m, e)) => {
            let (sign, digits) = match e.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', e),
            };
            format!("{m}e{sign}{digits:0>2}")
        }
        None => s,
    }
}

fn pad(body: String, width: usize, flags: &str, conversion: char) -> String {
    let len = body.chars().count();
    if len >= width {
        return body;
    }
    let fill = width - len;
    if flags.contains('-') {
        return format!("{body}{}", " ".repeat(fill));
    }
    if flags.contains('0') && "diufFeExXo".contains(conversion) {
        let (sign, digits) = match body.chars().next() {
            Some(s @ ('-' | '+' | ' ')) => (s.to_string(), body[1..].to_string()),
            _ => (String::new(), body),
        };
        return format!("{sign}{}{digits}", "0".repeat(fill));
    }
    format!("{}{body}", " ".repeat(fill))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_as_python_does() {
        let t = |f: &str, v: Value| format(f, &v).unwrap();
        let tup = |v: Vec<Value>| Value::from(minijinja::value::Tuple::from(v));
        assert_eq!(
            t("%s-%05d", tup(vec![Value::from("a"), Value::from(42)])),
            "a-00042"
        );
        assert_eq!(
            t(
                "%.2f|%5s|%-4d|",
                tup(vec![Value::from(1.23456), Value::from("x"), Value::from(7)])
            ),
            "1.23|    x|7   |"
        );
        assert_eq!(t("%(n)03d %%", minijinja::context! { n => 5 }), "005 %");
        assert_eq!(t("%r", Value::from("it's")), "\"it's\"");
        assert!(format("%s %s", &tup(vec![Value::from(1)])).is_err());
        assert!(format("%s", &tup(vec![Value::from(1), Value::from(2)])).is_err());
        // A list is one value, as in Python.
        assert_eq!(
            t("ids=%s", Value::from(vec![Value::from("a")])),
            "ids=['a']"
        );
        assert!(format("%.70000000f", &Value::from(1)).is_err());
        assert!(format("%1000000000000000s", &Value::from(1)).is_err());
    }
}
