//! Printing date-times: Python's `strftime` directives and pendulum's `format` tokens.

use std::fmt::Write as _;

use chrono::{Datelike, FixedOffset, NaiveDateTime, Timelike};

/// What a date-time prints from: the wall-clock time and, when aware, its offset and zone.
pub(super) struct Parts<'a> {
    pub local: NaiveDateTime,
    pub offset: Option<FixedOffset>,
    /// The zone's abbreviation at that time (`UTC`, `CET`).
    pub abbreviation: Option<String>,
    /// The zone's name (`UTC`, `Europe/Paris`).
    pub zone: Option<&'a str>,
}

/// `+HH:MM` (Python's `isoformat`), with `:SS` when the offset has seconds.
pub(super) fn offset_colon(offset: FixedOffset) -> String {
    let secs = offset.local_minus_utc();
    let sign = if secs < 0 { '-' } else { '+' };
    let secs = secs.unsigned_abs();
    let mut s = format!("{sign}{:02}:{:02}", secs / 3600, secs / 60 % 60);
    if !secs.is_multiple_of(60) {
        let _ = write!(s, ":{:02}", secs % 60);
    }
    s
}

/// A zone's abbreviation where the tz database has none: `-03`, `+0545`, as Python prints it.
pub(super) fn offset_abbreviation(offset: FixedOffset) -> String {
    let plain = offset_plain(offset);
    match plain.strip_suffix("00") {
        Some(short) if plain.len() == 5 => short.to_string(),
        _ => plain,
    }
}

/// `+HHMM` (`%z`).
fn offset_plain(offset: FixedOffset) -> String {
    offset_colon(offset).replace(':', "")
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// Python's `strftime` (the C library's directives, as on Linux): `%f` is microseconds,
/// `%z`/`%Z` are empty for a naive value, `%-d` drops padding, an unknown directive is kept
/// as written.
pub(super) fn strftime(p: &Parts<'_>, format: &str) -> String {
    let mut out = String::with_capacity(format.len() + 16);
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let unpadded = chars.peek() == Some(&'-');
        if unpadded {
            chars.next();
        }
        let Some(d) = chars.next() else {
            out.push('%');
            break;
        };
        match d {
            '%' => out.push('%'),
            'f' => {
                let _ = write!(out, "{:06}", p.local.nanosecond() / 1000 % 1_000_000);
            }
            'z' => out.push_str(&p.offset.map(offset_plain).unwrap_or_default()),
            'Z' => out.push_str(p.abbreviation.as_deref().unwrap_or_default()),
            'a' | 'A' | 'b' | 'B' | 'c' | 'd' | 'D' | 'e' | 'F' | 'G' | 'g' | 'h' | 'H' | 'I'
            | 'j' | 'm' | 'M' | 'p' | 'R' | 'S' | 'T' | 'u' | 'U' | 'V' | 'w' | 'W' | 'x' | 'X'
            | 'y' | 'Y' | 'C' | 'k' | 'l' | 'n' | 't' => {
                let spec = if unpadded {
                    format!("%-{d}")
                } else {
                    format!("%{d}")
                };
                let _ = write!(out, "{}", p.local.format(&spec));
            }
            's' => match p.offset {
                Some(off) => {
                    let _ = write!(
                        out,
                        "{}",
                        p.local.and_utc().timestamp() - i64::from(off.local_minus_utc())
                    );
                }
                None => {
                    let _ = write!(out, "{}", p.local.and_utc().timestamp());
                }
            },
            other => {
                out.push('%');
                if unpadded {
                    out.push('-');
                }
                out.push(other);
            }
        }
    }
    out
}

/// The tokens of pendulum's `format`, longest first where one is a prefix of another.
const TOKENS: &[&str] = &[
    "YYYY", "YY", "Y", "Qo", "Q", "MMMM", "MMM", "MM", "Mo", "M", "DDDD", "DDDo", "DDD", "DD",
    "Do", "D", "dddd", "ddd", "dd", "do", "d", "E", "HH", "H", "hh", "h", "mm", "m", "ss", "s",
    "SSSSSS", "SSSSS", "SSSS", "SSS", "SS", "S", "A", "X", "x", "ZZ", "Z", "zz", "z", "LTS", "LT",
    "LLLL", "LLL", "LL", "L",
];

fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// pendulum's `format('YYYY-MM-DD HH:mm:ss')` (English names; `[text]` is kept as written).
pub(super) fn pendulum(p: &Parts<'_>, format: &str) -> String {
    let mut out = String::with_capacity(format.len() + 16);
    let mut rest = format;
    while let Some(c) = rest.chars().next() {
        if c == '['
            && let Some(end) = rest.find(']')
        {
            out.push_str(&rest[1..end]);
            rest = &rest[end + 1..];
            continue;
        }
        if c == '\\' {
            let mut it = rest.chars();
            it.next();
            if let Some(n) = it.next() {
                out.push(n);
                rest = &rest[1 + n.len_utf8()..];
                continue;
            }
        }
        match TOKENS.iter().find(|t| rest.starts_with(*t)) {
            Some(token) => {
                out.push_str(&token_value(p, token));
                rest = &rest[token.len()..];
            }
            None => {
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    out
}

fn token_value(p: &Parts<'_>, token: &str) -> String {
    let t = p.local;
    let hour12 = match t.hour() % 12 {
        0 => 12,
        h => h,
    };
    let dow = t.weekday().num_days_from_monday();
    let frac = |digits: usize| {
        let micros = format!("{:06}", t.nanosecond() / 1000 % 1_000_000);
        micros[..digits.min(6)].to_string()
    };
    match token {
        "YYYY" => format!("{:04}", t.year()),
        "YY" => format!("{:02}", t.year().rem_euclid(100)),
        "Y" => t.year().to_string(),
        "Q" => ((t.month() - 1) / 3 + 1).to_string(),
        "Qo" => ordinal((t.month() - 1) / 3 + 1),
        "MMMM" => MONTHS[t.month0() as usize].to_string(),
        "MMM" => MONTHS[t.month0() as usize][..3].to_string(),
        "MM" => format!("{:02}", t.month()),
        "Mo" => ordinal(t.month()),
        "M" => t.month().to_string(),
        "DDDD" => format!("{:03}", t.ordinal()),
        "DDDo" => ordinal(t.ordinal()),
        "DDD" => t.ordinal().to_string(),
        "DD" => format!("{:02}", t.day()),
        "Do" => ordinal(t.day()),
        "D" => t.day().to_string(),
        "dddd" => DAYS[dow as usize].to_string(),
        "ddd" => DAYS[dow as usize][..3].to_string(),
        "dd" => DAYS[dow as usize][..2].to_string(),
        // pendulum's `d` counts from Sunday.
        "do" => ordinal((dow + 1) % 7),
        "d" => ((dow + 1) % 7).to_string(),
        "E" => (dow + 1).to_string(),
        "HH" => format!("{:02}", t.hour()),
        "H" => t.hour().to_string(),
        "hh" => format!("{hour12:02}"),
        "h" => hour12.to_string(),
        "mm" => format!("{:02}", t.minute()),
        "m" => t.minute().to_string(),
        "ss" => format!("{:02}", t.second()),
        "s" => t.second().to_string(),
        "A" => (if t.hour() < 12 { "AM" } else { "PM" }).to_string(),
        "X" => timestamp(p).to_string(),
        "x" => (timestamp(p) * 1000 + i64::from(t.nanosecond() / 1_000_000)).to_string(),
        "ZZ" => p.offset.map(offset_plain).unwrap_or_default(),
        "Z" => p.offset.map(offset_colon).unwrap_or_default(),
        "zz" => p.abbreviation.clone().unwrap_or_default(),
        "z" => p.zone.unwrap_or_default().to_string(),
        "LT" => pendulum(p, "h:mm A"),
        "LTS" => pendulum(p, "h:mm:ss A"),
        "L" => pendulum(p, "MM/DD/YYYY"),
        "LL" => pendulum(p, "MMMM D, YYYY"),
        "LLL" => pendulum(p, "MMMM D, YYYY h:mm A"),
        "LLLL" => pendulum(p, "dddd, MMMM D, YYYY h:mm A"),
        s if s.starts_with('S') => frac(s.len()),
        other => other.to_string(),
    }
}

fn timestamp(p: &Parts<'_>) -> i64 {
    p.local.and_utc().timestamp() - p.offset.map_or(0, |o| i64::from(o.local_minus_utc()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn parts() -> Parts<'static> {
        Parts {
            local: NaiveDate::from_ymd_opt(2026, 3, 15)
                .unwrap()
                .and_hms_micro_opt(0, 0, 0, 0)
                .unwrap(),
            offset: Some(FixedOffset::east_opt(0).unwrap()),
            abbreviation: Some("UTC".into()),
            zone: Some("UTC"),
        }
    }

    #[test]
    fn strftime_prints_as_python_does() {
        // Expected outputs are Airflow 3.3.2's (Python 3.11 on Linux).
        let p = parts();
        assert_eq!(
            strftime(&p, "%A %a %B %b %d %j %U %W %w %y %p %I"),
            "Sunday Sun March Mar 15 074 11 10 0 26 AM 12"
        );
        assert_eq!(strftime(&p, "%H:%M:%S %z %Z"), "00:00:00 +0000 UTC");
        assert_eq!(strftime(&p, "%Y%m%dT%H%M%S.%f"), "20260315T000000.000000");
        assert_eq!(strftime(&p, "%-d/%-m %Q %"), "15/3 %Q %");
    }

    #[test]
    fn pendulum_tokens() {
        let p = parts();
        assert_eq!(pendulum(&p, "YYYY-MM-DD HH:mm:ss"), "2026-03-15 00:00:00");
        assert_eq!(pendulum(&p, "dddd D MMMM YYYY"), "Sunday 15 March 2026");
        assert_eq!(pendulum(&p, "[Day] Do, h A Z"), "Day 15th, 12 AM +00:00");
    }
}
