//! Tasks: engine keys, run policy (`default_args` and per-task overrides), operator and its
//! arguments, checked by the operator itself.

use crate::dag::{TaskPolicy, is_valid_id};
use crate::diagnostic::Kind;
use crate::operator::{ArgsError, ArgsProblem};
use crate::suggest::{closest, hint_with, quoted_list};
use crate::yaml::{Node, PathSegment, Pos, key_text};

use super::LoadEnv;
use super::airflow::{self, OperatorName};
use super::deps::Groups;
use super::keys;
use super::mapping;
use super::policy::read_policy;
use super::reader::Reader;

/// A task as read, before its dependencies are resolved.
pub(crate) struct TaskDraft {
    pub id: String,
    pub pos: Pos,
    pub operator: String,
    pub args: serde_json::Value,
    pub deps: Vec<(String, Pos)>,
    pub policy: TaskPolicy,
    pub group: Option<String>,
    pub outlets: Vec<String>,
    pub inlets: Vec<String>,
    pub doc: Option<String>,
    pub mapping: Option<crate::dag::mapping::Mapping>,
}

/// Reads `tasks:`, a mapping of id → task or a list of tasks with `task_id`.
pub(crate) fn read_tasks(
    r: &mut Reader<'_>,
    env: LoadEnv<'_>,
    dag_id: &str,
    node: &Node,
    base: &TaskPolicy,
    groups: &Groups,
) -> Vec<TaskDraft> {
    // (id, position of the id, task node)
    let mut listed: Vec<(String, Pos, &Node)> = Vec::new();
    if let Some(entries) = node.as_map() {
        for (k, v) in entries {
            let id = key_text(k);
            if let Some(inner) = v.get("task_id")
                && inner.as_scalar() != Some(id.as_str())
            {
                r.error(
                    inner.pos,
                    Kind::InvalidValue,
                    format!(
                        "`task_id` `{}` differs from the key `{id}` it is listed under",
                        key_text(inner)
                    ),
                )
                .hint = Some("remove `task_id` or make it equal to the key".into());
            }
            listed.push((id, k.pos, v));
        }
    } else if let Some(items) = node.as_seq() {
        for item in items {
            match item.get("task_id") {
                Some(idn) => {
                    if let Some(id) = r.string(idn, "task_id") {
                        listed.push((id, idn.pos, item));
                    }
                }
                None => {
                    r.error(item.pos, Kind::MissingKey, "this task has no `task_id`")
                        .hint = Some("tasks in a list need `task_id: <name>`".into());
                }
            }
        }
    } else if !node.is_null() {
        r.error(
            node.pos,
            Kind::InvalidValue,
            format!(
                "`tasks` must be a mapping of task id → task or a list of tasks, found {}",
                node.kind_name()
            ),
        );
    }

    let mut drafts: Vec<TaskDraft> = Vec::with_capacity(listed.len());
    let mut first_seen: std::collections::HashMap<String, Pos> = Default::default();
    for (id, pos, tnode) in listed {
        if let Some(first) = first_seen.get(&id) {
            r.error(
                pos,
                Kind::DuplicateTask,
                format!("task id `{id}` is defined twice in DAG `{dag_id}`"),
            )
            .hint = Some(format!(
                "first defined at line {}; rename one of them",
                first.line
            ));
            continue;
        }
        first_seen.insert(id.clone(), pos);
        if !is_valid_id(&id) {
            r.error(pos, Kind::InvalidId, format!("invalid task id `{id}`"))
                .hint = Some("use letters, digits, `_`, `-` and `.` only (at most 250)".into());
        }
        if let Some(d) = read_task(r, env, &id, pos, tnode, base, groups) {
            drafts.push(d);
        }
    }
    drafts
}

