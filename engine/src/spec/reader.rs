//! Typed reads from [`Node`]s that record a diagnostic instead of stopping at a problem.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use crate::diagnostic::{Diagnostic, Diagnostics, Kind};
use crate::duration::parse_duration;
use crate::suggest::{closest, quoted_list};
use crate::yaml::{Node, Pos, Value, key_text, parse_bool};

/// The file being read and the diagnostics found so far.
pub(crate) struct Reader<'a> {
    pub file: &'a Path,
    /// The defaults files whose nodes may be read (positions with their `source`).
    pub sources: &'a [super::Defaults],
    pub diags: &'a mut Diagnostics,
}

impl Reader<'_> {
    pub fn error(&mut self, pos: Pos, kind: Kind, message: impl Into<String>) -> &mut Diagnostic {
        let file = match pos.source {
            0 => self.file,
            n => self
                .sources
                .iter()
                .find(|d| d.source == n)
                .map_or(self.file, |d| d.file.as_path()),
        };
        self.diags.push(Diagnostic::new(file, pos, kind, message));
        self.diags.0.last_mut().expect("just pushed")
    }

    /// Expects a mapping; records an error naming `what` otherwise.
    pub fn map<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n [(Node, Node)]> {
        match node.as_map() {
            Some(m) => Some(m),
            None if node.is_null() => Some(&[]),
            None => {
                self.error(
                    node.pos,
                    Kind::InvalidValue,
                    format!("{what} must be a mapping, found {}", node.kind_name()),
                );
                None
            }
        }
    }

    /// Reports keys of `entries` that are neither in `known` nor in `inert` (with the closest
    /// known key as a hint), refuses inert keys whose value asks for what dagctl does not do,
    /// and reports duplicate keys.
    pub fn check_keys(
        &mut self,
        entries: &[(Node, Node)],
        known: &[&str],
        inert: &[super::keys::Inert],
        what: &str,
    ) {
        for (i, (k, v)) in entries.iter().enumerate() {
            let name = key_text(k);
            if self.duplicate_key(entries, i, what) {
                continue;
            }
            if known.contains(&name.as_str()) {
                continue;
            }
            if let Some(rule) = inert.iter().find(|r| r.key == name) {
                self.check_inert(rule, k, v, what);
                continue;
            }
            let hint = closest(&name, known.iter().copied())
                .map(|c| format!("did you mean `{c}`?"))
                .unwrap_or_else(|| format!("known keys: {}", quoted_list(known.iter().copied())));
            self.error(
                k.pos,
                Kind::UnknownKey,
                format!("unknown key `{name}` in {what}"),
            )
            .hint = Some(hint);
        }
    }

    /// Accepts an inert key whose value needs nothing from dagctl, refuses it otherwise.
    pub fn check_inert(&mut self, rule: &super::keys::Inert, k: &Node, v: &Node, what: &str) {
        let fine = match rule.accepts {
            None => rule.hint.is_empty(),
            Some(want) => v.is_null() || v.as_scalar().and_then(parse_bool) == Some(want),
        };
        if fine {
            return;
        }
        let shown = v.as_scalar().map(|t| format!(": {t}")).unwrap_or_default();
        self.error(
            k.pos,
            Kind::Unsupported,
            format!(
                "`{}{shown}` in {what} asks for what dagctl does not do",
                rule.key
            ),
        )
        .hint = Some(rule.hint.to_string());
    }

    /// Reports entry `i` if an earlier entry has the same key (YAML would keep only one).
    pub fn duplicate_key(&mut self, entries: &[(Node, Node)], i: usize, what: &str) -> bool {
        let name = key_text(&entries[i].0);
        if !entries[..i].iter().any(|(p, _)| key_text(p) == name) {
            return false;
        }
        self.error(
            entries[i].0.pos,
            Kind::InvalidValue,
            format!("duplicate key `{name}` in {what}"),
        )
        .hint = Some("remove one of them: YAML keeps only one".into());
        true
    }

    /// Records "`what` must be <expected>, found <kind> `<text>`" at the node.
    fn type_error(&mut self, node: &Node, what: &str, expected: &str) {
        let shown = node
            .as_scalar()
            .map(|t| format!(" `{t}`"))
            .unwrap_or_default();
        self.error(
            node.pos,
            Kind::InvalidValue,
            format!(
                "`{what}` must be {expected}, found {}{shown}",
                node.kind_name()
            ),
        );
    }

    /// A scalar read as text (numbers and booleans read as their text, as YAML strings would).
    pub fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.value {
            Value::Scalar { text, .. } if !node.is_null() => Some(text.clone()),
            _ => {
                self.error(
                    node.pos,
                    Kind::InvalidValue,
                    format!("`{what}` must be a string, found {}", node.kind_name()),
                );
                None
            }
        }
    }

    /// A non-negative integer.
    pub fn u32(&mut self, node: &Node, what: &str) -> Option<u32> {
        if let Value::Scalar { text, .. } = &node.value
            && let Ok(v) = text.trim().parse::<u32>()
        {
            return Some(v);
        }
        self.type_error(node, what, "a whole number ≥ 0");
        None
    }

    /// A positive integer.
    pub fn positive(&mut self, node: &Node, what: &str) -> Option<u32> {
        let v = self.u32(node, what)?;
        if v == 0 {
            self.error(
                node.pos,
                Kind::InvalidValue,
                format!("`{what}` must be at least 1"),
            );
            return None;
        }
        Some(v)
    }

    /// A boolean (`true`/`false`, and PyYAML's `yes`/`no`/`on`/`off`).
    pub fn bool(&mut self, node: &Node, what: &str) -> Option<bool> {
        if let Value::Scalar { text, .. } = &node.value
            && let Some(b) = parse_bool(text)
        {
            return Some(b);
        }
        self.type_error(node, what, "true or false");
        None
    }

    /// A duration (`30s`, `1h30m`, `2d`, or a number of seconds), or dag-factory's
    /// `{__type__: datetime.timedelta, days: …, hours: …, minutes: …, seconds: …}`.
    pub fn duration(&mut self, node: &Node, what: &str) -> Option<Duration> {
        if node.as_map().is_some() {
            return self.timedelta(node, what);
        }
        let Some(text) = node.as_scalar().filter(|_| !node.is_null()) else {
            self.error(
                node.pos,
                Kind::InvalidDuration,
                format!("`{what}` must be a duration, found {}", node.kind_name()),
            )
            .hint = Some(
                "write durations as `30s`, `10m`, `1h30m`, `2d` or a number of seconds".into(),
            );
            return None;
        };
        match parse_duration(text) {
            Ok(d) => Some(d),
            Err(why) => {
                self.error(
                    node.pos,
                    Kind::InvalidDuration,
                    format!("bad duration `{text}` for `{what}`: {why}"),
                )
                .hint = Some(
                    "write durations as `30s`, `10m`, `1h30m`, `2d` or a number of seconds".into(),
                );
                None
            }
        }
    }

    /// `{__type__: datetime.timedelta, …}` as a duration.
    fn timedelta(&mut self, node: &Node, what: &str) -> Option<Duration> {
        const UNITS: [(&str, f64); 7] = [
            ("weeks", 604_800.0),
            ("days", 86_400.0),
            ("hours", 3600.0),
            ("minutes", 60.0),
            ("seconds", 1.0),
            ("milliseconds", 1e-3),
            ("microseconds", 1e-6),
        ];
        let entries = node.as_map().unwrap_or_default();
        let is_timedelta = node
            .get("__type__")
            .and_then(Node::as_scalar)
            .is_some_and(|t| t.rsplit('.').next() == Some("timedelta"));
        if !is_timedelta {
            self.error(
                node.pos,
                Kind::InvalidDuration,
                format!("`{what}` must be a duration, found a mapping"),
            )
            .hint = Some(
                "write `30s`, `1h30m`, a number of seconds, or `{__type__: datetime.timedelta, \
                 seconds: 30}`"
                    .into(),
            );
            return None;
        }
        let mut keys: Vec<&str> = UNITS.iter().map(|(u, _)| *u).collect();
        keys.extend(["__type__", "__args__"]);
        self.check_keys(entries, &keys, &[], &format!("the timedelta of `{what}`"));
        let mut secs = 0.0;
        // timedelta(days, seconds, microseconds, milliseconds, minutes, hours, weeks)
        let positional = [
            "days",
            "seconds",
            "microseconds",
            "milliseconds",
            "minutes",
            "hours",
            "weeks",
        ];
        let args = node
            .get("__args__")
            .and_then(Node::as_seq)
            .unwrap_or_default();
        let named = UNITS
            .iter()
            .filter_map(|(u, size)| node.get(u).map(|n| (n, *size)));
        let by_position = args.iter().zip(positional).filter_map(|(n, unit)| {
            UNITS
                .iter()
                .find(|(u, _)| *u == unit)
                .map(|(_, size)| (n, *size))
        });
        for (n, size) in named.chain(by_position) {
            match n.as_scalar().and_then(|t| t.trim().parse::<f64>().ok()) {
                Some(v) => secs += v * size,
                None => {
                    self.type_error(n, what, "a number");
                    return None;
                }
            }
        }
        match crate::duration::parse_duration(&format!("{secs}")) {
            Ok(d) => Some(d),
            Err(why) => {
                self.error(
                    node.pos,
                    Kind::InvalidDuration,
                    format!("bad duration for `{what}`: {why}"),
                );
                None
            }
        }
    }

    /// A date or date-time; naive values are in `tz`.
    pub fn date(&mut self, node: &Node, what: &str, tz: chrono_tz::Tz) -> Option<DateTime<Utc>> {
        let text = node.as_scalar().unwrap_or_default().trim();
        if let Some(d) = parse_date_in(text, tz).or_else(|| relative_date(text, tz, Utc::now())) {
            return Some(d);
        }
        self.error(
            node.pos,
            Kind::InvalidDate,
            format!("bad date `{text}` for `{what}`"),
        )
        .hint = Some(
            "write `2026-01-31`, `2026-01-31T06:00:00`, `2026-01-31T06:00:00Z` or a time before today (`2 days`)"
                .into(),
        );
        None
    }

    /// A list of strings; a single string is read as a list of one.
    pub fn string_list(&mut self, node: &Node, what: &str) -> Vec<(String, Pos)> {
        if node.is_null() {
            return Vec::new();
        }
        if let Some(items) = node.as_seq() {
            return items
                .iter()
                .filter_map(|item| self.string(item, what).map(|s| (s, item.pos)))
                .collect();
        }
        self.string(node, what)
            .map(|s| vec![(s, node.pos)])
            .unwrap_or_default()
    }
}

