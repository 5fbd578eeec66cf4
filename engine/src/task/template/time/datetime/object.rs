//! A date-time as templates use it: its attributes and methods (pendulum's and Python's).

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use chrono::{Datelike, NaiveDate, NaiveTime, Timelike, Utc};
use chrono_tz::Tz;
use minijinja::value::{DynObject, Kwargs, Object, ObjectRepr, Value, from_args};
use minijinja::{Error, State};

use super::super::delta::unknown_method;
use super::super::format;
use super::super::zone::TzInfo;
use super::super::{Interval, PyDate, TimeDelta, bad};
use super::calendar::units;
use super::{Flavor, PyDateTime, as_datetime, in_range};

pub(crate) const METHODS: &[&str] = &[
    "add",
    "astimezone",
    "at",
    "ctime",
    "date",
    "diff",
    "diff_for_humans",
    "end_of",
    "first_of",
    "format",
    "in_timezone",
    "in_tz",
    "is_future",
    "is_leap_year",
    "is_past",
    "is_same_day",
    "isoformat",
    "isoweekday",
    "last_of",
    "naive",
    "on",
    "replace",
    "set",
    "start_of",
    "strftime",
    "subtract",
    "timestamp",
    "to_date_string",
    "to_datetime_string",
    "to_day_datetime_string",
    "to_formatted_date_string",
    "to_iso8601_string",
    "to_rfc3339_string",
    "to_time_string",
    "tzname",
    "utcoffset",
    "weekday",
];

/// The attributes of a date-time besides its [`super::FIELDS`].
pub(crate) const ATTRIBUTES: &[&str] = &[
    "fold",
    "tzinfo",
    "tz",
    "timezone",
    "timezone_name",
    "offset",
    "offset_hours",
    "int_timestamp",
    "float_timestamp",
    "day_of_week",
    "day_of_year",
    "week_of_year",
    "week_of_month",
    "days_in_month",
    "quarter",
];