fn read_task(
    r: &mut Reader<'_>,
    env: LoadEnv<'_>,
    id: &str,
    pos: Pos,
    node: &Node,
    base: &TaskPolicy,
    groups: &Groups,
) -> Option<TaskDraft> {
    let what = format!("task `{id}`");
    let entries = r.map(node, &what)?;
    let mut engine_entries: Vec<&(Node, Node)> = Vec::new();
    let mut args = serde_json::Map::new();
    // A mapped task's `partial` entries count as its own.
    let mut own: Vec<&(Node, Node)> = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let key = key_text(&entry.0);
        if !r.duplicate_key(entries, i, &what) && !mapping::KEYS.contains(&key.as_str()) {
            own.push(entry);
        }
    }
    let partial = mapping::partial_entries(r, node);
    for (i, entry) in partial.iter().enumerate() {
        let key = key_text(&entry.0);
        let reported = keys::TASK.contains(&key.as_str())
            || mapping::KEYS.contains(&key.as_str())
            || node.get(&key).is_some();
        if !r.duplicate_key(partial, i, "`partial`") && !reported {
            own.push(entry);
        }
    }
    let python = super::python::runs_python(node, env);
    for entry in own {
        let (k, v) = entry;
        let key = key_text(k);
        if key == "decorator" && node.get("operator").is_none() {
            // The task's operator (below).
        } else if super::python::KEYS.contains(&key.as_str()) && !python {
            r.error(
                k.pos,
                Kind::Unsupported,
                format!("`{key}` in {what}: only a `PythonOperator` task runs a Python callable"),
            )
            .hint = Some(airflow::python_hint());
        } else if let Some(rule) = keys::TASK_INERT.iter().find(|r| r.key == key) {
            r.check_inert(rule, k, v, &what);
        } else if keys::TASK.contains(&key.as_str()) || keys::POLICY.contains(&key.as_str()) {
            engine_entries.push(entry);
        } else {
            args.insert(key, v.to_json());
        }
    }
    let mut xcom_upstream = Vec::new();
    if python {
        xcom_upstream = super::python::prepare(r, env, node, &mut args);
    }
    // A group's `default_args` (its parents' first) come between the DAG's and the task's.
    let group_name = node
        .get("task_group_name")
        .and_then(|n| n.as_scalar())
        .map(str::to_string);
    let mut base = base.clone();
    if let Some(g) = &group_name {
        for da in groups.default_args(g) {
            base = read_policy(r, env, da.as_map().unwrap_or_default(), &base);
        }
    }
    let policy = read_policy(r, env, engine_entries.iter().copied(), &base);
    if python {
        // `python:` on the task or in `default_args`: the interpreter the operator starts.
        if let Some(p) = &policy.python {
            args.insert("python".into(), p.clone().into());
        }
        super::python::check_interpreter(r, node, &args);
    }
    let mut deps = node
        .get("dependencies")
        .map(|n| r.string_list(n, "dependencies"))
        .unwrap_or_default();
    let args_json = serde_json::Value::Object(args.clone());
    let mapped = mapping::read_mapping(r, node, &args_json);
    if let Some(m) = &mapped {
        // As Airflow: expanding over a task's output makes the task an upstream.
        deps.extend(m.upstream.iter().cloned());
    }
    let group = match node.get("task_group_name") {
        Some(n) if !n.is_null() => {
            let name = r.string(n, "task_group_name");
            if let Some(g) = &name
                && !groups.contains(g)
            {
                groups.report_unknown(r, g, n.pos);
            }
            name
        }
        _ => None,
    };
    let mut args = serde_json::Value::Object(args);
    let outlets = node
        .get("outlets")
        .map(|n| super::datasets::read_dataset_refs(r, env, n, "outlets"))
        .unwrap_or_default();
    let doc = match node.get("doc_md").or_else(|| node.get("doc")) {
        Some(n) if !n.is_null() => r.string(n, "doc_md"),
        _ => None,
    };
    let inlets = node
        .get("inlets")
        .map(|n| super::datasets::read_dataset_refs(r, env, n, "inlets"))
        .unwrap_or_default();

    // As Airflow: a TaskFlow argument that takes a task's result makes it an upstream.
    deps.extend(xcom_upstream);
    let operator = match node.get("operator").or_else(|| node.get("decorator")) {
        None => {
            r.error(pos, Kind::MissingKey, format!("{what} has no `operator`"))
                .hint = Some(format!(
                "add `operator:` with one of: {}",
                quoted_list(env.registry.names())
            ));
            String::new()
        }
        Some(op_node) => {
            let name = r.string(op_node, "operator").unwrap_or_default();
            // Problems are reported; the name stays for the draft (its DAG is left out).
            match &mapped {
                None => operator(r, env, &name, op_node.pos, node, &mut args, id, "", &[])
                    .unwrap_or(name),
                Some(m) => {
                    mapped_operator(r, env, &name, op_node.pos, node, &mut args, id, &m.mapping)
                        .unwrap_or(name)
                }
            }
        }
    };
    Some(TaskDraft {
        id: id.to_string(),
        pos,
        operator,
        args,
        deps,
        policy,
        group,
        outlets,
        inlets,
        doc,
        mapping: mapped.map(|m| m.mapping),
    })
}

