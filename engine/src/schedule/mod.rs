//! Schedules: when a DAG gets runs. Parsing lives here; run computation is in [`timetable`],
//! dataset conditions in [`condition`].

pub mod condition;
pub mod timetable;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use croner::Cron;

pub use condition::DatasetCondition;

/// When a DAG runs on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// Never on its own: only when triggered (`schedule: null`, `None`, omitted).
    Manual,
    /// Once, for the `start_date` (`@once`).
    Once,
    /// Data intervals between the ticks of a cron expression (presets such as `@daily` are
    /// stored as their expression; Airflow's `CronDataIntervalTimetable`).
    Cron(Box<CronSchedule>),
    /// Data intervals of a fixed length from `start_date` (a `timedelta` schedule, Airflow's
    /// `DeltaDataIntervalTimetable`).
    Delta(Duration),
    /// A run at every tick, its data interval the `interval` before the tick (Airflow's
    /// `CronTriggerTimetable` and `DeltaTriggerTimetable`).
    Trigger(Box<TriggerSchedule>),
    /// When the dataset condition holds over the datasets updated since the DAG's last
    /// dataset-triggered run (`schedule: {datasets: …}`, a list of datasets, assets).
    Datasets(DatasetCondition),
    /// Both on a time schedule and on datasets (`DatasetOrTimeSchedule`).
    DatasetsOrTime {
        /// The dataset condition.
        datasets: DatasetCondition,
        /// The time schedule (never itself on datasets).
        time: Box<Schedule>,
    },
}

/// The ticks of a trigger timetable, and the data interval each run covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerSchedule {
    /// When runs happen.
    pub ticks: Ticks,
    /// How far before its tick a run's data interval starts (zero: the run is for its tick).
    pub interval: Duration,
}

/// A sequence of instants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ticks {
    /// The instants a cron expression matches.
    Cron(Box<CronSchedule>),
    /// Every so long from `start_date` (or from 1970-01-01 without one).
    Every(Duration),
}

impl Schedule {
    /// The time-based part: the schedule itself, or the time schedule of
    /// [`Schedule::DatasetsOrTime`].
    pub fn time(&self) -> &Schedule {
        match self {
            Schedule::DatasetsOrTime { time, .. } => time,
            other => other,
        }
    }

    /// The dataset condition, for a schedule on datasets.
    pub fn datasets(&self) -> Option<&DatasetCondition> {
        match self {
            Schedule::Datasets(c) | Schedule::DatasetsOrTime { datasets: c, .. } => Some(c),
            _ => None,
        }
    }
}

/// A parsed five-field cron expression, with the preset it came from, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronSchedule {
    /// The text as written (`@daily` or `0 3 * * *`).
    pub text: String,
    /// The parsed expression.
    pub cron: Cron,
}

/// The presets and the cron expression each one stands for.
pub const PRESETS: [(&str, &str); 6] = [
    ("@hourly", "0 * * * *"),
    ("@daily", "0 0 * * *"),
    ("@weekly", "0 0 * * 0"),
    ("@monthly", "0 0 1 * *"),
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
];

impl Schedule {
    /// Parses a schedule as written in a DAG file.
    ///
    /// # Errors
    /// A message saying what is wrong with the expression, to be shown with its location.
    pub fn parse(text: &str) -> Result<Schedule, String> {
        let t = text.trim();
        match t {
            "" | "None" | "none" | "null" | "@none" => return Ok(Schedule::Manual),
            "@once" => return Ok(Schedule::Once),
            _ => {}
        }
        let expr = if t.starts_with('@') {
            PRESETS
                .iter()
                .find(|(name, _)| *name == t)
                .map(|(_, expr)| *expr)
                .ok_or_else(|| {
                    format!(
                        "unknown schedule preset `{t}`; presets are @once, @hourly, @daily, \
                         @weekly, @monthly, @yearly"
                    )
                })?
        } else {
            let fields = t.split_whitespace().count();
            if fields != 5 {
                return Err(format!(
                    "cron expression `{t}` has {fields} field{}; dagctl reads the 5 fields \
                     `minute hour day-of-month month day-of-week`",
                    if fields == 1 { "" } else { "s" }
                ));
            }
            t
        };
        let cron = Cron::from_str(expr)
            .map_err(|e| format!("bad cron expression `{t}`: {}", describe_cron_error(&e)))?;
        // Every date pattern repeats within 28 years (leap years and weekdays both): one
        // with no time in 28 years never fires (`0 0 31 2 *`, February 31st).
        let from =
            chrono::DateTime::<chrono::Utc>::from_timestamp(946_684_800, 0).unwrap_or_default();
        let fires = cron
            .find_next_occurrence(&from, true)
            .is_ok_and(|next| next.signed_duration_since(from).num_days() < 28 * 366);
        if !fires {
            return Err(format!(
                "cron expression `{t}` never fires (no such date): check its day of month and month"
            ));
        }
        Ok(Schedule::Cron(Box::new(CronSchedule {
            text: t.to_string(),
            cron,
        })))
    }
}

fn describe_cron_error(e: &croner::errors::CronError) -> String {
    let s = e.to_string();
    s.trim_end_matches('.').to_string()
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Manual => f.write_str("None"),
            Schedule::Once => f.write_str("@once"),
            Schedule::Cron(c) => f.write_str(&c.text),
            Schedule::Delta(d) => write!(f, "every {}", crate::duration::format_duration(*d)),
            Schedule::Trigger(t) => {
                match &t.ticks {
                    Ticks::Cron(c) => write!(f, "trigger at {}", c.text)?,
                    Ticks::Every(d) => {
                        write!(f, "trigger every {}", crate::duration::format_duration(*d))?
                    }
                }
                if !t.interval.is_zero() {
                    write!(
                        f,
                        " (interval {})",
                        crate::duration::format_duration(t.interval)
                    )?;
                }
                Ok(())
            }
            Schedule::Datasets(d) => write!(f, "datasets: {d}"),
            Schedule::DatasetsOrTime { datasets, time } => {
                write!(f, "datasets: {datasets}, or {time}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cron_that_never_fires_is_refused_and_rare_ones_are_not() {
        let e = Schedule::parse("0 0 31 2 *").unwrap_err();
        assert!(e.contains("never fires"), "{e}");
        for rare in ["0 0 29 2 *", "0 0 13 * 5", "59 23 31 12 *"] {
            assert!(Schedule::parse(rare).is_ok(), "{rare}");
        }
    }

    #[test]
    fn presets_and_cron_parse() {
        assert_eq!(Schedule::parse("@once").unwrap(), Schedule::Once);
        assert_eq!(Schedule::parse("None").unwrap(), Schedule::Manual);
        for s in [
            "@daily",
            "@hourly",
            "0 3 * * *",
            "*/15 9-17 * * MON-FRI",
            "0 0 L * *",
        ] {
            assert!(matches!(Schedule::parse(s), Ok(Schedule::Cron(_))), "{s}");
        }
    }

    #[test]
    fn bad_expressions_say_why() {
        assert!(
            Schedule::parse("@dayly")
                .unwrap_err()
                .contains("unknown schedule preset")
        );
        assert!(
            Schedule::parse("0 3 * *")
                .unwrap_err()
                .contains("has 4 fields")
        );
        assert!(
            Schedule::parse("0 0 3 * * *")
                .unwrap_err()
                .contains("has 6 fields")
        );
        assert!(
            Schedule::parse("61 * * * *")
                .unwrap_err()
                .contains("bad cron expression")
        );
    }
}
