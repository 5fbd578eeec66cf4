//! When runs happen: data intervals and logical dates, as Airflow defines them.
//!
//! A cron schedule cuts time into consecutive **data intervals** `[tick, next tick)`. The run
//! for an interval has the interval's start as its **logical date** (`ds`), and becomes due
//! once the interval has ended: the `@daily` run for 2026-01-05 runs just after midnight
//! on 2026-01-06. The first interval starts at the first tick at or after `start_date`; no
//! interval starts after `end_date`. With `catchup: false` only the latest complete interval
//! is run, never the missed ones before it. `@once` runs once, for `start_date`. Ticks are
//! computed in the DAG's `timezone` (UTC by default); across DST changes croner's rules apply
//! (a tick in a skipped hour fires at the first valid time).
//!
//! Everything here is a pure function of the time given: no clock is read.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::schedule::{CronSchedule, Schedule};

/// A data interval: `[start, end)`. Its start is the run's logical date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DataInterval {
    /// Start, and the logical date of its run.
    pub start: DateTime<Utc>,
    /// End: the run is due from then on.
    pub end: DateTime<Utc>,
}

/// A DAG's schedule with the settings that bound it.
#[derive(Debug, Clone)]
pub struct Timetable<'a> {
    /// The schedule.
    pub schedule: &'a Schedule,
    /// The zone cron expressions are read in.
    pub timezone: Tz,
    /// No interval starts before this.
    pub start_date: Option<DateTime<Utc>>,
    /// No interval starts after this.
    pub end_date: Option<DateTime<Utc>>,
    /// Whether missed intervals are run.
    pub catchup: bool,
}

impl Timetable<'_> {
    fn cron(&self) -> Option<&CronSchedule> {
        match self.schedule {
            Schedule::Cron(c) => Some(c),
            _ => None,
        }
    }

    /// The first tick at or after `t` (`inclusive`) or strictly after it.
    fn next_tick(&self, t: DateTime<Utc>, inclusive: bool) -> Option<DateTime<Utc>> {
        let local = t.with_timezone(&self.timezone);
        self.cron()?
            .cron
            .find_next_occurrence(&local, inclusive)
            .ok()
            .map(|d| d.with_timezone(&Utc))
    }

    /// The last tick at or before `t` (`inclusive`) or strictly before it.
    fn prev_tick(&self, t: DateTime<Utc>, inclusive: bool) -> Option<DateTime<Utc>> {
        let local = t.with_timezone(&self.timezone);
        self.cron()?
            .cron
            .find_previous_occurrence(&local, inclusive)
            .ok()
            .map(|d| d.with_timezone(&Utc))
    }

    fn within_end(&self, start: DateTime<Utc>) -> bool {
        self.end_date.is_none_or(|e| start <= e)
    }

    /// The interval that starts at `start` (a tick).
    fn interval_at(&self, start: DateTime<Utc>) -> Option<DataInterval> {
        let end = self.next_tick(start, false)?;
        self.within_end(start)
            .then_some(DataInterval { start, end })
    }

    /// The next interval the scheduler should create a run for, after the last one created
    /// (`last`), whether or not it is due yet (due when `end <= now`). `now` matters only
    /// without catchup, where intervals already missed are skipped.
    pub fn next_interval(
        &self,
        last: Option<DataInterval>,
        now: DateTime<Utc>,
    ) -> Option<DataInterval> {
        match self.schedule {
            Schedule::Manual | Schedule::Datasets(_) => None,
            Schedule::Once => match (last, self.start_date) {
                (None, Some(s)) => Some(DataInterval { start: s, end: s }),
                (None, None) => Some(DataInterval {
                    start: now,
                    end: now,
                }),
                (Some(_), _) => None,
            },
            Schedule::Cron(_) => {
                let mut start = match (last, self.start_date) {
                    (Some(l), _) => self.next_tick(l.end, true)?,
                    (None, Some(s)) => self.next_tick(s, true)?,
                    // No start_date: begin with the latest complete interval.
                    (None, None) => self.latest_complete_start(now)?,
                };
                if !self.catchup
                    && let Some(latest) = self.latest_complete_start(now)
                {
                    start = start.max(latest);
                }
                self.interval_at(start)
            }
        }
    }

    /// The start of the latest interval that has ended by `now`.
    fn latest_complete_start(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let end = self.prev_tick(now, true)?;
        self.prev_tick(end, false)
    }

    /// Every run due by `now` after `last`, in order (with catchup, all missed intervals;
    /// without, at most the latest one), at most `limit`.
    pub fn due(
        &self,
        mut last: Option<DataInterval>,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Vec<DataInterval> {
        let mut out = Vec::new();
        while out.len() < limit {
            match self.next_interval(last, now) {
                Some(i) if i.end <= now => {
                    out.push(i);
                    last = Some(i);
                }
                _ => break,
            }
        }
        out
    }

    /// The intervals whose start lies in `[from, to]`, for backfills (`catchup` plays no part).
    pub fn between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: usize,
    ) -> Vec<DataInterval> {
        let mut out = Vec::new();
        match self.schedule {
            Schedule::Manual | Schedule::Datasets(_) => {}
            Schedule::Once => {
                if let Some(s) = self.start_date.filter(|s| *s >= from && *s <= to) {
                    out.push(DataInterval { start: s, end: s });
                }
            }
            Schedule::Cron(_) => {
                let floor = self.start_date.map_or(from, |s| s.max(from));
                let mut tick = self.next_tick(floor, true);
                while let Some(t) = tick {
                    if t > to || out.len() >= limit {
                        break;
                    }
                    match self.interval_at(t) {
                        Some(i) => out.push(i),
                        None => break,
                    }
                    tick = self.next_tick(t, false);
                }
            }
        }
        out
    }

    /// The data interval of a manual run at `logical_date`, as Airflow infers it: the latest
    /// complete interval at that time for cron schedules, `[date, date]` otherwise.
    pub fn manual_interval(&self, logical_date: DateTime<Utc>) -> DataInterval {
        let end = self.prev_tick(logical_date, true);
        match end.and_then(|e| self.prev_tick(e, false).map(|s| (s, e))) {
            Some((start, end)) => DataInterval { start, end },
            None => DataInterval {
                start: logical_date,
                end: logical_date,
            },
        }
    }
}