/// [`operator`] for a mapped task: its arguments are checked with each listed item of what
/// it is expanded over (the first through [`operator`], the others reported at the item), a
/// value known only at run time standing in as a template. `args` keep only the task's own.
#[allow(clippy::too_many_arguments)]
fn mapped_operator(
    r: &mut Reader<'_>,
    env: LoadEnv<'_>,
    name: &str,
    op_pos: Pos,
    node: &Node,
    args: &mut serde_json::Value,
    id: &str,
    m: &crate::dag::mapping::Mapping,
) -> Option<String> {
    use crate::dag::mapping::MapSource;
    let mut sample = args.clone();
    let mut late: Vec<&str> = Vec::new();
    for (key, source) in &m.expand {
        let value = match source {
            MapSource::Items(items) => match items.first() {
                Some(first) => first.clone(),
                None => continue,
            },
            MapSource::Xcom { .. } | MapSource::Template(_) => {
                late.push(key);
                serde_json::Value::String("{{ mapped }}".into())
            }
        };
        sample[key] = value;
    }
    let op = operator(r, env, name, op_pos, node, &mut sample, id, "", &late)?;
    let checker = env.registry.get(&op)?;
    for (key, source) in &m.expand {
        let MapSource::Items(items) = source else {
            continue;
        };
        let item_nodes = node
            .get("expand")
            .and_then(|e| e.get(key))
            .and_then(|n| n.as_seq());
        for (i, item) in items.iter().enumerate().skip(1) {
            let mut each = sample.clone();
            each[key] = item.clone();
            if let Err(e) = checker.check_args(&each) {
                let pos = item_nodes.and_then(|n| n.get(i)).map_or(op_pos, |n| n.pos);
                r.error(
                    pos,
                    Kind::OperatorArgs,
                    format!("item {i} of `expand: {{{key}: …}}` in task `{id}`: {e}"),
                );
                return None;
            }
        }
    }
    // Paths of the task's own arguments were resolved in `sample`.
    if let (serde_json::Value::Object(s), serde_json::Value::Object(a)) = (&sample, &mut *args) {
        for (k, v) in s {
            if a.contains_key(k) {
                a.insert(k.clone(), v.clone());
            }
        }
    }
    Some(op)
}

/// Resolves an `operator:` value (a dagctl operator or an Airflow class that maps onto one) and
/// checks `args` with it, relative paths resolved from the DAG file's folder. Every problem is
/// reported where it is written (`subject` names the task or callback in argument errors,
/// `context` follows "unknown operator `x`"); `None` then. An empty name was reported already.
#[allow(clippy::too_many_arguments)]
pub(super) fn operator(
    r: &mut Reader<'_>,
    env: LoadEnv<'_>,
    name: &str,
    op_pos: Pos,
    node: &Node,
    args: &mut serde_json::Value,
    subject: &str,
    context: &str,
    late: &[&str],
) -> Option<String> {
    match airflow::resolve(name, env.registry) {
        OperatorName::Known(op) => {
            let o = env.registry.get(&op)?;
            resolve_paths(r, args, o.path_args(), node);
            match o.check_args(args) {
                // An argument known only at run time stands in as a template: what the
                // operator says of it is checked then.
                Err(e) if matches!(e.path.first(), Some(PathSegment::Key(k)) if late.contains(&k.as_str())) =>
                    {}
                Err(e) => {
                    report_args_error(r, &op, subject, node, op_pos, e);
                    return None;
                }
                Ok(()) => {}
            }
            if !super::templates::check(r, node, args, o.shell_args(), subject, late) {
                return None;
            }
            Some(op)
        }
        OperatorName::Unsupported { message, hint } => {
            r.error(op_pos, Kind::Unsupported, message).hint = Some(hint);
            None
        }
        OperatorName::Unknown if name.is_empty() => None,
        OperatorName::Unknown => {
            let list = format!("known operators: {}", quoted_list(env.registry.names()));
            r.error(
                op_pos,
                Kind::UnknownOperator,
                format!("unknown operator `{name}`{context}"),
            )
            .hint = Some(hint_with(name, env.registry.names(), &list));
            None
        }
    }
}

