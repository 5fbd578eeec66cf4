//! DAG files: YAML text → validated [`Dag`]s, with every problem reported as a [`Diagnostic`].
//!
//! Two file forms are read:
//! - a single DAG: a mapping with `dag_id:` and the DAG's keys;
//! - several DAGs (dag-factory's form): a mapping of dag id → DAG, with an optional `default:`
//!   block whose keys every DAG of the file inherits (`default_args` merged key by key).
//!
//! A file may hold several YAML documents (`---`), each in either form. Within a DAG, tasks
//! are a mapping of task id → task or a list of tasks with `task_id`, in any order; they may
//! belong to `task_groups`. Loading never stops at the first problem: every problem of the
//! file is collected, and only DAGs without errors are returned.

pub mod defaults;
pub mod diagnostic;
pub mod duration;
pub mod suggest;
mod templates;
pub mod yaml;

mod airflow;
mod callbacks;
mod datasets;
mod deps;
mod keys;
mod mapping;
mod policy;
mod python;
mod reader;
mod schedule;
mod task;

use std::path::Path;

use crate::dag::{Dag, Source, TaskPolicy, is_valid_id};
use crate::diagnostic::{Diagnostic, Diagnostics, Kind};
use crate::operator::OperatorRegistry;
use crate::pools::Pools;
use crate::schedule::Schedule;
use crate::yaml::{Budget, Node, Pos, key_text};

pub use defaults::Defaults;
use reader::Reader;
pub use reader::{parse_date, parse_date_in};

/// What loading needs besides the text: the known operators and pools, and the folder
/// defaults the file inherits.
#[derive(Debug, Clone, Copy)]
pub struct LoadEnv<'a> {
    /// Operators that tasks may name.
    pub registry: &'a OperatorRegistry,
    /// Pools that tasks may name.
    pub pools: &'a Pools,
    /// The `defaults.yml` files that apply to the file, closest first.
    pub defaults: &'a [Defaults],
    /// The DAG folder the file was found in (`$CONFIG_ROOT_DIR` when that is not set).
    pub root: Option<&'a Path>,
}

/// The result of loading one file: the DAGs without errors, and every diagnostic.
#[derive(Debug, Default)]
pub struct FileLoad {
    /// DAGs that loaded without error, in file order.
    pub dags: Vec<Dag>,
    /// Errors and warnings, sorted by position.
    pub diagnostics: Diagnostics,
    /// Every DAG id the file defines, valid or not, with its position: duplicates across
    /// files are errors even when one of the definitions has errors of its own.
    pub defined: Vec<(String, Pos)>,
}

/// Loads the DAGs of a YAML text that came from `file` (used in diagnostics only).
pub fn load_str(text: &str, file: &Path, env: LoadEnv<'_>) -> FileLoad {
    let mut diags = Diagnostics::default();
    let mut dags = Vec::new();
    let mut defined = Vec::new();
    match yaml::parse(text, Budget::default()) {
        Err(e) => {
            let kind = if e.budget {
                Kind::YamlBudget
            } else {
                Kind::YamlSyntax
            };
            let mut d = Diagnostic::new(file, e.pos, kind, e.message);
            if !e.budget {
                d = d.hint(
                    "fix the YAML syntax at this position (check indentation, quotes and brackets)",
                );
            }
            diags.push(d);
        }
        Ok(docs) => {
            let mut r = Reader {
                file,
                sources: env.defaults,
                diags: &mut diags,
            };
            for doc in &docs {
                load_document(&mut r, env, doc, &mut dags, &mut defined);
            }
        }
    }
    // A file-level `default:` block is read once per DAG; report each of its problems once.
    diags.0.dedup_by(|a, b| a == b);
    let mut seen = std::collections::HashSet::new();
    diags
        .0
        .retain(|d| seen.insert((d.pos, d.kind, d.message.clone())));
    diags.sort();
    FileLoad {
        dags,
        diagnostics: diags,
        defined,
    }
}