/// Parses a time zone name (`UTC`, `Europe/Berlin`).
pub fn parse_timezone(name: &str) -> Option<Tz> {
    name.parse::<Tz>().ok()
}

/// UTC as a [`Tz`].
pub fn utc() -> Tz {
    Tz::UTC
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc_at(s: &str) -> DateTime<Utc> {
        crate::spec::parse_date(s).unwrap()
    }

    fn tt<'a>(
        schedule: &'a Schedule,
        start: Option<&str>,
        end: Option<&str>,
        catchup: bool,
    ) -> Timetable<'a> {
        Timetable {
            schedule,
            timezone: utc(),
            start_date: start.map(utc_at),
            end_date: end.map(utc_at),
            catchup,
        }
    }

    fn starts(v: &[DataInterval]) -> Vec<String> {
        v.iter()
            .map(|i| i.start.format("%Y-%m-%d %H:%M").to_string())
            .collect()
    }

    #[test]
    fn daily_runs_after_its_interval_ends() {
        let s = Schedule::parse("@daily").unwrap();
        let t = tt(&s, Some("2026-01-01"), None, true);
        let first = t
            .next_interval(None, utc_at("2026-01-01T12:00:00"))
            .unwrap();
        assert_eq!(first.start, utc_at("2026-01-01"));
        assert_eq!(first.end, utc_at("2026-01-02"));
        assert!(
            t.due(None, utc_at("2026-01-01T23:59:59"), 10).is_empty(),
            "not due before its end"
        );
        assert_eq!(
            starts(&t.due(None, utc_at("2026-01-02"), 10)),
            ["2026-01-01 00:00"]
        );
    }

    #[test]
    fn catchup_runs_every_missed_interval_or_only_the_latest() {
        let s = Schedule::parse("@daily").unwrap();
        let now = utc_at("2026-01-05T08:00:00");
        let with = tt(&s, Some("2026-01-01"), None, true);
        assert_eq!(
            starts(&with.due(None, now, 100)),
            [
                "2026-01-01 00:00",
                "2026-01-02 00:00",
                "2026-01-03 00:00",
                "2026-01-04 00:00"
            ]
        );
        let without = tt(&s, Some("2026-01-01"), None, false);
        assert_eq!(starts(&without.due(None, now, 100)), ["2026-01-04 00:00"]);
        // After a run, catchup=false still skips to the latest complete interval.
        let last = DataInterval {
            start: utc_at("2026-01-01"),
            end: utc_at("2026-01-02"),
        };
        assert_eq!(
            starts(&without.due(Some(last), now, 100)),
            ["2026-01-04 00:00"]
        );
        assert_eq!(starts(&with.due(Some(last), now, 100)).len(), 3);
    }

    #[test]
    fn start_date_aligns_to_the_next_tick_and_end_date_stops() {
        let s = Schedule::parse("0 6 * * *").unwrap();
        let t = tt(
            &s,
            Some("2026-01-01T07:30:00"),
            Some("2026-01-03T06:00:00"),
            true,
        );
        let due = t.due(None, utc_at("2026-02-01"), 100);
        assert_eq!(starts(&due), ["2026-01-02 06:00", "2026-01-03 06:00"]);
        assert_eq!(due[1].end, utc_at("2026-01-04T06:00:00"));
    }

    #[test]
    fn presets_hourly_weekly_monthly() {
        let cases = [
            ("@hourly", "2026-01-01T10:00:00", "2026-01-01T11:00:00"),
            ("@weekly", "2026-01-04", "2026-01-11"), // Sundays
            ("@monthly", "2026-02-01", "2026-03-01"),
            ("@yearly", "2027-01-01", "2028-01-01"),
        ];
        for (preset, start, end) in cases {
            let s = Schedule::parse(preset).unwrap();
            let t = tt(&s, Some("2026-01-01T09:30:00"), None, true);
            let i = t.next_interval(None, utc_at("2030-01-01")).unwrap();
            let i = if preset == "@hourly" {
                i
            } else {
                t.between(utc_at(start), utc_at(start), 1)[0]
            };
            assert_eq!((i.start, i.end), (utc_at(start), utc_at(end)), "{preset}");
        }
    }

    #[test]
    fn once_and_manual() {
        let once = Schedule::parse("@once").unwrap();
        let t = tt(&once, Some("2026-01-01"), None, true);
        let due = t.due(None, utc_at("2026-03-01"), 10);
        assert_eq!(starts(&due), ["2026-01-01 00:00"]);
        assert!(
            t.due(due.first().copied(), utc_at("2026-03-01"), 10)
                .is_empty()
        );
        let manual = Schedule::Manual;
        assert!(
            tt(&manual, Some("2026-01-01"), None, true)
                .due(None, utc_at("2027-01-01"), 10)
                .is_empty()
        );
    }

    #[test]
    fn time_zones_and_dst() {
        // 02:30 every day in Berlin: on 2026-03-29 02:30 does not exist (clocks jump 02:00 →
        // 03:00), croner fires at 03:00 local; otherwise 02:30 local is 01:30 UTC in winter
        // and 00:30 UTC in summer.
        let s = Schedule::parse("30 2 * * *").unwrap();
        let berlin = parse_timezone("Europe/Berlin").unwrap();
        let t = Timetable {
            schedule: &s,
            timezone: berlin,
            start_date: Some(utc_at("2026-03-27")),
            end_date: None,
            catchup: true,
        };
        let got: Vec<String> = t
            .between(utc_at("2026-03-27"), utc_at("2026-03-31"), 10)
            .iter()
            .map(|i| i.start.format("%m-%d %H:%M").to_string())
            .collect();
        assert_eq!(
            got,
            ["03-27 01:30", "03-28 01:30", "03-29 01:00", "03-30 00:30"]
        );
        assert!(parse_timezone("Mars/Olympus").is_none());
    }

    #[test]
    fn manual_runs_get_the_latest_complete_interval() {
        let s = Schedule::parse("@daily").unwrap();
        let t = tt(&s, Some("2026-01-01"), None, true);
        let i = t.manual_interval(utc_at("2026-01-05T10:00:00"));
        assert_eq!(
            (i.start, i.end),
            (utc_at("2026-01-04"), utc_at("2026-01-05"))
        );
        let i = t.manual_interval(utc_at("2026-01-05"));
        assert_eq!(
            (i.start, i.end),
            (utc_at("2026-01-04"), utc_at("2026-01-05"))
        );
        let m = Schedule::Manual;
        let i = tt(&m, None, None, true).manual_interval(utc_at("2026-01-05"));
        assert_eq!(
            (i.start, i.end),
            (utc_at("2026-01-05"), utc_at("2026-01-05"))
        );
    }
}