/// Turns an operator's [`ArgsError`] into a diagnostic at the offending key or value.
pub(super) fn report_args_error(
    r: &mut Reader<'_>,
    op: &str,
    task: &str,
    node: &Node,
    op_pos: Pos,
    e: ArgsError,
) {
    let dotted = e
        .path
        .iter()
        .map(|s| match s {
            PathSegment::Key(k) => k.clone(),
            PathSegment::Index(i) => i.to_string(),
        })
        .collect::<Vec<_>>()
        .join(".");
    match e.problem {
        ArgsProblem::Unknown { name, expected } => {
            let parent = node.descend(&e.path[..e.path.len().saturating_sub(1)]);
            let pos = parent.key_node(&name).map_or(parent.pos, |k| k.pos);
            let top_level = e.path.len() <= 1;
            let mut candidates: Vec<&str> = expected.iter().map(String::as_str).collect();
            if top_level {
                candidates.extend(keys::TASK.iter().chain(keys::POLICY));
            }
            let hint = match closest(&name, candidates) {
                Some(c) => format!("did you mean `{c}`?"),
                None if expected.is_empty() && top_level => {
                    format!("operator `{op}` takes no arguments")
                }
                None => format!(
                    "operator `{op}` takes: {}",
                    quoted_list(expected.iter().map(String::as_str))
                ),
            };
            r.error(
                pos,
                Kind::OperatorArgs,
                format!("unknown argument `{dotted}` for operator `{op}` in task `{task}`"),
            )
            .hint = Some(hint);
        }
        ArgsProblem::Missing { name } => {
            let at = node.descend(&e.path);
            let pos = if e.path.is_empty() { op_pos } else { at.pos };
            let full = if dotted.is_empty() {
                name.clone()
            } else {
                format!("{dotted}.{name}")
            };
            r.error(
                pos,
                Kind::OperatorArgs,
                format!("operator `{op}` in task `{task}` is missing its argument `{full}`"),
            )
            .hint = Some(format!("add `{name}` to the task"));
        }
        ArgsProblem::Invalid { message } => {
            let pos = if e.path.is_empty() {
                op_pos
            } else {
                node.descend(&e.path).pos
            };
            let subject = if dotted.is_empty() {
                format!("operator `{op}` in task `{task}`")
            } else {
                format!("argument `{dotted}` of operator `{op}` in task `{task}`")
            };
            r.error(pos, Kind::OperatorArgs, format!("{subject}: {message}"));
        }
    }
}

/// Rewrites the relative paths in `names` of `args` to paths from the folder of the DAG
/// file (see [`crate::Operator::path_args`]); a templated value is left as written. A path
/// that leaves that folder — climbing out with `..`, absolute elsewhere, or through a
/// symbolic link — is an error at its key, so a DAG file cannot make dagctl read (and report
/// on) files outside its folder.
pub(super) fn resolve_paths(
    r: &mut Reader,
    args: &mut serde_json::Value,
    names: &[&str],
    node: &Node,
) {
    use std::path::{Component, Path};
    // Most tasks name no path: the folder is looked up (links resolved) only for those that do.
    let given = |name: &&str| matches!(args.get(*name), Some(serde_json::Value::String(_)));
    if !names.iter().any(given) {
        return;
    }
    let folder = r.file.parent().unwrap_or(Path::new("."));
    let folder = std::path::absolute(folder).unwrap_or_else(|_| folder.to_path_buf());
    let real_folder = folder.canonicalize().unwrap_or_else(|_| folder.clone());
    for name in names {
        let Some(serde_json::Value::String(text)) = args.get(*name) else {
            continue;
        };
        let path = Path::new(text);
        if text.contains("{{") {
            continue;
        }
        let mut depth = 0i32;
        let climbs = path.components().any(|c| {
            depth += match c {
                Component::ParentDir => -1,
                Component::Normal(_) => 1,
                _ => 0,
            };
            depth < 0
        });
        let full = folder.join(path);
        // Where the path really leads, links followed (a missing file is reported later,
        // by the operator, naming the path as written).
        let real = full.canonicalize().ok();
        let outside = (path.is_absolute() && !full.starts_with(&folder))
            || climbs
            || real.is_some_and(|p| !p.starts_with(&real_folder));
        if outside {
            let pos = node.get(name).map_or(node.pos, |n| n.pos);
            r.error(
                pos,
                Kind::InvalidValue,
                format!("`{name}: {text}` leaves the folder of the DAG file"),
            )
            .hint = Some(format!(
                "paths are read from `{}` and below; move the file there",
                folder.display()
            ));
            continue;
        }
        args[*name] = serde_json::Value::String(full.to_string_lossy().into_owned());
    }
}
