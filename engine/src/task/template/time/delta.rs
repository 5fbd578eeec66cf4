//! Durations: Python's `timedelta`, pendulum's `Interval` (what subtracting two date-times
//! gives) and dateutil's `relativedelta`.

use std::fmt;
use std::sync::Arc;

use minijinja::value::{Kwargs, Object, ObjectRepr, Value, ValueKind, from_args};
use minijinja::{Error, State};

use super::{PyDateTime, bad};

const US_PER_SEC: i64 = 1_000_000;
const US_PER_DAY: i64 = 86_400 * US_PER_SEC;

/// Python's `timedelta`, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct TimeDelta(pub(crate) i64);

impl TimeDelta {
    /// `macros.timedelta(days=1, hours=6)`, with Python's arguments (positional: days,
    /// seconds, microseconds, milliseconds, minutes, hours, weeks).
    pub(crate) fn construct(args: &[Value]) -> Result<TimeDelta, Error> {
        const NAMES: [(&str, f64); 7] = [
            ("days", US_PER_DAY as f64),
            ("seconds", US_PER_SEC as f64),
            ("microseconds", 1.0),
            ("milliseconds", 1_000.0),
            ("minutes", 60.0 * US_PER_SEC as f64),
            ("hours", 3_600.0 * US_PER_SEC as f64),
            ("weeks", 7.0 * US_PER_DAY as f64),
        ];
        let (positional, kwargs): (&[Value], Kwargs) = from_args(args)?;
        if positional.len() > NAMES.len() {
            return Err(bad("timedelta() takes at most 7 arguments"));
        }
        let mut total = 0f64;
        for (i, (name, scale)) in NAMES.iter().enumerate() {
            let v = match positional.get(i) {
                Some(v) => Some(v.clone()),
                None => kwargs.get::<Option<Value>>(name)?,
            };
            if let Some(v) = v {
                total += number(&v, name)? * scale;
            }
        }
        kwargs.assert_all_used()?;
        if !total.is_finite() || total.abs() > 999_999_999.0 * US_PER_DAY as f64 {
            return Err(bad("timedelta out of range"));
        }
        Ok(TimeDelta(total.round() as i64))
    }

    /// The duration of a `timedelta` or an `Interval`.
    pub(crate) fn of(v: &Value) -> Option<TimeDelta> {
        v.downcast_object_ref::<TimeDelta>().copied().or_else(|| {
            v.downcast_object_ref::<Interval>()
                .and_then(|i| i.duration().ok())
        })
    }

    /// This duration times `n`, an integer or a float (microseconds rounded half to even, as
    /// Python's `timedelta * float`).
    pub(crate) fn times(self, n: &Value) -> Result<TimeDelta, Error> {
        let out_of_range = || bad("timedelta out of range");
        if !matches!(n.kind(), ValueKind::Number | ValueKind::Bool) {
            return Err(bad(format!(
                "unsupported operand type(s) for *: 'datetime.timedelta' and '{}'",
                super::type_name(n)
            )));
        }
        if let Some(i) = n.as_i64() {
            return self
                .0
                .checked_mul(i)
                .map(TimeDelta)
                .ok_or_else(out_of_range);
        }
        let f = f64::try_from(n.clone()).map_err(|_| out_of_range())?;
        let micros = self.0 as f64 * f;
        if !micros.is_finite() || micros.abs() >= i64::MAX as f64 {
            return Err(out_of_range());
        }
        Ok(TimeDelta(micros.round_ties_even() as i64))
    }

    pub(crate) fn negated(self) -> TimeDelta {
        TimeDelta(-self.0)
    }

    pub(crate) fn checked_add(self, other: TimeDelta) -> Result<TimeDelta, Error> {
        self.0
            .checked_add(other.0)
            .map(TimeDelta)
            .ok_or_else(|| bad("timedelta out of range"))
    }

    /// Whole days (floored, as Python's `.days`), then seconds and microseconds within the day.
    pub(crate) fn parts(self) -> (i64, i64, i64) {
        let days = self.0.div_euclid(US_PER_DAY);
        let rest = self.0.rem_euclid(US_PER_DAY);
        (days, rest / US_PER_SEC, rest % US_PER_SEC)
    }

    pub(crate) fn total_seconds(self) -> f64 {
        self.0 as f64 / US_PER_SEC as f64
    }
}

/// A number argument of a date function.
pub(crate) fn number(v: &Value, name: &str) -> Result<f64, Error> {
    f64::try_from(v.clone()).map_err(|_| bad(format!("`{name}` must be a number, not `{v}`")))
}