fn load_document(
    r: &mut Reader<'_>,
    env: LoadEnv<'_>,
    doc: &Node,
    out: &mut Vec<Dag>,
    defined: &mut Vec<(String, Pos)>,
) {
    if doc.is_null() {
        return;
    }
    let Some(entries) = r.map(doc, "a DAG file") else {
        return;
    };
    // Folder defaults, closest first, under everything the file says.
    let inherited: Vec<&Node> = env.defaults.iter().map(|d| &d.node).collect();
    if let Some(id_node) = doc.get("dag_id") {
        if let Some(id) = id_node.as_scalar() {
            defined.push((id.to_string(), id_node.pos));
        }
        let node = defaults::merged(doc, &inherited);
        if let Some(dag) = compile_dag(r, env, id_node, &node) {
            out.push(dag);
        }
        return;
    }
    // A dataset config file (dag-factory's `datasets: [{name, uri}, …]`) defines no DAG.
    if let [(k, v)] = entries
        && key_text(k) == "datasets"
        && v.as_seq().is_some()
    {
        return;
    }
    // Without `dag_id`, the top level is dag id → DAG. A file that looks like a single DAG
    // (it has DAG keys at the top) has simply forgotten its id.
    let dag_keys: Vec<&Node> = entries
        .iter()
        .map(|(k, _)| k)
        .filter(|k| {
            let k = key_text(k);
            k != "default" && (keys::DAG.contains(&k.as_str()))
        })
        .collect();
    if let Some(first) = dag_keys.first() {
        r.error(
            first.pos,
            Kind::MissingKey,
            format!(
                "this file has DAG keys (`{}`) at the top level but no `dag_id`",
                key_text(first)
            ),
        )
        .hint = Some(
            "add `dag_id: <name>` at the top, or nest the DAG under its id (dag-factory form)"
                .into(),
        );
        return;
    }
    let defaults = doc.get("default");
    if let Some(d) = defaults
        && let Some(entries) = r.map(d, "the `default` block")
    {
        let allowed: Vec<&str> = keys::DAG
            .iter()
            .copied()
            .filter(|k| *k != "dag_id")
            .collect();
        r.check_keys(entries, &allowed, keys::DAG_INERT, "the `default` block");
    }
    for (k, v) in entries {
        if key_text(k) == "default" {
            continue;
        }
        if v.as_map().is_none() {
            r.error(
                v.pos,
                Kind::InvalidValue,
                format!(
                    "DAG `{}` must be a mapping of DAG keys, found {}",
                    key_text(k),
                    v.kind_name()
                ),
            );
            continue;
        }
        defined.push((key_text(k), k.pos));
        let lower: Vec<&Node> = defaults
            .into_iter()
            .chain(inherited.iter().copied())
            .collect();
        let node = defaults::merged(v, &lower);
        if let Some(dag) = compile_dag(r, env, k, &node) {
            out.push(dag);
        }
    }
}

