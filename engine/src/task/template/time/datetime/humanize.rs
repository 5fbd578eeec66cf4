//! pendulum's words for the time between two date-times (`diff_for_humans`).

use chrono::{Datelike, Utc};
use minijinja::Error;

use super::PyDateTime;

impl PyDateTime {
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
