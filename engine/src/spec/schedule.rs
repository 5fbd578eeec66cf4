//! `schedule:` (and Airflow 2's `timetable:`) as Airflow and dag-factory files write it: cron
//! expressions and presets, timetables by `__type__`, dataset schedules (read in
//! [`super::datasets`]) and dataset-or-time schedules.

use std::time::Duration;

use crate::diagnostic::Kind;
use crate::schedule::{CronSchedule, Schedule, Ticks, TriggerSchedule};
use crate::suggest::quoted_list;
use crate::yaml::Node;

use super::LoadEnv;
use super::datasets::{dataset_file, read_condition};
use super::reader::Reader;

/// The timetable classes read, by short name.
const TIMETABLES: &[&str] = &[
    "CronTriggerTimetable",
    "CronDataIntervalTimetable",
    "DeltaTriggerTimetable",
    "DeltaDataIntervalTimetable",
    "DatasetOrTimeSchedule",
    "AssetOrTimeSchedule",
    "timedelta",
];

/// Dataset (asset) classes read, by short name.
pub(super) const DATASETS: &[&str] = &["Dataset", "Asset"];

/// A schedule and, when a timetable names one, its time zone.
pub(crate) struct ReadSchedule {
    pub schedule: Schedule,
    pub timezone: Option<(chrono_tz::Tz, crate::yaml::Pos)>,
}

/// Reads `schedule:` (or `timetable:`).
pub(crate) fn read_schedule(
    r: &mut Reader<'_>,
    env: LoadEnv<'_>,
    node: &Node,
) -> Option<ReadSchedule> {
    let plain = |schedule| ReadSchedule {
        schedule,
        timezone: None,
    };
    if node.as_seq().is_some() {
        let c = read_condition(r, node, None)?;
        return Some(plain(Schedule::Datasets(c)));
    }
    if let Some(entries) = node.as_map() {
        if node.get("__type__").is_some() {
            return read_object(r, env, node);
        }
        if node.get("__and__").is_some() || node.get("__or__").is_some() {
            let c = read_condition(r, node, None)?;
            return Some(plain(Schedule::Datasets(c)));
        }
        r.check_keys(
            entries,
            &["datasets", "file", "timetable"],
            &[],
            "`schedule`",
        );
        let Some(datasets) = node.get("datasets") else {
            r.error(
                node.pos,
                Kind::InvalidSchedule,
                "a schedule mapping names no `datasets`",
            )
            .hint = Some(
                "write `schedule: {datasets: \"a & b\"}`, a timetable with `__type__`, or a cron \
                 expression"
                    .into(),
            );
            return None;
        };
        let names = match node.get("file") {
            Some(f) => Some(dataset_file(r, env, f)?),
            None => None,
        };
        let condition = read_condition(r, datasets, names.as_ref())?;
        let Some(tt) = node.get("timetable") else {
            return Some(plain(Schedule::Datasets(condition)));
        };
        let time = read_schedule(r, env, tt)?;
        if time.schedule.datasets().is_some() {
            r.error(
                tt.pos,
                Kind::InvalidSchedule,
                "the `timetable` of a dataset schedule must be time-based",
            );
            return None;
        }
        return Some(ReadSchedule {
            schedule: Schedule::DatasetsOrTime {
                datasets: condition,
                time: Box::new(time.schedule),
            },
            timezone: time.timezone,
        });
    }
    let text = r.string(node, "schedule")?;
    match Schedule::parse(&text) {
        Ok(s) => Some(plain(s)),
        Err(why) => {
            r.error(node.pos, Kind::InvalidSchedule, why).hint = Some(
                "use a 5-field cron expression (`0 3 * * *`), a preset (`@daily`, `@hourly`, \
                 `@weekly`, `@monthly`, `@yearly`, `@once`), null for manual runs only, a list \
                 of datasets, or a timetable with `__type__`"
                    .into(),
            );
            None
        }
    }
}

/// The short class name of a `__type__` value.
pub(super) fn short_type<'a>(r: &mut Reader<'_>, node: &'a Node) -> Option<(&'a str, &'a Node)> {
    let t = node.get("__type__")?;
    let Some(name) = t.as_scalar() else {
        r.error(t.pos, Kind::InvalidValue, "`__type__` must be a class name");
        return None;
    };
    Some((name.rsplit('.').next().unwrap_or(name), t))
}

/// An argument given positionally (`__args__: [...]`) or by keyword.
pub(super) fn arg<'a>(node: &'a Node, index: usize, name: &str) -> Option<&'a Node> {
    node.get(name)
        .or_else(|| node.get("__args__").and_then(|a| a.as_seq()?.get(index)))
}

