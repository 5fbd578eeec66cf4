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
//! A `timedelta` schedule (`DeltaDataIntervalTimetable`) cuts time the same way into intervals
//! of a fixed length counted from `start_date`. Trigger timetables (`CronTriggerTimetable`,
//! `DeltaTriggerTimetable`) run at each tick instead, their data interval the `interval`
//! before it (the tick itself by default). A dataset-or-time schedule runs on its time part
//! here; its dataset part is the scheduler's.
//!
//! Everything here is a pure function of the time given: no clock is read.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::schedule::{CronSchedule, Schedule, Ticks};

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
    /// The instants the schedule's runs are anchored on, for time-based schedules.
    fn ticks(&self) -> Option<TickSource<'_>> {
        match self.schedule.time() {
            Schedule::Cron(c) => Some(TickSource::Cron(c)),
            Schedule::Delta(d) => Some(TickSource::Every(*d)),
            Schedule::Trigger(t) => Some(match &t.ticks {
                Ticks::Cron(c) => TickSource::Cron(c),
                Ticks::Every(d) => TickSource::Every(*d),
            }),
            _ => None,
        }
    }

    /// For trigger timetables, the length of the data interval before each tick.
    fn trigger_interval(&self) -> Option<std::time::Duration> {
        match self.schedule.time() {
            Schedule::Trigger(t) => Some(t.interval),
            _ => None,
        }
    }

    /// Where `Every` ticks are counted from.
    fn anchor(&self) -> DateTime<Utc> {
        self.start_date.unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
    }

    /// The first tick at or after `t` (`inclusive`) or strictly after it.
    fn next_tick(&self, t: DateTime<Utc>, inclusive: bool) -> Option<DateTime<Utc>> {
        match self.ticks()? {
            TickSource::Cron(c) => {
                let local = t.with_timezone(&self.timezone);
                c.cron
                    .find_next_occurrence(&local, inclusive)
                    .ok()
                    .map(|d| d.with_timezone(&Utc))
            }
            TickSource::Every(step) => {
                let (k, exact) = self.steps(t, step)?;
                let k = if exact && inclusive { k } else { k + 1 };
                self.tick_at(k, step)
            }
        }
    }

    /// The last tick at or before `t` (`inclusive`) or strictly before it.
    fn prev_tick(&self, t: DateTime<Utc>, inclusive: bool) -> Option<DateTime<Utc>> {
        match self.ticks()? {
            TickSource::Cron(c) => {
                let local = t.with_timezone(&self.timezone);
                c.cron
                    .find_previous_occurrence(&local, inclusive)
                    .ok()
                    .map(|d| d.with_timezone(&Utc))
            }
            TickSource::Every(step) => {
                let (k, exact) = self.steps(t, step)?;
                let k = if exact && !inclusive { k - 1 } else { k };
                self.tick_at(k, step)
            }
        }
    }

    /// How many whole steps from the anchor to `t` (rounded down), and whether `t` is a tick.
    fn steps(&self, t: DateTime<Utc>, step: std::time::Duration) -> Option<(i64, bool)> {
        let step = i64::try_from(step.as_millis()).ok().filter(|s| *s > 0)?;
        let since = t.signed_duration_since(self.anchor()).num_milliseconds();
        Some((since.div_euclid(step), since.rem_euclid(step) == 0))
    }

    fn tick_at(&self, k: i64, step: std::time::Duration) -> Option<DateTime<Utc>> {
        let ms = i64::try_from(step.as_millis()).ok()?.checked_mul(k)?;
        self.anchor()
            .checked_add_signed(chrono::Duration::milliseconds(ms))
    }

    fn within_end(&self, start: DateTime<Utc>) -> bool {
        self.end_date.is_none_or(|e| start <= e)
    }

    /// The run anchored on `tick`: the interval that starts there, or for trigger timetables
    /// the interval that ends there.
    fn interval_at(&self, tick: DateTime<Utc>) -> Option<DataInterval> {
        let i = match self.trigger_interval() {
            Some(before) => DataInterval {
                start: tick - chrono::Duration::from_std(before).ok()?,
                end: tick,
            },
            None => DataInterval {
                start: tick,
                end: self.next_tick(tick, false)?,
            },
        };
        self.within_end(i.start).then_some(i)
    }

    /// The next interval the scheduler should create a run for, after the last one created
    /// (`last`), whether or not it is due yet (due when `end <= now`). `now` matters only
    /// without catchup, where intervals already missed are skipped.
    pub fn next_interval(
        &self,
        last: Option<DataInterval>,
        now: DateTime<Utc>,
    ) -> Option<DataInterval> {
        match self.schedule.time() {
            Schedule::Manual | Schedule::Datasets(_) | Schedule::DatasetsOrTime { .. } => None,
            Schedule::Once => match (last, self.start_date) {
                (None, Some(s)) => Some(DataInterval { start: s, end: s }),
                (None, None) => Some(DataInterval {
                    start: now,
                    end: now,
                }),
                (Some(_), _) => None,
            },
            Schedule::Cron(_) | Schedule::Delta(_) | Schedule::Trigger(_) => {
                // Interval timetables anchor a run on its start, trigger ones on its end.
                let trigger = self.trigger_interval().is_some();
                let mut tick = match (last, self.start_date) {
                    (Some(l), _) => self.next_tick(l.end, !trigger)?,
                    (None, Some(s)) => self.next_tick(s, true)?,
                    // No start_date: begin with the latest complete interval.
                    (None, None) => self.latest_complete_tick(now)?,
                };
                if !self.catchup
                    && let Some(latest) = self.latest_complete_tick(now)
                {
                    tick = tick.max(latest);
                }
                self.interval_at(tick)
            }
        }
    }

    /// The tick of the latest run that is due by `now`.
    fn latest_complete_tick(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let end = self.prev_tick(now, true)?;
        if self.trigger_interval().is_some() {
            return Some(end);
        }
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

    /// The runs whose logical date (interval start) lies in `[from, to]`, for backfills
    /// (`catchup` plays no part).
    pub fn between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: usize,
    ) -> Vec<DataInterval> {
        let mut out = Vec::new();
        match self.schedule.time() {
            Schedule::Manual | Schedule::Datasets(_) | Schedule::DatasetsOrTime { .. } => {}
            Schedule::Once => {
                if let Some(s) = self.start_date.filter(|s| *s >= from && *s <= to) {
                    out.push(DataInterval { start: s, end: s });
                }
            }
            Schedule::Cron(_) | Schedule::Delta(_) | Schedule::Trigger(_) => {
                let floor = self.start_date.map_or(from, |s| s.max(from));
                let mut tick = self.next_tick(floor, true);
                while let Some(t) = tick {
                    if out.len() >= limit {
                        break;
                    }
                    match self.interval_at(t) {
                        Some(i) if i.start > to => break,
                        Some(i) if i.start >= from => out.push(i),
                        Some(_) => {}
                        None => break,
                    }
                    tick = self.next_tick(t, false);
                }
            }
        }
        out
    }

    /// The data interval of a manual run at `logical_date`, as Airflow infers it: the latest
    /// complete interval at that time for interval schedules, the interval before it for
    /// trigger timetables, `[date, date]` otherwise.
    pub fn manual_interval(&self, logical_date: DateTime<Utc>) -> DataInterval {
        let point = DataInterval {
            start: logical_date,
            end: logical_date,
        };
        if let Some(before) = self.trigger_interval() {
            return chrono::Duration::from_std(before)
                .ok()
                .and_then(|b| logical_date.checked_sub_signed(b))
                .map_or(point, |start| DataInterval {
                    start,
                    end: logical_date,
                });
        }
        let end = self.prev_tick(logical_date, true);
        match end.and_then(|e| self.prev_tick(e, false).map(|s| (s, e))) {
            Some((start, end)) => DataInterval { start, end },
            None => point,
        }
    }
}