impl fmt::Display for TimeDelta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (days, secs, micros) = self.parts();
        if days != 0 {
            let s = if days.abs() == 1 { "" } else { "s" };
            write!(f, "{days} day{s}, ")?;
        }
        write!(f, "{}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)?;
        if micros != 0 {
            write!(f, ".{micros:06}")?;
        }
        Ok(())
    }
}

impl Object for TimeDelta {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let (days, secs, micros) = self.parts();
        Some(match key.as_str()? {
            "days" => Value::from(days),
            "seconds" => Value::from(secs),
            "microseconds" => Value::from(micros),
            _ => return None,
        })
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let () = from_args(args)?;
        match method {
            "total_seconds" => Ok(Value::from(self.total_seconds())),
            _ => Err(unknown_method("timedelta", method, &["total_seconds"])),
        }
    }

    fn custom_cmp(
        self: &Arc<Self>,
        other: &minijinja::value::DynObject,
    ) -> Option<std::cmp::Ordering> {
        other.downcast_ref::<TimeDelta>().map(|o| self.0.cmp(&o.0))
    }

    fn is_true(self: &Arc<Self>) -> bool {
        self.0 != 0
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

/// The error for a method a value does not have, naming the ones it has.
pub(crate) fn unknown_method(type_name: &str, method: &str, known: &[&str]) -> Error {
    let hint = crate::spec::suggest::closest(method, known.iter().copied())
        .map(|c| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default();
    Error::new(
        minijinja::ErrorKind::UnknownMethod,
        format!("{type_name} has no method named {method}{hint}"),
    )
}

/// The methods of an `Interval`.
pub(crate) const INTERVAL_METHODS: &[&str] = &[
    "total_seconds",
    "total_minutes",
    "total_hours",
    "total_days",
    "in_seconds",
    "in_minutes",
    "in_hours",
    "in_days",
    "in_weeks",
    "in_months",
    "in_years",
];

/// pendulum's `Interval`: the time between two date-times (`end - start`).
#[derive(Debug, Clone)]
pub(crate) struct Interval {
    pub(crate) start: PyDateTime,
    pub(crate) end: PyDateTime,
}

impl Interval {
    pub(crate) fn duration(&self) -> Result<TimeDelta, Error> {
        self.end.micros_since(&self.start).map(TimeDelta)
    }

    fn months(&self) -> i64 {
        if self.end.instant() >= self.start.instant() {
            super::datetime::span_months(&self.start, &self.end)
        } else {
            -super::datetime::span_months(&self.end, &self.start)
        }
    }
}

impl Object for Interval {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let d = self.duration().ok()?;
        let (days, secs, micros) = d.parts();
        Some(match key.as_str()? {
            "days" => Value::from(days),
            "seconds" => Value::from(secs),
            "microseconds" => Value::from(micros),
            "start" => Value::from_object(self.start.clone()),
            "end" => Value::from_object(self.end.clone()),
            "years" => Value::from(self.months() / 12),
            "months" => Value::from(self.months() % 12),
            "weeks" => Value::from(d.0 / (7 * US_PER_DAY)),
            "hours" => Value::from(secs / 3600),
            "minutes" => Value::from(secs / 60 % 60),
            "remaining_days" => Value::from(d.0 / US_PER_DAY % 7),
            _ => return None,
        })
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let () = from_args(args)?;
        let us = self.duration()?.0;
        let whole = |unit: i64| Value::from(us / unit);
        Ok(match method {
            "total_seconds" => Value::from(us as f64 / US_PER_SEC as f64),
            "total_minutes" => Value::from(us as f64 / (60 * US_PER_SEC) as f64),
            "total_hours" => Value::from(us as f64 / (3_600 * US_PER_SEC) as f64),
            "total_days" => Value::from(us as f64 / US_PER_DAY as f64),
            "in_seconds" => whole(US_PER_SEC),
            "in_minutes" => whole(60 * US_PER_SEC),
            "in_hours" => whole(3_600 * US_PER_SEC),
            "in_days" => whole(US_PER_DAY),
            "in_weeks" => whole(7 * US_PER_DAY),
            "in_months" => Value::from(self.months()),
            "in_years" => Value::from(self.months() / 12),
            _ => return Err(unknown_method("Interval", method, INTERVAL_METHODS)),
        })
    }

    fn is_true(self: &Arc<Self>) -> bool {
        self.duration().is_ok_and(|d| d.0 != 0)
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<Interval [{} -> {}]>", self.start, self.end)
    }
}

/// dateutil's `relativedelta`: absolute fields (`day=1` …) replace, then the relative ones
/// move (calendar months and years, then days and time).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RelativeDelta {
    pub(crate) months: i64,
    pub(crate) days: i64,
    pub(crate) micros: i64,
    /// `year`, `month`, `day`, `hour`, `minute`, `second`, `microsecond` when given.
    pub(crate) absolute: [Option<i64>; 7],
}

