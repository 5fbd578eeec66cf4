//! Date and time values as Airflow's templates see them: pendulum date-times (`logical_date`,
//! `data_interval_start` …), Python's `datetime`, `date`, `timedelta`, dateutil's
//! `relativedelta` and pendulum's `Interval` — with their methods, their arithmetic (through
//! [`super::ops`]) and their printing.

mod date;
mod datetime;
mod delta;
mod format;
mod zone;

pub(crate) use date::PyDate;
pub(crate) use datetime::{Flavor, PyDateTime, as_datetime};
pub(crate) use delta::{Interval, RelativeDelta, TimeDelta, unknown_method};
pub(crate) use zone::TzInfo;

use minijinja::value::Value;
use minijinja::{Error, ErrorKind};

/// The fields of a date-time, in Python's order (`datetime(year, month, …)`, `replace`,
/// dateutil's absolute `relativedelta` fields).
pub(crate) const FIELDS: [&str; 7] = [
    "year",
    "month",
    "day",
    "hour",
    "minute",
    "second",
    "microsecond",
];

/// An error of a template's use of a date (bad unit, bad time zone, out of range …).
pub(crate) fn bad(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.into())
}

/// `a + b` when one side is a date, a date-time or a duration; `None` for other values.
pub(crate) fn add(a: &Value, b: &Value) -> Option<Result<Value, Error>> {
    if let Some(x) = a.downcast_object_ref::<PyDateTime>() {
        return Some(x.plus(b, 1));
    }
    if let Some(x) = a.downcast_object_ref::<PyDate>() {
        return Some(x.plus(b, 1));
    }
    if let Some(y) = b.downcast_object_ref::<PyDateTime>() {
        return Some(y.plus(a, 1));
    }
    if let Some(y) = b.downcast_object_ref::<PyDate>() {
        return Some(y.plus(a, 1));
    }
    if let (Some(x), Some(y)) = (TimeDelta::of(a), TimeDelta::of(b)) {
        return Some(x.checked_add(y).map(Value::from_object));
    }
    if let (Some(x), Some(y)) = (
        a.downcast_object_ref::<RelativeDelta>(),
        b.downcast_object_ref::<RelativeDelta>(),
    ) {
        return Some(Ok(Value::from_object(x.combined(y, 1))));
    }
    None
}

/// `a * b` when one side is a `timedelta` and the other a number, as Python has it (a float
/// rounds the microseconds half to even); `None` for other values.
pub(crate) fn mul(a: &Value, b: &Value) -> Option<Result<Value, Error>> {
    let (d, n) = match (
        a.downcast_object_ref::<TimeDelta>(),
        b.downcast_object_ref::<TimeDelta>(),
    ) {
        (Some(d), None) => (*d, b),
        (None, Some(d)) => (*d, a),
        _ => return None,
    };
    Some(d.times(n).map(Value::from_object))
}

/// `-a` when `a` is a `timedelta`; `None` for other values.
pub(crate) fn neg(a: &Value) -> Option<Value> {
    a.downcast_object_ref::<TimeDelta>()
        .map(|d| Value::from_object(d.negated()))
}

/// `a - b` when one side is a date, a date-time or a duration; `None` for other values.
pub(crate) fn sub(a: &Value, b: &Value) -> Option<Result<Value, Error>> {
    if let Some(x) = a.downcast_object_ref::<PyDateTime>() {
        if let Some(y) = b.downcast_object_ref::<PyDateTime>() {
            return Some(x.minus_datetime(y));
        }
        return Some(x.plus(b, -1));
    }
    if let Some(x) = a.downcast_object_ref::<PyDate>() {
        if let Some(y) = b.downcast_object_ref::<PyDate>() {
            return Some(x.minus_date(y).map(Value::from_object));
        }
        return Some(x.plus(b, -1));
    }
    if let (Some(x), Some(y)) = (TimeDelta::of(a), TimeDelta::of(b)) {
        return Some(x.checked_add(y.negated()).map(Value::from_object));
    }
    if let (Some(x), Some(y)) = (
        a.downcast_object_ref::<RelativeDelta>(),
        b.downcast_object_ref::<RelativeDelta>(),
    ) {
        return Some(Ok(Value::from_object(x.combined(y, -1))));
    }
    if a.as_object().is_some() || b.as_object().is_some() {
        let is_time = |v: &Value| {
            v.downcast_object_ref::<TimeDelta>().is_some()
                || v.downcast_object_ref::<RelativeDelta>().is_some()
                || v.downcast_object_ref::<Interval>().is_some()
        };
        if is_time(a) || is_time(b) {
            return Some(Err(bad(format!(
                "cannot subtract {} from {}",
                type_name(b),
                type_name(a)
            ))));
        }
    }
    None
}

/// The attributes a date or duration value has (for suggestions); `None` for other values.
pub(crate) fn attributes_of(v: &Value) -> Option<Vec<&'static str>> {
    if v.downcast_object_ref::<PyDateTime>().is_some() {
        Some(FIELDS.iter().chain(datetime::ATTRIBUTES).copied().collect())
    } else if v.downcast_object_ref::<PyDate>().is_some() {
        Some(FIELDS[..3].to_vec())
    } else if v.downcast_object_ref::<TimeDelta>().is_some() {
        Some(vec!["days", "seconds", "microseconds"])
    } else {
        None
    }
}

/// The methods a date or duration value has (for suggestions); `None` for other values.
pub(crate) fn methods_of(v: &Value) -> Option<&'static [&'static str]> {
    if v.downcast_object_ref::<PyDateTime>().is_some() {
        Some(datetime::METHODS)
    } else if v.downcast_object_ref::<PyDate>().is_some() {
        Some(date::METHODS)
    } else if v.downcast_object_ref::<TimeDelta>().is_some() {
        Some(&["total_seconds"])
    } else if v.downcast_object_ref::<Interval>().is_some() {
        Some(delta::INTERVAL_METHODS)
    } else {
        None
    }
}

/// The Python type name of a value, for messages.
pub(crate) fn type_name(v: &Value) -> &'static str {
    if v.downcast_object_ref::<PyDateTime>().is_some() {
        "datetime"
    } else if v.downcast_object_ref::<PyDate>().is_some() {
        "date"
    } else if v.downcast_object_ref::<TimeDelta>().is_some() {
        "timedelta"
    } else if v.downcast_object_ref::<RelativeDelta>().is_some() {
        "relativedelta"
    } else if v.downcast_object_ref::<Interval>().is_some() {
        "Interval"
    } else if v.downcast_object_ref::<TzInfo>().is_some() {
        "Timezone"
    } else {
        match v.kind() {
            minijinja::value::ValueKind::String => "str",
            minijinja::value::ValueKind::Number => "number",
            minijinja::value::ValueKind::Map => "dict",
            minijinja::value::ValueKind::Seq => "list",
            minijinja::value::ValueKind::None => "None",
            minijinja::value::ValueKind::Bool => "bool",
            _ => "value",
        }
    }
}
