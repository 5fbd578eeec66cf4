//! Date-times: pendulum's `DateTime` (`logical_date` and the other dates of the context) and
//! Python's `datetime` (`macros.datetime(…)`), with their methods and printing.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use chrono::{
    DateTime, Datelike, Days, Duration, FixedOffset, Months, NaiveDate, NaiveDateTime, NaiveTime,
    Offset, TimeZone, Timelike, Utc,
};
use chrono_tz::{OffsetName, Tz};
use minijinja::value::{DynObject, Kwargs, Object, ObjectRepr, Value, from_args};
use minijinja::{Error, State};

use super::delta::{number, unknown_method};
use super::format::{self, Parts};
use super::zone::TzInfo;
use super::{Interval, PyDate, RelativeDelta, TimeDelta, bad, type_name};

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

fn out_of_range() -> Error {
    bad("date value out of range")
}

/// Python's years, 1 to 9999: every value made here stays in them (chrono's own limits,
/// far beyond, then never come near).
fn in_range(local: NaiveDateTime) -> Result<NaiveDateTime, Error> {
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

    /// Calendar months and days on the wall clock (the day clamped to the month's end, as
    /// pendulum does), then `micros` of elapsed time.
    fn shifted(&self, months: i64, days: i64, micros: i64) -> Result<PyDateTime, Error> {
        let date = self.local.date();
        let date = match months.cmp(&0) {
            Ordering::Equal => Some(date),
            Ordering::Greater => date.checked_add_months(Months::new(
                u32::try_from(months).map_err(|_| out_of_range())?,
            )),
            Ordering::Less => date.checked_sub_months(Months::new(
                u32::try_from(-months).map_err(|_| out_of_range())?,
            )),
        }
        .and_then(|d| match days.cmp(&0) {
            Ordering::Equal => Some(d),
            Ordering::Greater => d.checked_add_days(Days::new(days.unsigned_abs())),
            Ordering::Less => d.checked_sub_days(Days::new(days.unsigned_abs())),
        })
        .ok_or_else(out_of_range)?;
        let moved = self.with_local(in_range(date.and_time(self.local.time()))?);
        if micros == 0 {
            return Ok(moved);
        }
        let delta = Duration::microseconds(micros);
        let shifted = match (self.flavor, moved.tz) {
            (Flavor::Pendulum, Some(tz)) => moved
                .instant()
                .checked_add_signed(delta)
                .filter(|utc| (2..=9998).contains(&utc.year()))
                .map(|utc| PyDateTime::from_instant(utc, Some(tz), self.flavor))
                .ok_or_else(out_of_range)?,
            _ => moved
                .local
                .checked_add_signed(delta)
                .map(|l| moved.with_local(l))
                .ok_or_else(out_of_range)?,
        };
        in_range(shifted.local)?;
        Ok(shifted)
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

    /// dateutil's first step of adding `r`: its absolute fields, then its months.
    fn with_absolute(&self, r: &RelativeDelta) -> Result<PyDateTime, Error> {
        let t = self.local;
        let [year, month, day, hour, minute, second, micro] = r.absolute;
        let field = |v: Option<i64>, have: u32| u32::try_from(v.unwrap_or(i64::from(have)));
        let bad_field = |_| bad("a relativedelta field is out of range");
        let year = year.unwrap_or(i64::from(t.year()));
        let month = month.unwrap_or(i64::from(t.month()));
        let total = year
            .checked_mul(12)
            .and_then(|y| y.checked_add(month - 1))
            .and_then(|m| m.checked_add(r.months))
            .ok_or_else(out_of_range)?;
        let (y, m) = (total.div_euclid(12), total.rem_euclid(12) + 1);
        let y = i32::try_from(y).map_err(|_| out_of_range())?;
        let m = u32::try_from(m).map_err(|_| out_of_range())?;
        let first = NaiveDate::from_ymd_opt(y, m, 1).ok_or_else(out_of_range)?;
        let last = first
            .checked_add_months(Months::new(1))
            .and_then(|n| n.pred_opt())
            .map_or(28, |d| d.day());
        let d = field(day, t.day()).map_err(bad_field)?.clamp(1, last);
        let date = NaiveDate::from_ymd_opt(y, m, d).ok_or_else(out_of_range)?;
        let time = NaiveTime::from_hms_micro_opt(
            field(hour, t.hour()).map_err(bad_field)?,
            field(minute, t.minute()).map_err(bad_field)?,
            field(second, t.second()).map_err(bad_field)?,
            field(micro, t.nanosecond() / 1000).map_err(bad_field)?,
        )
        .ok_or_else(|| bad("time value out of range"))?;
        Ok(self.with_local(in_range(date.and_time(time))?))
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

    fn start_of(&self, unit: &str) -> Result<PyDateTime, Error> {
        let t = self.local;
        let midnight = |d: NaiveDate| d.and_time(NaiveTime::MIN);
        let ymd =
            |y: i32, m: u32, d: u32| NaiveDate::from_ymd_opt(y, m, d).ok_or_else(out_of_range);
        let local = match unit {
            "second" => t.with_nanosecond(0).ok_or_else(out_of_range)?,
            "minute" => t
                .date()
                .and_hms_opt(t.hour(), t.minute(), 0)
                .ok_or_else(out_of_range)?,
            "hour" => t
                .date()
                .and_hms_opt(t.hour(), 0, 0)
                .ok_or_else(out_of_range)?,
            "day" => midnight(t.date()),
            "week" => midnight(
                t.date()
                    .checked_sub_days(Days::new(u64::from(t.weekday().num_days_from_monday())))
                    .ok_or_else(out_of_range)?,
            ),
            "month" => midnight(ymd(t.year(), t.month(), 1)?),
            "quarter" => midnight(ymd(t.year(), (t.month() - 1) / 3 * 3 + 1, 1)?),
            "year" => midnight(ymd(t.year(), 1, 1)?),
            "decade" => midnight(ymd(t.year() - t.year().rem_euclid(10), 1, 1)?),
            "century" => midnight(ymd(
                t.year() - 1 - (t.year() - 1).rem_euclid(100) + 1,
                1,
                1,
            )?),
            other => return Err(bad_unit(other)),
        };
        Ok(self.with_local(local))
    }

    fn end_of(&self, unit: &str) -> Result<PyDateTime, Error> {
        let start = self.start_of(unit)?;
        let next = match unit {
            "second" => start.shifted(0, 0, 1_000_000)?,
            "minute" => start.shifted(0, 0, 60_000_000)?,
            "hour" => start.shifted(0, 0, 3_600_000_000)?,
            "day" => start.shifted(0, 1, 0)?,
            "week" => start.shifted(0, 7, 0)?,
            "month" => start.shifted(1, 0, 0)?,
            "quarter" => start.shifted(3, 0, 0)?,
            "year" => start.shifted(12, 0, 0)?,
            "decade" => start.shifted(120, 0, 0)?,
            _ => start.shifted(1200, 0, 0)?,
        };
        Ok(self.with_local(next.local - Duration::microseconds(1)))
    }

    /// pendulum's `first_of` / `last_of`: the first or last day of the period at midnight,
    /// or its first or last given weekday (0 = Monday).
    fn edge_of(&self, unit: &str, last: bool, weekday: Option<i64>) -> Result<PyDateTime, Error> {
        if !matches!(unit, "month" | "quarter" | "year") {
            return Err(bad(format!(
                "`{unit}` is not a period for first_of/last_of (month, quarter, year)"
            )));
        }
        let edge = if last {
            self.end_of(unit)?.start_of("day")?
        } else {
            self.start_of(unit)?
        };
        let Some(wd) = weekday else { return Ok(edge) };
        let have = i64::from(edge.local.weekday().num_days_from_monday());
        let days = if last {
            -(have - wd).rem_euclid(7)
        } else {
            (wd - have).rem_euclid(7)
        };
        edge.shifted(0, days, 0)
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

    /// pendulum's `diff_for_humans(other)`: "2 weeks after", "1 day before".
    pub(crate) fn diff_for_humans(
        &self,
        other: Option<&PyDateTime>,
        absolute: bool,
    ) -> Result<String, Error> {
        let is_now = other.is_none();
        let now;
        let other = match other {
            Some(o) => o,
            None => {
                now = PyDateTime::utc(Utc::now());
                &now
            }
        };
        let micros = self.micros_since(other)?;
        let after = micros > 0;
        let (early, late) = if micros >= 0 {
            (other, self)
        } else {
            (self, other)
        };
        // pendulum's precise difference: whole months on the calendar, then the rest.
        let months_total = span_months(early, late);
        let anchor = early.shifted(months_total, 0, 0)?;
        let rest = u64::try_from(late.micros_since(&anchor)?).unwrap_or(0) / 1_000_000;
        let (years, months) = (months_total / 12, months_total % 12);
        let days_total = rest / 86_400;
        let (weeks, days) = (days_total / 7, days_total % 7);
        let (hours, minutes, seconds) = (rest / 3600 % 24, rest / 60 % 60, rest % 60);
        let (years, months) = (years as u64, months as u64);
        let (unit, mut count) = if years > 0 {
            ("year", years + u64::from(months > 6))
        } else if months == 11 && days_total > 15 {
            ("year", 1)
        } else if months > 0 {
            ("month", months + u64::from(days_total >= 27))
        } else if weeks > 0 {
            ("week", weeks + u64::from(days > 3))
        } else if days > 0 {
            ("day", days + u64::from(hours >= 22))
        } else if hours > 0 {
            ("hour", hours)
        } else if minutes > 0 {
            ("minute", minutes)
        } else if (11..=59).contains(&seconds) {
            ("second", seconds)
        } else {
            ("", 0)
        };
        let words = if unit.is_empty() {
            "a few seconds".to_string()
        } else {
            count = count.max(1);
            format!("{count} {unit}{}", if count == 1 { "" } else { "s" })
        };
        Ok(match (absolute, is_now, after) {
            (true, ..) => words,
            (false, true, true) => format!("in {words}"),
            (false, true, false) => format!("{words} ago"),
            (false, false, true) => format!("{words} after"),
            (false, false, false) => format!("{words} before"),
        })
    }
}

/// Whole calendar months from `early` to `late` (pendulum's precise difference).
pub(crate) fn span_months(early: &PyDateTime, late: &PyDateTime) -> i64 {
    let (lo, hi) = (early.local(), late.local());
    let mut m =
        i64::from(hi.year() - lo.year()) * 12 + i64::from(hi.month()) - i64::from(lo.month());
    if (hi.day(), hi.time()) < (lo.day(), lo.time()) {
        m -= 1;
    }
    m.max(0)
}

fn bad_unit(unit: &str) -> Error {
    bad(format!(
        "`{unit}` is not a unit (second, minute, hour, day, week, month, quarter, year, decade, century)"
    ))
}

/// The units of `add` / `subtract`: (months, days, microseconds). Each is bounded (no
/// date moves by ten million years) so that no sum overflows; fractions of a day or more
/// are not calendar units and count as elapsed time, as pendulum counts them.
fn units(kwargs: &Kwargs) -> Result<(i64, i64, i64), Error> {
    let get = |name: &str| -> Result<f64, Error> {
        let v = kwargs
            .get::<Option<Value>>(name)?
            .map_or(Ok(0.0), |v| number(&v, name))?;
        if !v.is_finite() || v.abs() > 1e7 {
            return Err(bad(format!("`{name}={v}` is out of range")));
        }
        Ok(v)
    };
    let months = get("years")? as i64 * 12 + get("months")? as i64;
    let days = get("weeks")? * 7.0 + get("days")?;
    let micros = (days.fract() * 8.64e10
        + get("hours")? * 3.6e9
        + get("minutes")? * 6e7
        + get("seconds")? * 1e6
        + get("microseconds")?)
    .round();
    kwargs.assert_all_used()?;
    Ok((months, days.trunc() as i64, micros as i64))
}

impl fmt::Display for PyDateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.isoformat(" "))
    }
}

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

