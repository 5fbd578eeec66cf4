//! Durations as people write them in DAG files: `30s`, `10m`, `1h30m`, `2d`, `500ms`, or a
//! number of seconds.

use std::time::Duration;

/// Parses a duration: a number of seconds (`90`, `1.5`), or one or more `<number><unit>` parts
/// with units `ms`, `s`, `m`, `h`, `d`, `w` (`1h30m`, `2d`, `250ms`).
///
/// # Errors
/// A message naming the part that does not read, meant to be shown after the value.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration".into());
    }
    if let Ok(secs) = text.parse::<f64>() {
        return seconds(secs);
    }
    let mut total = 0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return Err(format!("expected a number at `{rest}`"));
        }
        let number: f64 = rest[..num_len]
            .parse()
            .map_err(|_| format!("`{}` is not a number", &rest[..num_len]))?;
        rest = rest[num_len..].trim_start();
        let unit_len = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        let factor = match unit {
            "ms" => 0.001,
            "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
            "m" | "min" | "mins" | "minute" | "minutes" => 60.0,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3600.0,
            "d" | "day" | "days" => 86_400.0,
            "w" | "week" | "weeks" => 604_800.0,
            "" => {
                return Err(format!(
                    "missing unit after `{number}` (use ms, s, m, h, d or w)"
                ));
            }
            other => return Err(format!("unknown unit `{other}` (use ms, s, m, h, d or w)")),
        };
        total += number * factor;
        // `1 day, 2 hours` (dag-factory's `execution_delta: 1 days,`) reads too.
        rest = rest[unit_len..].trim_start_matches([' ', ',']);
    }
    seconds(total)
}

/// The longest duration dagctl accepts (100 years): any time plus it stays a date the store
/// and the clock can hold, so a mistyped `retry_delay: 1e14` is refused where it is written
/// instead of breaking the run that uses it.
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 86_400);

fn seconds(secs: f64) -> Result<Duration, String> {
    if !secs.is_finite() || secs < 0.0 {
        return Err("a duration cannot be negative".into());
    }
    if secs > MAX_DURATION.as_secs_f64() {
        return Err(format!(
            "{secs}s is past the longest duration dagctl accepts (100 years, {}s)",
            MAX_DURATION.as_secs()
        ));
    }
    Duration::try_from_secs_f64(secs).map_err(|_| "duration is too long".into())
}

/// Formats a duration the way [`parse_duration`] reads it back (`1h30m`, `45s`, `250ms`).
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    if !ms.is_multiple_of(1000) {
        return format!("{ms}ms");
    }
    let mut secs = d.as_secs();
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_documented_forms() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
    }

    #[test]
    fn rejects_nonsense_with_a_reason() {
        assert!(
            parse_duration("soon")
                .unwrap_err()
                .contains("expected a number")
        );
        assert!(
            parse_duration("5y")
                .unwrap_err()
                .contains("unknown unit `y`")
        );
        assert!(parse_duration("-5").unwrap_err().contains("negative"));
        assert!(parse_duration("").is_err());
        for absurd in ["1e14", "100000000000d", "1e308", "5300w"] {
            assert!(
                parse_duration(absurd)
                    .unwrap_err()
                    .contains("longest duration"),
                "{absurd}"
            );
        }
        assert_eq!(parse_duration("36500d").unwrap(), MAX_DURATION);
    }

    #[test]
    fn format_round_trips() {
        for text in ["1h30m", "45s", "2d", "250ms", "1d2h3m4s"] {
            assert_eq!(format_duration(parse_duration(text).unwrap()), text);
        }
    }
}
