//! Python's `date` (what `logical_date.date()` gives).

use std::fmt;
use std::sync::Arc;

use chrono::{Datelike, Duration, NaiveDate};
use minijinja::value::{Object, ObjectRepr, Value, from_args};
use minijinja::{Error, State};

use super::delta::unknown_method;
use super::format::{Parts, strftime};
use super::{TimeDelta, bad, type_name};

/// A calendar day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct PyDate(pub(crate) NaiveDate);

pub(crate) const METHODS: &[&str] = &[
    "strftime",
    "isoformat",
    "weekday",
    "isoweekday",
    "to_date_string",
    "replace",
];

impl PyDate {
    /// `date ± timedelta` (whole days count; the rest is dropped, as Python does).
    pub(crate) fn plus(&self, other: &Value, sign: i64) -> Result<Value, Error> {
        let Some(d) = TimeDelta::of(other) else {
            return Err(bad(format!(
                "unsupported operand types for {}: 'date' and '{}'",
                if sign > 0 { "+" } else { "-" },
                type_name(other)
            )));
        };
        let (days, _, _) = d.parts();
        Duration::try_days(sign * days)
            .and_then(|d| self.0.checked_add_signed(d))
            .filter(|d| (1..=9999).contains(&d.year()))
            .map(|d| Value::from_object(PyDate(d)))
            .ok_or_else(|| bad("date value out of range"))
    }

    pub(crate) fn minus_date(&self, other: &PyDate) -> Result<TimeDelta, Error> {
        (self.0 - other.0)
            .num_days()
            .checked_mul(86_400_000_000)
            .map(TimeDelta)
            .ok_or_else(|| bad("timedelta out of range"))
    }
}

impl fmt::Display for PyDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

impl Object for PyDate {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        Some(Value::from(match key.as_str()? {
            "year" => self.0.year(),
            "month" => self.0.month() as i32,
            "day" => self.0.day() as i32,
            _ => return None,
        }))
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "strftime" => {
                let (format,): (&str,) = from_args(args)?;
                let parts = Parts {
                    local: self.0.and_hms_opt(0, 0, 0).unwrap_or_default(),
                    offset: None,
                    abbreviation: None,
                    zone: None,
                };
                Ok(Value::from(strftime(&parts, format)))
            }
            "isoformat" | "to_date_string" => {
                let () = from_args(args)?;
                Ok(Value::from(self.to_string()))
            }
            "weekday" | "isoweekday" => {
                let () = from_args(args)?;
                let d = self.0.weekday().num_days_from_monday();
                Ok(Value::from(if method == "weekday" { d } else { d + 1 }))
            }
            "replace" => {
                let (kwargs,): (minijinja::value::Kwargs,) = from_args(args)?;
                let year: Option<i32> = kwargs.get("year")?;
                let month: Option<u32> = kwargs.get("month")?;
                let day: Option<u32> = kwargs.get("day")?;
                kwargs.assert_all_used()?;
                NaiveDate::from_ymd_opt(
                    year.unwrap_or(self.0.year()),
                    month.unwrap_or(self.0.month()),
                    day.unwrap_or(self.0.day()),
                )
                .filter(|d| (1..=9999).contains(&d.year()))
                .map(|d| Value::from_object(PyDate(d)))
                .ok_or_else(|| bad("day is out of range for month"))
            }
            _ => Err(unknown_method("date", method, METHODS)),
        }
    }

    fn custom_cmp(
        self: &Arc<Self>,
        other: &minijinja::value::DynObject,
    ) -> Option<std::cmp::Ordering> {
        other.downcast_ref::<PyDate>().map(|o| self.0.cmp(&o.0))
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}
