//! `schedule:` (and Airflow 2's `timetable:`) as Airflow and dag-factory files write it: cron
//! expressions and presets, timetables by `__type__`, datasets as URIs, lists, conditions and
//! assets, dataset configs from a file, and dataset-or-time schedules; and task
//! `outlets`/`inlets`, which name datasets the same ways.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::diagnostic::Kind;
use crate::schedule::{CronSchedule, DatasetCondition, Schedule, Ticks, TriggerSchedule};
use crate::suggest::quoted_list;
use crate::yaml::Node;

use super::LoadEnv;
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
const DATASETS: &[&str] = &["Dataset", "Asset"];

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
fn short_type<'a>(r: &mut Reader<'_>, node: &'a Node) -> Option<(&'a str, &'a Node)> {
    let t = node.get("__type__")?;
    let Some(name) = t.as_scalar() else {
        r.error(t.pos, Kind::InvalidValue, "`__type__` must be a class name");
        return None;
    };
    Some((name.rsplit('.').next().unwrap_or(name), t))
}

/// An argument given positionally (`__args__: [...]`) or by keyword.
fn arg<'a>(node: &'a Node, index: usize, name: &str) -> Option<&'a Node> {
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

fn missing(r: &mut Reader<'_>, node: &Node, what: &str, name: &str) {
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

/// Dataset names → URIs, from a dag-factory dataset config file.
pub(crate) struct DatasetFile {
    path: PathBuf,
    uris: BTreeMap<String, String>,
}

/// Reads the dataset config file named by `node` (`$VARS` expanded, `$CONFIG_ROOT_DIR`
/// standing for the DAG folder when not set; relative to the DAG file's folder).
pub(crate) fn dataset_file(
    r: &mut Reader<'_>,
    env: LoadEnv<'_>,
    node: &Node,
) -> Option<DatasetFile> {
    let written = r.string(node, "file")?;
    let expanded = match expand_vars(&written, env) {
        Ok(p) => p,
        Err(var) => {
            r.error(
                node.pos,
                Kind::InvalidValue,
                format!("`file: {written}` uses `${var}`, which is not set"),
            )
            .hint = Some(format!(
                "set the environment variable {var}, or write the path relative to the DAG file"
            ));
            return None;
        }
    };
    let folder = r.file.parent().unwrap_or(std::path::Path::new("."));
    let path = folder.join(expanded);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            r.error(
                node.pos,
                Kind::Io,
                format!("cannot read the dataset file `{}`: {e}", path.display()),
            );
            return None;
        }
    };
    let bad = |r: &mut Reader<'_>, why: String| {
        r.error(
            node.pos,
            Kind::InvalidValue,
            format!("dataset file `{}`: {why}", path.display()),
        )
        .hint = Some("write `datasets:` as a list of `{name: …, uri: …}`".into());
    };
    let doc = match crate::yaml::parse(&text, crate::yaml::Budget::default()) {
        Ok(mut docs) if !docs.is_empty() => docs.remove(0),
        Ok(_) => {
            bad(r, "it is empty".into());
            return None;
        }
        Err(e) => {
            bad(r, format!("line {}: {}", e.pos.line, e.message));
            return None;
        }
    };
    let mut uris = BTreeMap::new();
    for item in doc
        .get("datasets")
        .and_then(Node::as_seq)
        .unwrap_or_default()
    {
        match (
            item.get("name").and_then(Node::as_scalar),
            item.get("uri").and_then(Node::as_scalar),
        ) {
            (Some(name), Some(uri)) => {
                uris.insert(name.to_string(), uri.to_string());
            }
            _ => {
                bad(
                    r,
                    format!("the entry at line {} lacks `name` or `uri`", item.pos.line),
                );
                return None;
            }
        }
    }
    if uris.is_empty() {
        bad(r, "it has no `datasets`".into());
        return None;
    }
    Some(DatasetFile { path, uris })
}

