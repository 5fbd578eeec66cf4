//! Airflow's template filters (`ds`, `ds_nodash`, `ts`, `ts_nodash`, `ts_nodash_with_tz`),
//! Jinja2's `int` and `float`, which give a default where minijinja's fail, and Jinja2's
//! `truncate`, `filesizeformat`, `striptags`, `cycler` and `joiner`.

use minijinja::value::{Kwargs, Value};
use minijinja::{Environment, Error};

use super::time::{PyDateTime, as_datetime};

/// Adds the filters to `env`.
pub(super) fn register(env: &mut Environment<'_>) {
    env.add_filter("ds", |v: Value| date_filter(v, |d| d.strftime("%Y-%m-%d")));
    env.add_filter("ds_nodash", |v: Value| {
        date_filter(v, |d| d.strftime("%Y%m%d"))
    });
    env.add_filter("ts", |v: Value| date_filter(v, PyDateTime::isoformat_t));
    env.add_filter("ts_nodash", |v: Value| {
        date_filter(v, |d| d.strftime("%Y%m%dT%H%M%S"))
    });
    env.add_filter("ts_nodash_with_tz", |v: Value| {
        date_filter(v, |d| super::context::ts_nodash_with_tz(&d.isoformat_t()))
    });
    // Jinja2's built-in filters and globals minijinja keeps in its contrib crate.
    env.add_filter("truncate", truncate);
    env.add_filter("filesizeformat", minijinja_contrib::filters::filesizeformat);
    env.add_filter("striptags", minijinja_contrib::filters::striptags);
    env.add_function("cycler", |items: minijinja::value::Rest<Value>| {
        minijinja_contrib::globals::cycler(items.0)
    });
    env.add_function("joiner", minijinja_contrib::globals::joiner);
    env.add_filter("int", int);
    env.add_filter("float", float);
}

/// A date filter: `f` of a date-time (or one written as text); None gives None, as Airflow's
/// filters give for `prev_start_date_success | ds` on a first run.
fn date_filter(v: Value, f: impl Fn(&PyDateTime) -> String) -> Result<Value, Error> {
    if v.is_none() {
        return Ok(v);
    }
    Ok(Value::from(f(&date_arg(&v)?)))
}

/// A date filter's argument; a date-time as text (`2026-03-15T00:00:00+00:00`) is read too.
fn date_arg(v: &Value) -> Result<PyDateTime, Error> {
    if let Some(s) = v.as_str() {
        return crate::spec::parse_date(s)
            .map(PyDateTime::utc)
            .ok_or_else(|| super::time::bad(format!("`{s}` is not a date-time")));
    }
    as_datetime(v).cloned()
}

/// Jinja2's `truncate(s, length=255, killwords=False, end='...', leeway=5)`, by position or
/// keyword.
fn truncate(
    s: String,
    length: Option<usize>,
    killwords: Option<bool>,
    end: Option<String>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    let length = match length {
        Some(l) => l,
        None => kwargs.get::<Option<usize>>("length")?.unwrap_or(255),
    };
    let killwords = match killwords {
        Some(k) => k,
        None => kwargs.get::<Option<bool>>("killwords")?.unwrap_or(false),
    };
    let end = match end {
        Some(e) => e,
        None => kwargs
            .get::<Option<String>>("end")?
            .unwrap_or_else(|| "...".to_string()),
    };
    let leeway: usize = kwargs.get::<Option<usize>>("leeway")?.unwrap_or(5);
    kwargs.assert_all_used()?;
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= length.saturating_add(leeway) {
        return Ok(s);
    }
    let head: String = chars[..length.saturating_sub(end.chars().count())]
        .iter()
        .collect();
    if killwords {
        return Ok(head + &end);
    }
    let head = head.rsplit_once(' ').map_or(head.as_str(), |(h, _)| h);
    Ok(format!("{head}{end}"))
}

/// Jinja2's `int(value, default=0, base=10)`: text that is not a number gives the default.
fn int(v: Value, default: Option<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let default = match default {
        Some(d) => d,
        None => kwargs
            .get::<Option<Value>>("default")?
            .unwrap_or(Value::from(0)),
    };
    let base: Option<u32> = kwargs.get("base")?;
    kwargs.assert_all_used()?;
    if let Some(s) = v.as_str() {
        let t = s.trim().replace('_', "");
        let lower = t.to_ascii_lowercase();
        // Base 0 reads Python's prefixes (0x, 0o, 0b); a base outside 2 to 36 gives the default.
        let (base, digits) = match base.unwrap_or(10) {
            0 => match lower.get(..2) {
                Some("0x") => (16, &lower[2..]),
                Some("0o") => (8, &lower[2..]),
                Some("0b") => (2, &lower[2..]),
                _ => (10, lower.as_str()),
            },
            16 => (16, lower.strip_prefix("0x").unwrap_or(&lower)),
            8 => (8, lower.strip_prefix("0o").unwrap_or(&lower)),
            2 => (2, lower.strip_prefix("0b").unwrap_or(&lower)),
            b => (b, lower.as_str()),
        };
        let parsed = match base {
            10 => t.parse::<i64>().ok().or_else(|| {
                t.parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite() && f.abs() < 9.2e18)
                    .map(|f| f as i64)
            }),
            2..=36 => i64::from_str_radix(digits, base).ok(),
            _ => None,
        };
        return Ok(parsed.map_or(default, Value::from));
    }
    if v.is_number() {
        return Ok(match i64::try_from(v.clone()) {
            Ok(i) => Value::from(i),
            Err(_) => f64::try_from(v).map_or(default, |f| Value::from(f.trunc() as i64)),
        });
    }
    Ok(match v.kind() {
        minijinja::value::ValueKind::Bool => Value::from(i64::from(v.is_true())),
        _ => default,
    })
}

/// Jinja2's `float(value, default=0.0)`.
fn float(v: Value, default: Option<Value>) -> Value {
    let default = default.unwrap_or(Value::from(0.0));
    if let Some(s) = v.as_str() {
        return s.trim().parse::<f64>().map_or(default, Value::from);
    }
    f64::try_from(v).map_or(default, Value::from)
}
