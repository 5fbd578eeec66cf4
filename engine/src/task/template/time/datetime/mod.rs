//! Date-times: pendulum's `DateTime` (`logical_date` and the other dates of the context) and
//! Python's `datetime` (`macros.datetime(…)`), with their methods and printing.

use std::fmt;

use chrono::{
    DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Offset,
    TimeZone, Timelike, Utc,
};
use chrono_tz::{OffsetName, Tz};
use minijinja::Error;
use minijinja::value::{Kwargs, Value};

use super::format::{self, Parts};
use super::zone::TzInfo;
use super::{Interval, RelativeDelta, TimeDelta, bad, type_name};

mod calendar;
mod humanize;
mod object;
#[cfg(test)]
mod tests;

pub(crate) use humanize::span_months;
pub(crate) use object::{ATTRIBUTES, METHODS};

/// Whose date-time this is: pendulum's (aware, with `add`, `in_timezone` …) or Python's
/// own `datetime`. Both print alike; they differ in what subtracting two of them gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// pendulum's `DateTime`.
    Pendulum,
    /// Python's `datetime.datetime`.
    Python,
}

/// A date-time: the wall-clock time, and the zone when aware.
#[derive(Debug, Clone)]
pub(crate) struct PyDateTime {
    local: NaiveDateTime,
    tz: Option<Tz>,
    flavor: Flavor,
    /// Python's `fold`: in a repeated hour (clocks set back), the second of the two
    /// instants with this wall-clock time.
    fold: bool,
}

fn offset_at(tz: Tz, local: NaiveDateTime, fold: bool) -> FixedOffset {
    match tz.offset_from_local_datetime(&local) {
        chrono::LocalResult::Single(o) => o.fix(),
        chrono::LocalResult::Ambiguous(first, second) => {
            if fold {
                second.fix()
            } else {
                first.fix()
            }
        }
        chrono::LocalResult::None => tz.offset_from_utc_datetime(&local).fix(),
    }
}

/// A wall-clock time made by arithmetic or `replace`, settled as its flavor settles it:
/// pendulum moves a time in a gap (clocks set forward) forward by the gap and takes the
/// later instant of a repeated hour (fold 1); Python's datetime keeps it, fold 0.
fn settle(local: NaiveDateTime, tz: Option<Tz>, flavor: Flavor) -> (NaiveDateTime, bool) {
    let (Some(tz), Flavor::Pendulum) = (tz, flavor) else {
        return (local, false);
    };
    match tz.offset_from_local_datetime(&local) {
        chrono::LocalResult::Single(_) => (local, false),
        chrono::LocalResult::Ambiguous(..) => (local, true),
        chrono::LocalResult::None => {
            let around = |hours| {
                local
                    .checked_add_signed(Duration::hours(hours))
                    .map(|t| tz.offset_from_utc_datetime(&t).fix().local_minus_utc())
            };
            match (around(-24), around(24)) {
                (Some(before), Some(after)) => {
                    (local + Duration::seconds(i64::from(after - before)), false)
                }
                _ => (local, false),
            }
        }
    }
}

pub(super) fn out_of_range() -> Error {
    bad("date value out of range")
}

/// Python's years, 1 to 9999: every value made here stays in them (chrono's own limits,
/// far beyond, then never come near).
pub(super) fn in_range(local: NaiveDateTime) -> Result<NaiveDateTime, Error> {
    if (1..=9999).contains(&local.year()) {
        Ok(local)
    } else {
        Err(bad(format!(
            "year {} is out of range (1 to 9999)",
            local.year()
        )))
    }
}

impl PyDateTime {
    /// A pendulum date-time in UTC (what Airflow's context holds).
    pub(crate) fn utc(t: DateTime<Utc>) -> PyDateTime {
        PyDateTime {
            local: t.naive_utc(),
            tz: Some(Tz::UTC),
            flavor: Flavor::Pendulum,
            fold: false,
        }
    }

    /// A date-time from its wall-clock time, aware when `tz` is given.
    ///
    /// # Errors
    /// A year outside 1 to 9999, as Python has it.
    pub(crate) fn new(
        local: NaiveDateTime,
        tz: Option<Tz>,
        flavor: Flavor,
    ) -> Result<PyDateTime, Error> {
        let (local, fold) = settle(in_range(local)?, tz, flavor);
        Ok(PyDateTime {
            local: in_range(local)?,
            tz,
            flavor,
            fold,
        })
    }

    pub(crate) fn local(&self) -> NaiveDateTime {
        self.local
    }

    pub(crate) fn tz(&self) -> Option<Tz> {
        self.tz
    }

    /// Python's `strftime`.
    pub(crate) fn strftime(&self, format: &str) -> String {
        format::strftime(&self.parts(), format)
    }

    pub(crate) fn is_aware(&self) -> bool {
        self.tz.is_some()
    }

    fn offset(&self) -> Option<FixedOffset> {
        self.tz.map(|tz| offset_at(tz, self.local, self.fold))
    }

    /// The instant in UTC (a naive value is taken as UTC).
    pub(crate) fn instant(&self) -> NaiveDateTime {
        match self.offset() {
            Some(o) => self.local - Duration::seconds(i64::from(o.local_minus_utc())),
            None => self.local,
        }
    }

    fn from_instant(utc: NaiveDateTime, tz: Option<Tz>, flavor: Flavor) -> PyDateTime {
        let Some(tz) = tz else {
            return PyDateTime {
                local: utc,
                tz,
                flavor,
                fold: false,
            };
        };
        let at = tz.from_utc_datetime(&utc);
        let local = at.naive_local();
        // The second of a repeated hour's two instants has fold 1.
        let fold = matches!(
            tz.offset_from_local_datetime(&local),
            chrono::LocalResult::Ambiguous(_, second)
                if second.fix() == at.offset().fix()
        );
        PyDateTime {
            local,
            tz: Some(tz),
            flavor,
            fold,
        }
    }