/// `$VAR` and `${VAR}` replaced from the environment; the name of the first unset one.
fn expand_vars(text: &str, env: LoadEnv<'_>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, len) = match after.strip_prefix('{') {
            Some(inner) => match inner.find('}') {
                Some(end) => (&inner[..end], end + 2),
                None => (inner, inner.len() + 1),
            },
            None => {
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                (&after[..end], end)
            }
        };
        if name.is_empty() {
            out.push('$');
            rest = after;
            continue;
        }
        let value = std::env::var(name).ok().or_else(|| {
            (name == "CONFIG_ROOT_DIR")
                .then(|| {
                    env.root.map(|p| {
                        std::path::absolute(p)
                            .unwrap_or_else(|_| p.to_path_buf())
                            .to_string_lossy()
                            .into_owned()
                    })
                })
                .flatten()
        });
        match value {
            Some(v) => out.push_str(&v),
            None => return Err(name.to_string()),
        }
        rest = &after[len..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A dataset condition: a condition string, a list (all of), `__and__`/`__or__` mappings,
/// or dataset objects; with a dataset file, names are replaced by their URIs.
pub(crate) fn read_condition(
    r: &mut Reader<'_>,
    node: &Node,
    file: Option<&DatasetFile>,
) -> Option<DatasetCondition> {
    let c = condition_tree(r, node)?;
    let Some(file) = file else {
        return Some(c);
    };
    rename(r, node, c, file)
}

fn condition_tree(r: &mut Reader<'_>, node: &Node) -> Option<DatasetCondition> {
    if let Some(items) = node.as_seq() {
        if items.is_empty() {
            no_dataset(r, node);
            return None;
        }
        let parts: Option<Vec<_>> = items.iter().map(|i| condition_tree(r, i)).collect();
        return Some(DatasetCondition::all(parts?));
    }
    if let Some(entries) = node.as_map() {
        for (op, all) in [("__and__", true), ("__or__", false)] {
            if let Some(items) = node.get(op) {
                r.check_keys(entries, &[op], &[], &format!("`{op}`"));
                let Some(list) = items.as_seq().filter(|l| !l.is_empty()) else {
                    r.error(
                        items.pos,
                        Kind::InvalidValue,
                        format!("`{op}` must be a list of datasets or conditions"),
                    );
                    return None;
                };
                let parts: Option<Vec<_>> = list.iter().map(|i| condition_tree(r, i)).collect();
                let parts = parts?;
                return Some(if all {
                    DatasetCondition::all(parts)
                } else {
                    DatasetCondition::any(parts)
                });
            }
        }
        if let Some((short, t)) = short_type(r, node) {
            if DATASETS.contains(&short) {
                r.check_keys(
                    entries,
                    &["__type__", "__args__", "uri", "name", "extra", "group"],
                    &[],
                    &format!("`{short}`"),
                );
                let Some(u) = arg(node, 0, "uri").or_else(|| node.get("name")) else {
                    missing(r, node, &format!("`{short}`"), "uri");
                    return None;
                };
                return r.string(u, "uri").map(DatasetCondition::Dataset);
            }
            r.error(
                t.pos,
                Kind::Unsupported,
                format!("`{}` is not a dataset", t.as_scalar().unwrap_or_default()),
            )
            .hint =
                Some("name datasets by URI, or as `{__type__: airflow.sdk.Asset, uri: …}`".into());
            return None;
        }
        r.error(
            node.pos,
            Kind::InvalidValue,
            "expected a dataset, a list of datasets or a condition",
        )
        .hint = Some("write `\"(a & b) | c\"`, a list (all of them), or `{__or__: [...]}`".into());
        return None;
    }
    let text = r.string(node, "datasets")?;
    match DatasetCondition::parse(&text) {
        Ok(c) => Some(c),
        Err(e) => {
            r.error(
                node.pos,
                Kind::InvalidSchedule,
                format!(
                    "bad dataset condition `{text}` at character {}: {}",
                    e.offset + 1,
                    e.message
                ),
            )
            .hint = Some(
                "join datasets with `&` (all) and `|` (any), with parentheses: `(a & b) | c`"
                    .into(),
            );
            None
        }
    }
}

fn no_dataset(r: &mut Reader<'_>, node: &Node) {
    r.error(
        node.pos,
        Kind::InvalidSchedule,
        "a dataset schedule names no dataset",
    )
    .hint = Some("write `schedule: {datasets: [prepared_data]}`".into());
}

/// The condition with dataset names replaced by the file's URIs.
fn rename(
    r: &mut Reader<'_>,
    node: &Node,
    c: DatasetCondition,
    file: &DatasetFile,
) -> Option<DatasetCondition> {
    Some(match c {
        DatasetCondition::Dataset(name) => match file.uris.get(&name) {
            Some(uri) => DatasetCondition::Dataset(uri.clone()),
            None => {
                let hint = crate::suggest::hint_with(
                    &name,
                    file.uris.keys().map(String::as_str),
                    &format!(
                        "names in the file: {}",
                        quoted_list(file.uris.keys().map(String::as_str))
                    ),
                );
                r.error(
                    node.pos,
                    Kind::InvalidValue,
                    format!("dataset `{name}` is not in `{}`", file.path.display()),
                )
                .hint = Some(hint);
                return None;
            }
        },
        DatasetCondition::All(items) => DatasetCondition::All(
            items
                .into_iter()
                .map(|i| rename(r, node, i, file))
                .collect::<Option<_>>()?,
        ),
        DatasetCondition::Any(items) => DatasetCondition::Any(
            items
                .into_iter()
                .map(|i| rename(r, node, i, file))
                .collect::<Option<_>>()?,
        ),
    })
}

/// Task `outlets` / `inlets`: a URI, a list of URIs or dataset objects, or dag-factory's
/// `{file: …, datasets: [names]}`.
pub(crate) fn read_dataset_refs(
    r: &mut Reader<'_>,
    env: LoadEnv<'_>,
    node: &Node,
    what: &str,
) -> Vec<String> {
    if node.is_null() {
        return Vec::new();
    }
    if let Some(entries) = node.as_map()
        && node.get("__type__").is_none()
    {
        r.check_keys(entries, &["file", "datasets"], &[], &format!("`{what}`"));
        let (Some(f), Some(names)) = (node.get("file"), node.get("datasets")) else {
            r.error(
                node.pos,
                Kind::MissingKey,
                format!("`{what}` as a mapping needs `file` and `datasets`"),
            )
            .hint = Some(format!(
                "write `{what}: [s3://bucket/path]`, or `{what}: {{file: datasets.yml, datasets: [name]}}`"
            ));
            return Vec::new();
        };
        let Some(file) = dataset_file(r, env, f) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (name, pos) in r.string_list(names, "datasets") {
            match file.uris.get(&name) {
                Some(uri) => out.push(uri.clone()),
                None => {
                    let at = crate::yaml::Node {
                        pos,
                        ..names.clone()
                    };
                    let _ = rename(r, &at, DatasetCondition::Dataset(name), &file);
                }
            }
        }
        return out;
    }
    let items: Vec<&Node> = match node.as_seq() {
        Some(items) => items.iter().collect(),
        None => vec![node],
    };
    let mut out = Vec::new();
    for item in items {
        if item.as_map().is_some() {
            match short_type(r, item) {
                Some((short, _)) if DATASETS.contains(&short) => {
                    if let Some(DatasetCondition::Dataset(uri)) = condition_tree(r, item) {
                        out.push(uri);
                    }
                }
                Some((_, t)) => {
                    r.error(
                        t.pos,
                        Kind::Unsupported,
                        format!(
                            "`{}` in `{what}` is not supported",
                            t.as_scalar().unwrap_or_default()
                        ),
                    )
                    .hint = Some("name datasets by URI (dataset aliases are not supported)".into());
                }
                None => {
                    r.error(
                        item.pos,
                        Kind::InvalidValue,
                        format!("`{what}` lists datasets by URI, found {}", item.kind_name()),
                    );
                }
            }
            continue;
        }
        if let Some(s) = r.string(item, what) {
            out.push(s);
        }
    }
    out
}