/// Reads `2026-01-31`, `2026-01-31T06:00[:00]`, `2026-01-31 06:00:00` and RFC 3339 date-times
/// with an offset; naive values are taken as UTC. Dates outside the years 1 to 9999 are not
/// read (every store and clock holds those).
pub fn parse_date(text: &str) -> Option<DateTime<Utc>> {
    parse_date_in(text, chrono_tz::Tz::UTC)
}

/// dag-factory's relative dates: `2 days`, `6 hours`, `30 minutes`, `10 seconds` before the
/// start of `now`'s day in `tz` (so a DAG's `start_date: 2 days` moves with the calendar, as
/// in dag-factory).
pub fn relative_date(text: &str, tz: chrono_tz::Tz, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    use chrono::TimeZone;
    let (n, unit) = text.trim().split_once(char::is_whitespace)?;
    let n: i64 = n.parse().ok()?;
    let unit = unit.trim().to_ascii_lowercase();
    let seconds = match unit.trim_end_matches('s') {
        "day" => 86_400,
        "hour" => 3_600,
        "minute" => 60,
        "second" => 1,
        _ => return None,
    };
    let today = now.with_timezone(&tz).date_naive().and_hms_opt(0, 0, 0)?;
    let start = tz
        .from_local_datetime(&today)
        .earliest()?
        .with_timezone(&Utc);
    start.checked_sub_signed(chrono::Duration::try_seconds(n.checked_mul(seconds)?)?)
}