impl Object for PyDateTime {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let t = self.local;
        let offset = self.offset();
        Some(match key.as_str()? {
            "year" => Value::from(t.year()),
            "month" => Value::from(t.month()),
            "day" => Value::from(t.day()),
            "hour" => Value::from(t.hour()),
            "minute" => Value::from(t.minute()),
            "second" => Value::from(t.second()),
            "microsecond" => Value::from(t.nanosecond() / 1000),
            "fold" => Value::from(0),
            "tzinfo" | "tz" | "timezone" => match self.tz {
                Some(tz) => Value::from_object(TzInfo(tz)),
                None => Value::from(()),
            },
            "timezone_name" => self.tz.map_or(Value::from(()), |tz| Value::from(tz.name())),
            "offset" => offset.map_or(Value::from(()), |o| Value::from(o.local_minus_utc())),
            "offset_hours" => offset.map_or(Value::from(()), |o| {
                Value::from(f64::from(o.local_minus_utc()) / 3600.0)
            }),
            "int_timestamp" => Value::from(self.instant().and_utc().timestamp()),
            "float_timestamp" => Value::from(self.timestamp()),
            "day_of_week" => Value::from(t.weekday().num_days_from_monday()),
            "day_of_year" => Value::from(t.ordinal()),
            "week_of_year" => Value::from(t.iso_week().week()),
            "week_of_month" => Value::from(
                (t.day()
                    + self
                        .start_of("month")
                        .ok()?
                        .local
                        .weekday()
                        .num_days_from_monday()
                    - 1)
                    / 7
                    + 1,
            ),
            "days_in_month" => Value::from(self.end_of("month").ok()?.local.day()),
            "quarter" => Value::from((t.month() - 1) / 3 + 1),
            _ => return None,
        })
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let obj = |d: PyDateTime| Ok(Value::from_object(d));
        let text = |s: String| Ok(Value::from(s));
        let p = || self.parts();
        match method {
            "strftime" => {
                let (f,): (&str,) = from_args(args)?;
                text(format::strftime(&p(), f))
            }
            "format" => {
                let (f,): (&str,) = from_args(args)?;
                text(format::pendulum(&p(), f))
            }
            "isoformat" => {
                let (sep,): (Option<&str>,) = from_args(args)?;
                let sep = sep.unwrap_or("T");
                if sep.chars().count() != 1 {
                    return Err(bad("isoformat() argument 1 must be a single character"));
                }
                text(self.isoformat(sep))
            }
            "timestamp" => {
                let () = from_args(args)?;
                Ok(Value::from(self.timestamp()))
            }
            "weekday" | "isoweekday" => {
                let () = from_args(args)?;
                let d = self.local.weekday().num_days_from_monday();
                Ok(Value::from(if method == "weekday" { d } else { d + 1 }))
            }
            "add" | "subtract" => {
                let (kwargs,): (Kwargs,) = from_args(args)?;
                let (m, d, us) = units(&kwargs)?;
                let s = if method == "add" { 1 } else { -1 };
                obj(self.shifted(s * m, s * d, s * us)?)
            }
            "start_of" | "end_of" => {
                let (unit,): (&str,) = from_args(args)?;
                obj(if method == "start_of" {
                    self.start_of(unit)?
                } else {
                    self.end_of(unit)?
                })
            }
            "first_of" | "last_of" => {
                let (unit, weekday): (&str, Option<i64>) = from_args(args)?;
                obj(self.edge_of(unit, method == "last_of", weekday)?)
            }
            "in_timezone" | "in_tz" | "astimezone" => {
                let (tz,): (Option<Value>,) = from_args(args)?;
                let tz = match tz {
                    Some(v) => TzInfo::of(&v)?,
                    None => Tz::UTC,
                };
                obj(self.in_zone(tz))
            }
            "to_date_string" => text(self.local.format("%Y-%m-%d").to_string()),
            "to_time_string" => text(self.local.format("%H:%M:%S").to_string()),
            "to_datetime_string" => text(self.local.format("%Y-%m-%d %H:%M:%S").to_string()),
            "to_day_datetime_string" => text(format::pendulum(&p(), "ddd, MMM D, YYYY h:mm A")),
            "to_formatted_date_string" => text(format::pendulum(&p(), "MMM D, YYYY")),
            "to_iso8601_string" => {
                let mut s = self.isoformat("T");
                if self.tz == Some(Tz::UTC) {
                    s.truncate(s.len() - "+00:00".len());
                    s.push('Z');
                }
                text(s)
            }
            "to_rfc3339_string" => text(self.isoformat("T")),
            "ctime" => text(self.local.format("%a %b %e %H:%M:%S %Y").to_string()),
            "date" => {
                let () = from_args(args)?;
                Ok(Value::from_object(PyDate(self.local.date())))
            }
            "naive" => {
                let () = from_args(args)?;
                obj(PyDateTime {
                    tz: None,
                    fold: false,
                    ..(**self).clone()
                })
            }
            "replace" | "set" => {
                let (kwargs,): (Kwargs,) = from_args(args)?;
                obj(self.replaced(&kwargs, if method == "set" { "tz" } else { "tzinfo" })?)
            }
            "at" => {
                let (h, m, s, us): (u32, Option<u32>, Option<u32>, Option<u32>) = from_args(args)?;
                let time = NaiveTime::from_hms_micro_opt(
                    h,
                    m.unwrap_or(0),
                    s.unwrap_or(0),
                    us.unwrap_or(0),
                )
                .ok_or_else(|| bad("time value out of range"))?;
                obj(self.with_local(in_range(self.local.date().and_time(time))?))
            }
            "on" => {
                let (y, m, d): (i32, u32, u32) = from_args(args)?;
                let date = NaiveDate::from_ymd_opt(y, m, d)
                    .ok_or_else(|| bad("day is out of range for month"))?;
                obj(self.with_local(in_range(date.and_time(self.local.time()))?))
            }
            "diff" => {
                let (other, kwargs): (Option<Value>, Kwargs) = from_args(args)?;
                let absolute = kwargs.get::<Option<bool>>("abs")?.unwrap_or(true);
                kwargs.assert_all_used()?;
                let other = match other {
                    Some(v) => as_datetime(&v)?.clone(),
                    None => PyDateTime::utc(Utc::now()),
                };
                self.micros_since(&other)?;
                let (start, end) = if absolute && self.instant() > other.instant() {
                    (other, (**self).clone())
                } else {
                    ((**self).clone(), other)
                };
                Ok(Value::from_object(Interval { start, end }))
            }
            "diff_for_humans" => {
                let (other, kwargs): (Option<Value>, Kwargs) = from_args(args)?;
                let absolute = kwargs.get::<Option<bool>>("absolute")?.unwrap_or(false);
                kwargs.assert_all_used()?;
                let other = other.filter(|v| !v.is_none());
                let other = other.as_ref().map(as_datetime).transpose()?;
                text(self.diff_for_humans(other, absolute)?)
            }
            "is_leap_year" => Ok(Value::from(
                NaiveDate::from_ymd_opt(self.local.year(), 2, 29).is_some(),
            )),
            "is_past" | "is_future" => {
                let now = Utc::now().naive_utc();
                Ok(Value::from((self.instant() < now) == (method == "is_past")))
            }
            "is_same_day" => {
                let (other,): (Value,) = from_args(args)?;
                Ok(Value::from(
                    as_datetime(&other)?.local.date() == self.local.date(),
                ))
            }
            "tzname" => Ok(p().abbreviation.map_or(Value::from(()), Value::from)),
            "utcoffset" => Ok(self.offset().map_or(Value::from(()), |o| {
                Value::from_object(TimeDelta(i64::from(o.local_minus_utc()) * 1_000_000))
            })),
            _ => Err(unknown_method(
                if self.flavor == Flavor::Pendulum {
                    "DateTime"
                } else {
                    "datetime"
                },
                method,
                METHODS,
            )),
        }
    }

    fn custom_cmp(self: &Arc<Self>, other: &DynObject) -> Option<Ordering> {
        let other = other.downcast_ref::<PyDateTime>()?;
        (self.is_aware() == other.is_aware()).then(|| self.instant().cmp(&other.instant()))
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}