/// Reads one DAG, its defaults merged in; `id_node` is the `dag_id` value or the key the DAG
/// is nested under.
fn compile_dag(r: &mut Reader<'_>, env: LoadEnv<'_>, id_node: &Node, node: &Node) -> Option<Dag> {
    let errors_before = r.diags.error_count();
    let id = r.string(id_node, "dag_id")?;
    if !is_valid_id(&id) {
        r.error(
            id_node.pos,
            Kind::InvalidId,
            format!("invalid DAG id `{id}`"),
        )
        .hint = Some("use letters, digits, `_`, `-` and `.` only (at most 250)".into());
    }
    let what = format!("DAG `{id}`");
    let entries = r.map(node, &what)?;
    r.check_keys(entries, keys::DAG, keys::DAG_INERT, &what);
    let get = |key: &str| node.get(key);

    let description = match get("description") {
        Some(n) if !n.is_null() => r.string(n, "description"),
        _ => None,
    };
    let doc_md = match get("doc_md") {
        Some(n) if !n.is_null() => r.string(n, "doc_md"),
        _ => None,
    };
    let dagrun_timeout = match get("dagrun_timeout").or_else(|| get("dagrun_timeout_sec")) {
        Some(n) if !n.is_null() => r.duration(n, "dagrun_timeout"),
        _ => None,
    };
    if node.get("schedule").is_some() && node.get("schedule_interval").is_some() {
        let pos = node
            .key_node("schedule_interval")
            .map_or(node.pos, |k| k.pos);
        r.error(
            pos,
            Kind::InvalidValue,
            "both `schedule` and `schedule_interval` are set",
        )
        .hint = Some("keep `schedule` (`schedule_interval` is its old Airflow name)".into());
    }
    if let (Some(_), Some(k)) = (
        node.get("schedule")
            .or_else(|| node.get("schedule_interval")),
        node.key_node("timetable"),
    ) {
        r.error(
            k.pos,
            Kind::InvalidValue,
            "both `schedule` and `timetable` are set",
        )
        .hint = Some("keep one: `schedule:` takes a timetable with `__type__` too".into());
    }
    let read = match get("schedule")
        .or_else(|| get("schedule_interval"))
        .or_else(|| get("timetable"))
    {
        Some(n) if !n.is_null() => schedule::read_schedule(r, env, n),
        _ => None,
    };
    let (schedule, timetable_tz) = match read {
        Some(s) => (s.schedule, s.timezone),
        None => (Schedule::Manual, None),
    };

    // default_args, already merged key by key with the defaults'.
    let mut default_args: Vec<&(Node, Node)> = Vec::new();
    let da_keys = keys::all(&[keys::POLICY, keys::DEFAULT_ARGS_EXTRA]);
    if let Some(source) = node.get("default_args")
        && let Some(entries) = r.map(source, "`default_args`")
    {
        // DAG keys written in `default_args`: Airflow ignores them there (the DAG does not
        // read its default_args) and loads the file; so does dagctl, with a warning saying
        // where they belong.
        type Entries = Vec<(Node, Node)>;
        let (dag_level, own): (Entries, Entries) = entries.iter().cloned().partition(|(k, _)| {
            let k = key_text(k);
            keys::DAG.contains(&k.as_str()) && !da_keys.contains(&k.as_str())
        });
        for (k, _) in &dag_level {
            r.error(
                k.pos,
                Kind::Ignored,
                format!(
                    "`{}` has no effect in `default_args`: it is a DAG key, which Airflow ignores there",
                    key_text(k)
                ),
            )
            .hint = Some("move it up to the DAG (or the file's `default:` block)".into());
        }
        r.check_keys(&own, &da_keys, keys::TASK_INERT, "`default_args`");
        default_args.extend(entries.iter().filter(|(k, _)| {
            let k = key_text(k);
            !keys::DAG.contains(&k.as_str()) || da_keys.contains(&k.as_str())
        }));
    }
    let da_get = |key: &str| {
        default_args
            .iter()
            .find(|(k, _)| k.as_scalar() == Some(key))
            .map(|(_, v)| v)
    };
    let policy = policy::read_policy(r, env, default_args.iter().copied(), &TaskPolicy::default());

    let timezone = match (get("timezone").filter(|n| !n.is_null()), timetable_tz) {
        (None, None) => chrono_tz::Tz::UTC,
        (None, Some((tz, _))) => tz,
        (Some(n), tt) => {
            let tz = read_timezone(r, n);
            if let Some((other, pos)) = tt
                && other != tz
            {
                r.error(
                    pos,
                    Kind::InvalidValue,
                    format!("the timetable's time zone `{other}` differs from the DAG's `{tz}`"),
                )
                .hint = Some("keep one `timezone`".into());
            }
            tz
        }
    };
    let start_date = get("start_date")
        .or_else(|| da_get("start_date"))
        .filter(|n| !n.is_null())
        .and_then(|n| r.date(n, "start_date", timezone));
    let end_node = get("end_date")
        .or_else(|| da_get("end_date"))
        .filter(|n| !n.is_null());
    let end_date = end_node.and_then(|n| r.date(n, "end_date", timezone));
    if let (Some(s), Some(e), Some(n)) = (start_date, end_date, end_node)
        && s > e
    {
        r.error(
            n.pos,
            Kind::DateOrder,
            format!("`end_date` {e} is before `start_date` {s}"),
        )
        .hint = Some("swap the dates, or remove `end_date` to run without end".into());
    }
    let catchup = get("catchup")
        .and_then(|n| r.bool(n, "catchup"))
        .unwrap_or(false);
    let paused_upon_creation = get("is_paused_upon_creation")
        .and_then(|n| r.bool(n, "is_paused_upon_creation"))
        .unwrap_or(false);
    let max_active_runs = get("max_active_runs")
        .and_then(|n| r.positive(n, "max_active_runs"))
        .unwrap_or(16);
    let max_active_tasks = get("max_active_tasks")
        .or_else(|| get("concurrency"))
        .and_then(|n| r.positive(n, "max_active_tasks"))
        .unwrap_or(16);
    let params = get("params").map(|n| read_params(r, n)).unwrap_or_default();
    let tags = get("tags")
        .map(|n| r.string_list(n, "tags"))
        .unwrap_or_default()
        .into_iter()
        .map(|(t, _)| t)
        .collect();

    let on_failure_callback = get("on_failure_callback")
        .map(|n| callbacks::read_callbacks(r, env, n, "on_failure_callback"))
        .unwrap_or_default();
    let on_success_callback = get("on_success_callback")
        .map(|n| callbacks::read_callbacks(r, env, n, "on_success_callback"))
        .unwrap_or_default();
    let groups = deps::read_groups(r, node.get("task_groups"));
    let tasks = match node.get("tasks") {
        Some(n) => task::read_tasks(r, env, &id, n, &policy, &groups),
        None => {
            r.error(
                node.pos,
                Kind::MissingKey,
                format!("DAG `{id}` has no `tasks`"),
            )
            .hint = Some("add a `tasks:` mapping of task id → task".into());
            Vec::new()
        }
    };
    let resolved = deps::resolve(r, &id, tasks, &groups);

    if r.diags.error_count() > errors_before {
        return None;
    }
    let (tasks, graph) = resolved?;
    Some(Dag {
        id,
        description,
        schedule,
        timezone,
        start_date,
        end_date,
        catchup,
        paused_upon_creation,
        max_active_runs,
        max_active_tasks,
        dagrun_timeout,
        doc_md,
        params,
        tags,
        tasks,
        graph,
        on_failure_callback,
        on_success_callback,
        source: Source {
            file: r.file.to_path_buf(),
            pos: id_node.pos,
        },
    })
}