/// As [`parse_date`], with naive values read in `tz` (in a DST gap, an hour later).
pub fn parse_date_in(text: &str, tz: chrono_tz::Tz) -> Option<DateTime<Utc>> {
    parse_any_date_in(text, tz).filter(|t| (1..=9999).contains(&chrono::Datelike::year(t)))
}

fn parse_any_date_in(text: &str, tz: chrono_tz::Tz) -> Option<DateTime<Utc>> {
    use chrono::TimeZone;
    if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
        return Some(dt.with_timezone(&Utc));
    }
    let naive = [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|fmt| NaiveDateTime::parse_from_str(text, fmt).ok())
    .or_else(|| {
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
    })?;
    tz.from_local_datetime(&naive)
        .earliest()
        .or_else(|| {
            tz.from_local_datetime(&(naive + chrono::Duration::hours(1)))
                .earliest()
        })
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn relative_dates_count_back_from_the_start_of_today() {
        let now = Utc.with_ymd_and_hms(2026, 3, 15, 17, 42, 5).unwrap();
        let utc = chrono_tz::Tz::UTC;
        let day = |d, h| Utc.with_ymd_and_hms(2026, 3, d, h, 0, 0).unwrap();
        assert_eq!(relative_date("2 days", utc, now), Some(day(13, 0)));
        assert_eq!(relative_date("1 day", utc, now), Some(day(14, 0)));
        assert_eq!(relative_date("6 Hours", utc, now), Some(day(14, 18)));
        // Midnight in the DAG's zone: Paris is UTC+1 in March.
        let paris: chrono_tz::Tz = "Europe/Paris".parse().unwrap();
        assert_eq!(relative_date("1 day", paris, now), Some(day(13, 23)));
        for bad in ["2 weeks", "days", "two days", "2", ""] {
            assert_eq!(relative_date(bad, utc, now), None, "{bad}");
        }
    }
}