/// A timetable, timedelta or dataset object written with `__type__`.
fn read_object(r: &mut Reader<'_>, env: LoadEnv<'_>, node: &Node) -> Option<ReadSchedule> {
    let (short, type_node) = short_type(r, node)?;
    let what = format!("`{short}`");
    let entries = node.as_map().unwrap_or_default();
    let plain = |schedule| ReadSchedule {
        schedule,
        timezone: None,
    };
    let keys: &[&str] = match short {
        "CronTriggerTimetable" => &[
            "__type__",
            "__args__",
            "cron",
            "timezone",
            "interval",
            "run_immediately",
        ],
        "CronDataIntervalTimetable" => &["__type__", "__args__", "cron", "timezone"],
        "DeltaTriggerTimetable" => &["__type__", "__args__", "delta", "interval"],
        "DeltaDataIntervalTimetable" => &["__type__", "__args__", "delta"],
        "DatasetOrTimeSchedule" | "AssetOrTimeSchedule" => {
            &["__type__", "timetable", "datasets", "assets"]
        }
        "timedelta" => &[
            "__type__",
            "__args__",
            "weeks",
            "days",
            "hours",
            "minutes",
            "seconds",
            "milliseconds",
        ],
        s if DATASETS.contains(&s) => &["__type__", "__args__", "uri", "name", "extra", "group"],
        _ => {
            r.error(
                type_node.pos,
                Kind::Unsupported,
                format!(
                    "timetable `{}` is not supported",
                    type_node.as_scalar().unwrap_or_default()
                ),
            )
            .hint = Some(format!(
                "dagctl reads these timetables: {}; and datasets (`airflow.sdk.Asset`, \
                 `airflow.datasets.Dataset`)",
                quoted_list(TIMETABLES.iter().copied())
            ));
            return None;
        }
    };
    r.check_keys(entries, keys, &[], &what);
    match short {
        "CronTriggerTimetable" | "CronDataIntervalTimetable" => {
            let Some(cron_node) = arg(node, 0, "cron") else {
                missing(r, node, &what, "cron");
                return None;
            };
            let cron = read_cron(r, cron_node)?;
            let timezone = node
                .get("timezone")
                .map(|tz| (super::read_timezone(r, tz), tz.pos));
            let schedule = if short == "CronTriggerTimetable" {
                if let Some(ri) = node.get("run_immediately")
                    && r.bool(ri, "run_immediately") == Some(true)
                {
                    r.error(
                        ri.pos,
                        Kind::Unsupported,
                        "`run_immediately: true` is not supported",
                    )
                    .hint = Some("remove it: the first run happens at the first tick".into());
                }
                Schedule::Trigger(Box::new(TriggerSchedule {
                    ticks: Ticks::Cron(Box::new(cron)),
                    interval: interval(r, node)?,
                }))
            } else {
                Schedule::Cron(Box::new(cron))
            };
            Some(ReadSchedule { schedule, timezone })
        }
        "DeltaTriggerTimetable" | "DeltaDataIntervalTimetable" => {
            let Some(delta_node) = arg(node, 0, "delta") else {
                missing(r, node, &what, "delta");
                return None;
            };
            let delta = positive_delta(r, delta_node, "delta")?;
            Some(plain(if short == "DeltaTriggerTimetable" {
                Schedule::Trigger(Box::new(TriggerSchedule {
                    ticks: Ticks::Every(delta),
                    interval: interval(r, node)?,
                }))
            } else {
                Schedule::Delta(delta)
            }))
        }
        "timedelta" => Some(plain(Schedule::Delta(positive_delta(r, node, "schedule")?))),
        "DatasetOrTimeSchedule" | "AssetOrTimeSchedule" => {
            let Some(tt) = node.get("timetable") else {
                missing(r, node, &what, "timetable");
                return None;
            };
            let Some(ds) = node.get("datasets").or_else(|| node.get("assets")) else {
                missing(r, node, &what, "datasets");
                return None;
            };
            let condition = read_condition(r, ds, None)?;
            let time = read_schedule(r, env, tt)?;
            Some(ReadSchedule {
                schedule: Schedule::DatasetsOrTime {
                    datasets: condition,
                    time: Box::new(time.schedule),
                },
                timezone: time.timezone,
            })
        }
        _ => {
            let c = read_condition(r, node, None)?;
            Some(plain(Schedule::Datasets(c)))
        }
    }
}

pub(super) fn missing(r: &mut Reader<'_>, node: &Node, what: &str, name: &str) {
    r.error(node.pos, Kind::MissingKey, format!("{what} needs `{name}`"))
        .hint = Some(format!("add `{name}:` (or give it first in `__args__`)"));
}

fn read_cron(r: &mut Reader<'_>, node: &Node) -> Option<CronSchedule> {
    let text = r.string(node, "cron")?;
    match Schedule::parse(&text) {
        Ok(Schedule::Cron(c)) => Some(*c),
        Ok(_) => {
            r.error(
                node.pos,
                Kind::InvalidSchedule,
                format!("`{text}` is not a cron expression"),
            )
            .hint = Some(
                "write a 5-field cron expression such as `0 1 * * 3`, or a preset such as `@daily`"
                    .into(),
            );
            None
        }
        Err(why) => {
            r.error(node.pos, Kind::InvalidSchedule, why);
            None
        }
    }
}

/// A trigger timetable's `interval` (zero when not given).
fn interval(r: &mut Reader<'_>, node: &Node) -> Option<Duration> {
    match node.get("interval") {
        None => Some(Duration::ZERO),
        Some(n) => r.duration(n, "interval"),
    }
}

fn positive_delta(r: &mut Reader<'_>, node: &Node, what: &str) -> Option<Duration> {
    let d = r.duration(node, what)?;
    if d.is_zero() {
        r.error(
            node.pos,
            Kind::InvalidSchedule,
            format!("`{what}` must be longer than zero"),
        );
        return None;
    }
    Some(d)
}