/// A date-time argument.
pub(crate) fn as_datetime(v: &Value) -> Result<&PyDateTime, Error> {
    v.downcast_object_ref::<PyDateTime>()
        .ok_or_else(|| bad(format!("expected a datetime, got {} `{v}`", type_name(v))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ld() -> PyDateTime {
        PyDateTime::utc(Utc.with_ymd_and_hms(2026, 3, 15, 0, 0, 0).unwrap())
    }

    #[test]
    fn prints_and_moves_as_pendulum_does() {
        // Expected outputs are Airflow 3.3.2's (pendulum 3.3.0).
        let d = ld();
        assert_eq!(d.to_string(), "2026-03-15 00:00:00+00:00");
        assert_eq!(
            d.end_of("month").unwrap().to_string(),
            "2026-03-31 23:59:59.999999+00:00"
        );
        assert_eq!(
            d.start_of("week").unwrap().to_string(),
            "2026-03-09 00:00:00+00:00"
        );
        assert_eq!(
            d.in_zone("Europe/Paris".parse().unwrap()).to_string(),
            "2026-03-15 01:00:00+01:00"
        );
        assert_eq!(
            d.shifted(1, 0, 0).unwrap().local.date().to_string(),
            "2026-04-15"
        );
        assert_eq!(
            d.shifted(0, 0, -3 * 3_600_000_000).unwrap().to_string(),
            "2026-03-14 21:00:00+00:00"
        );
        // The repeated hour of New York's autumn: 06:30 UTC is the second 01:30.
        let fall = PyDateTime::utc(Utc.with_ymd_and_hms(2026, 11, 1, 6, 30, 0).unwrap())
            .in_zone("America/New_York".parse().unwrap());
        assert_eq!(fall.to_string(), "2026-11-01 01:30:00-05:00");
        assert_eq!(fall.instant().to_string(), "2026-11-01 06:30:00");
        // A wall-clock time in Paris's spring gap moves forward, as pendulum moves it.
        let paris = d.in_zone("Europe/Paris".parse().unwrap());
        let gap = paris.with_local(
            NaiveDate::from_ymd_opt(2026, 3, 29)
                .unwrap()
                .and_hms_opt(2, 30, 0)
                .unwrap(),
        );
        assert_eq!(gap.to_string(), "2026-03-29 03:30:00+02:00");
        let later = d.shifted(0, 14, 0).unwrap();
        assert_eq!(
            later.diff_for_humans(Some(&d), false).unwrap(),
            "2 weeks after"
        );
        let h36 = d.shifted(0, 0, 36 * 3_600_000_000).unwrap();
        assert_eq!(
            d.diff_for_humans(Some(&h36), false).unwrap(),
            "1 day before"
        );
        assert_eq!(d.edge_of("month", true, None).unwrap().local.day(), 31);
    }
}