/// Where a time-based schedule's ticks come from.
enum TickSource<'a> {
    Cron(&'a CronSchedule),
    Every(std::time::Duration),
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

    #[test]
    fn trigger_timetables_run_at_their_ticks_and_deltas_count_from_the_start() {
        use crate::schedule::{Ticks, TriggerSchedule};
        let Schedule::Cron(cron) = Schedule::parse("0 1 * * 3").unwrap() else {
            unreachable!()
        };
        let s = Schedule::Trigger(Box::new(TriggerSchedule {
            ticks: Ticks::Cron(cron),
            interval: std::time::Duration::ZERO,
        }));
        let t = tt(&s, Some("2026-01-01"), None, true);
        let due = t.due(None, utc_at("2026-01-15T00:00:00"), 10);
        assert_eq!(starts(&due), ["2026-01-07 01:00", "2026-01-14 01:00"]);
        assert!(
            due.iter().all(|i| i.start == i.end),
            "a run is for its tick"
        );
        let next = t
            .next_interval(due.last().copied(), utc_at("2026-01-15"))
            .unwrap();
        assert_eq!(next.start, utc_at("2026-01-21T01:00:00"));
        let t = tt(&s, Some("2026-01-01"), None, false);
        assert_eq!(
            starts(&t.due(None, utc_at("2026-02-01"), 10)),
            ["2026-01-28 01:00"],
            "without catchup, only the latest tick"
        );
        let d = Schedule::Delta(std::time::Duration::from_secs(6 * 3600));
        let t = tt(&d, Some("2026-01-01T03:00:00"), None, true);
        let due = t.due(None, utc_at("2026-01-01T16:00:00"), 10);
        assert_eq!(starts(&due), ["2026-01-01 03:00", "2026-01-01 09:00"]);
        assert_eq!(due[1].end, utc_at("2026-01-01T15:00:00"));
        let manual = t.manual_interval(utc_at("2026-01-01T10:00:00"));
        assert_eq!(
            (manual.start, manual.end),
            (utc_at("2026-01-01T03:00:00"), utc_at("2026-01-01T09:00:00"))
        );
    }
}