impl RelativeDelta {
    /// `macros.dateutil.relativedelta.relativedelta(months=-1, days=2)`.
    pub(crate) fn construct(args: &[Value]) -> Result<RelativeDelta, Error> {
        let (kwargs,): (Kwargs,) = from_args(args)?;
        // Bounded (no field past ten million) so that no sum overflows.
        let int = |name: &str| -> Result<i64, Error> {
            let v = kwargs
                .get::<Option<Value>>(name)?
                .map(|v| number(&v, name))
                .transpose()?
                .unwrap_or(0.0);
            if !v.is_finite() || v.abs() > 1e7 {
                return Err(bad(format!("`{name}={v}` is out of range")));
            }
            Ok(v as i64)
        };
        let months = int("years")? * 12 + int("months")?;
        let days = int("weeks")? * 7 + int("days")?;
        let micros = int("hours")? * 3_600 * US_PER_SEC
            + int("minutes")? * 60 * US_PER_SEC
            + int("seconds")? * US_PER_SEC
            + int("microseconds")?;
        let mut absolute = [None; 7];
        for (slot, name) in absolute.iter_mut().zip(super::FIELDS) {
            if kwargs.has(name) {
                *slot = Some(int(name)?);
            }
        }
        kwargs.assert_all_used().map_err(|e| {
            bad(format!(
                "{e} (dagctl's relativedelta takes years, months, weeks, days, hours, minutes, seconds, microseconds and year, month, day, hour, minute, second, microsecond)"
            ))
        })?;
        Ok(RelativeDelta {
            months,
            days,
            micros,
            absolute,
        })
    }

    /// `self ± other`: the relative fields add up, the other's absolute fields win.
    pub(crate) fn combined(&self, other: &RelativeDelta, sign: i64) -> RelativeDelta {
        let mut absolute = self.absolute;
        for (mine, theirs) in absolute.iter_mut().zip(other.absolute) {
            *mine = theirs.or(*mine);
        }
        RelativeDelta {
            months: self
                .months
                .saturating_add(sign.saturating_mul(other.months)),
            days: self.days.saturating_add(sign.saturating_mul(other.days)),
            micros: self
                .micros
                .saturating_add(sign.saturating_mul(other.micros)),
            absolute,
        }
    }

    /// The relative fields negated when `sign` is -1 (the absolute ones kept, as dateutil).
    pub(crate) fn scaled(&self, sign: i64) -> RelativeDelta {
        RelativeDelta {
            months: self.months * sign,
            days: self.days * sign,
            micros: self.micros * sign,
            absolute: self.absolute,
        }
    }
}

impl Object for RelativeDelta {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let (secs, micros) = (self.micros / US_PER_SEC, self.micros % US_PER_SEC);
        Some(Value::from(match key.as_str()? {
            "years" => self.months / 12,
            "months" => self.months % 12,
            "days" => self.days,
            "weeks" => self.days / 7,
            "hours" => secs / 3600,
            "minutes" => secs / 60 % 60,
            "seconds" => secs % 60,
            "microseconds" => micros,
            _ => return None,
        }))
    }

    fn is_true(self: &Arc<Self>) -> bool {
        **self != RelativeDelta::default()
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // dateutil normalizes (13 months is a year and a month) and prints signed fields.
        let (secs, micros) = (self.micros / US_PER_SEC, self.micros % US_PER_SEC);
        let (hours, rest) = (secs / 3600, secs % 3600);
        let fields = [
            ("years", self.months / 12),
            ("months", self.months % 12),
            ("days", self.days),
            ("hours", hours),
            ("minutes", rest / 60),
            ("seconds", rest % 60),
            ("microseconds", micros),
        ];
        f.write_str("relativedelta(")?;
        let mut first = true;
        for (name, n) in fields.into_iter().filter(|(_, n)| *n != 0) {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{name}={n:+}")?;
        }
        for (name, n) in super::FIELDS.iter().zip(self.absolute) {
            if let Some(n) = n {
                if !first {
                    f.write_str(", ")?;
                }
                first = false;
                write!(f, "{name}={n}")?;
            }
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timedeltas_print_as_python_does() {
        let h = 3_600 * US_PER_SEC;
        for (us, want) in [
            (US_PER_DAY, "1 day, 0:00:00"),
            (36 * h, "1 day, 12:00:00"),
            (-h, "-1 day, 23:00:00"),
            (0, "0:00:00"),
            (2 * US_PER_DAY + 5, "2 days, 0:00:00.000005"),
        ] {
            assert_eq!(TimeDelta(us).to_string(), want);
        }
    }
}