fn read_timezone(r: &mut Reader<'_>, node: &Node) -> chrono_tz::Tz {
    let Some(name) = r.string(node, "timezone") else {
        return chrono_tz::Tz::UTC;
    };
    if let Some(tz) = crate::timetable::parse_timezone(&name) {
        return tz;
    }
    let names = chrono_tz::TZ_VARIANTS.iter().map(|t| t.name());
    let hint = match crate::suggest::closest(&name, names) {
        Some(c) => format!("did you mean `{c}`?"),
        None => {
            "use an IANA time zone name such as `UTC`, `Europe/Paris` or `America/New_York`".into()
        }
    };
    r.error(
        node.pos,
        Kind::InvalidValue,
        format!("unknown time zone `{name}`"),
    )
    .hint = Some(hint);
    chrono_tz::Tz::UTC
}

/// `params`: name → default value, or Airflow's Param form `{default: …, description: …}`.
fn read_params(r: &mut Reader<'_>, node: &Node) -> serde_json::Map<String, serde_json::Value> {
    const PARAM_KEYS: &[&str] = &[
        "default",
        "description",
        "type",
        "enum",
        "minimum",
        "maximum",
    ];
    let mut out = serde_json::Map::new();
    let Some(entries) = r.map(node, "`params`") else {
        return out;
    };
    for (k, v) in entries {
        let value = match v.as_map() {
            Some(m)
                if v.get("default").is_some()
                    && m.iter()
                        .all(|(pk, _)| PARAM_KEYS.contains(&key_text(pk).as_str())) =>
            {
                v.get("default").map(Node::to_json).unwrap_or_default()
            }
            _ => v.to_json(),
        };
        out.insert(key_text(k), value);
    }
    out
}

/// Loads the DAGs of one file from disk.
pub fn load_file(path: &Path, env: LoadEnv<'_>) -> FileLoad {
    match std::fs::read_to_string(path) {
        Ok(text) => load_str(&text, path, env),
        Err(e) => {
            let mut load = FileLoad::default();
            load.diagnostics.push(Diagnostic::new(
                path,
                Pos::default(),
                Kind::Io,
                format!("cannot read the file: {e}"),
            ));
            load
        }
    }
}
