//! Moving a date-time on the calendar: months and days on the wall clock (pendulum's `add`,
//! dateutil's `relativedelta`), the edges of periods (`start_of`, `end_of`, `first_of`,
//! `last_of`) and the units `add`/`subtract` take.

use std::cmp::Ordering;

use chrono::{Datelike, Days, Duration, Months, NaiveDate, NaiveTime, Timelike};
use minijinja::Error;
use minijinja::value::{Kwargs, Value};

use super::super::delta::number;
use super::super::{RelativeDelta, bad};
use super::{Flavor, PyDateTime, in_range, out_of_range};

impl PyDateTime {
    /// Calendar months and days on the wall clock (the day clamped to the month's end, as
    /// pendulum does), then `micros` of elapsed time.
    pub(super) fn shifted(&self, months: i64, days: i64, micros: i64) -> Result<PyDateTime, Error> {
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

    /// dateutil's first step of adding `r`: its absolute fields, then its months.
    pub(super) fn with_absolute(&self, r: &RelativeDelta) -> Result<PyDateTime, Error> {
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

    pub(super) fn start_of(&self, unit: &str) -> Result<PyDateTime, Error> {
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

    pub(super) fn end_of(&self, unit: &str) -> Result<PyDateTime, Error> {
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
    pub(super) fn edge_of(
        &self,
        unit: &str,
        last: bool,
        weekday: Option<i64>,
    ) -> Result<PyDateTime, Error> {
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
}

fn bad_unit(unit: &str) -> Error {
    bad(format!(
        "`{unit}` is not a unit (second, minute, hour, day, week, month, quarter, year, decade, century)"
    ))
}

/// The units of `add` / `subtract`: (months, days, microseconds). Each is bounded (no
/// date moves by ten million years) so that no sum overflows; fractions of a day or more
/// are not calendar units and count as elapsed time, as pendulum counts them.
pub(super) fn units(kwargs: &Kwargs) -> Result<(i64, i64, i64), Error> {
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
