//! Airflow's template filters (`ds`, `ds_nodash`, `ts`, `ts_nodash`, `ts_nodash_with_tz`) and
//! Jinja2's `int` and `float`, which give a default where minijinja's fail.

use minijinja::value::{Kwargs, Value};
use minijinja::{Environment, Error};

use super::time::{PyDateTime, as_datetime};

/// Adds the filters to `env`.
pub(super) fn register(env: &mut Environment<'_>) {
    env.add_filter("ds", |v: Value| {
        Ok::<_, Error>(Value::from(date_arg(&v)?.strftime("%Y-%m-%d")))
    });
    env.add_filter("ds_nodash", |v: Value| {
        Ok::<_, Error>(Value::from(date_arg(&v)?.strftime("%Y%m%d")))
    });
    env.add_filter("ts", |v: Value| {
        Ok::<_, Error>(Value::from(date_arg(&v)?.isoformat_t()))
    });
    env.add_filter("ts_nodash", |v: Value| {
        Ok::<_, Error>(Value::from(date_arg(&v)?.strftime("%Y%m%dT%H%M%S")))
    });
    env.add_filter("ts_nodash_with_tz", |v: Value| {
        Ok::<_, Error>(Value::from(super::context::ts_nodash_with_tz(
            &date_arg(&v)?.isoformat_t(),
        )))
    });
    env.add_filter("int", int);
    env.add_filter("float", float);
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
        let parsed = match base.unwrap_or(10) {
            10 => t.parse::<i64>().ok().or_else(|| {
                t.parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .map(|f| f as i64)
            }),
            b => {
                let digits = t
                    .trim_start_matches("0x")
                    .trim_start_matches("0o")
                    .trim_start_matches("0b");
                i64::from_str_radix(digits, b).ok()
            }
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