    fn with_local(&self, local: NaiveDateTime) -> PyDateTime {
        let (local, fold) = settle(local, self.tz, self.flavor);
        PyDateTime {
            local,
            fold,
            ..self.clone()
        }
    }

    fn parts(&self) -> Parts<'static> {
        Parts {
            local: self.local,
            offset: self.offset(),
            abbreviation: self.tz.map(|tz| {
                tz.offset_from_utc_datetime(&self.instant())
                    .abbreviation()
                    .map_or_else(
                        || format::offset_abbreviation(self.offset().unwrap_or(Utc.fix())),
                        str::to_string,
                    )
            }),
            zone: self.tz.map(|tz| tz.name()),
        }
    }

    /// Microseconds from `other` to `self`; both aware or both naive, as Python requires.
    pub(crate) fn micros_since(&self, other: &PyDateTime) -> Result<i64, Error> {
        if self.is_aware() != other.is_aware() {
            return Err(bad(
                "can't subtract offset-naive and offset-aware datetimes",
            ));
        }
        (self.instant() - other.instant())
            .num_microseconds()
            .ok_or_else(out_of_range)
    }

    /// `self ± other` for a `timedelta`, an `Interval` or a `relativedelta`.
    pub(crate) fn plus(&self, other: &Value, sign: i64) -> Result<Value, Error> {
        if let Some(d) = TimeDelta::of(other) {
            // pendulum adds a timedelta as elapsed seconds, Python's datetime on the wall
            // clock: `shifted` does each by flavor.
            let d = if sign < 0 { d.negated() } else { d };
            return Ok(Value::from_object(self.shifted(0, 0, d.0)?));
        }
        if let Some(r) = other.downcast_object_ref::<RelativeDelta>() {
            // dateutil: the absolute fields replace, the months move on the calendar (the day
            // kept within the month), then the rest is a timedelta.
            let r = r.scaled(sign);
            let rest = r
                .days
                .checked_mul(86_400_000_000)
                .and_then(|d| d.checked_add(r.micros))
                .ok_or_else(out_of_range)?;
            let months = self.with_absolute(&r)?;
            return Ok(Value::from_object(months.shifted(0, 0, rest)?));
        }
        Err(bad(format!(
            "unsupported operand types for {}: 'datetime' and '{}'",
            if sign > 0 { "+" } else { "-" },
            type_name(other)
        )))
    }

    /// `self - other`: pendulum gives an `Interval`, Python a `timedelta`.
    pub(crate) fn minus_datetime(&self, other: &PyDateTime) -> Result<Value, Error> {
        let micros = self.micros_since(other)?;
        Ok(match self.flavor {
            Flavor::Pendulum => Value::from_object(Interval {
                start: other.clone(),
                end: self.clone(),
            }),
            Flavor::Python => Value::from_object(TimeDelta(micros)),
        })
    }

    fn replaced(&self, kwargs: &Kwargs, tz_key: &str) -> Result<PyDateTime, Error> {
        let t = self.local;
        let int = |name: &str, have: u32| -> Result<u32, Error> {
            Ok(kwargs.get::<Option<u32>>(name)?.unwrap_or(have))
        };
        let year: i32 = kwargs.get::<Option<i32>>("year")?.unwrap_or(t.year());
        let date = NaiveDate::from_ymd_opt(year, int("month", t.month())?, int("day", t.day())?)
            .ok_or_else(|| bad("day is out of range for month"))?;
        let micros = int("microsecond", t.nanosecond() / 1000)?;
        let time = NaiveTime::from_hms_micro_opt(
            int("hour", t.hour())?,
            int("minute", t.minute())?,
            int("second", t.second())?,
            micros,
        )
        .ok_or_else(|| bad("time value out of range"))?;
        // `tzinfo=None` makes the value naive; no `tzinfo` keeps the zone.
        let tz = if kwargs.has(tz_key) {
            let v: Value = kwargs.get(tz_key)?;
            if v.is_none() {
                None
            } else {
                Some(TzInfo::of(&v)?)
            }
        } else {
            self.tz
        };
        kwargs.assert_all_used()?;
        PyDateTime::new(date.and_time(time), tz, self.flavor)
    }

    fn in_zone(&self, tz: Tz) -> PyDateTime {
        PyDateTime::from_instant(self.instant(), Some(tz), Flavor::Pendulum)
    }

    fn timestamp(&self) -> f64 {
        let i = self.instant().and_utc();
        i.timestamp() as f64 + f64::from(i.timestamp_subsec_micros()) / 1e6
    }

    /// Python's `isoformat()`: `2026-03-15T00:00:00+00:00`.
    pub(crate) fn isoformat_t(&self) -> String {
        self.isoformat("T")
    }

    fn isoformat(&self, sep: &str) -> String {
        let mut s = format!(
            "{}{sep}{}",
            self.local.format("%Y-%m-%d"),
            self.local.format("%H:%M:%S")
        );
        if self.local.nanosecond() / 1000 != 0 {
            s.push_str(&format!(".{:06}", self.local.nanosecond() / 1000));
        }
        if let Some(o) = self.offset() {
            s.push_str(&format::offset_colon(o));
        }
        s
    }
}

impl fmt::Display for PyDateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.isoformat(" "))
    }
}

/// A date-time argument.
pub(crate) fn as_datetime(v: &Value) -> Result<&PyDateTime, Error> {
    v.downcast_object_ref::<PyDateTime>()
        .ok_or_else(|| bad(format!("expected a datetime, got {} `{v}`", type_name(v))))
}
