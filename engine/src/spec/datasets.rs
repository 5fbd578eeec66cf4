//! Datasets as Airflow and dag-factory files name them: URIs, lists (all of them), condition
//! strings, `__and__`/`__or__`, asset objects, and names from a dataset config file; in
//! schedules and in task `outlets`/`inlets`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::diagnostic::Kind;
use crate::schedule::DatasetCondition;
use crate::suggest::quoted_list;
use crate::yaml::Node;

use super::LoadEnv;
use super::reader::Reader;
use super::schedule::{DATASETS, arg, missing, short_type};

/// Dataset aliases (Airflow 2's `DatasetAlias`, Airflow 3's `AssetAlias`).
const ALIASES: &[&str] = &["DatasetAlias", "AssetAlias"];

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
pub(super) fn expand_vars(text: &str, env: LoadEnv<'_>) -> Result<String, String> {
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
                Some((short, t)) if ALIASES.contains(&short) => {
                    // Airflow records an alias's events only for the datasets a task adds
                    // through it at run time (Python's `outlet_events[alias].add(…)`); a task
                    // that adds none records none. The file loads; the warning says so.
                    let entries = item.as_map().unwrap_or_default();
                    r.check_keys(
                        entries,
                        &["__type__", "__args__", "name"],
                        &[],
                        &format!("`{short}`"),
                    );
                    let name = arg(item, 0, "name")
                        .and_then(|n| n.as_scalar())
                        .unwrap_or_default()
                        .to_string();
                    r.error(
                        t.pos,
                        Kind::Ignored,
                        format!(
                            "`{short}` `{name}` in `{what}` records no dataset event: events reach an alias only from a task's Python code (`outlet_events[alias].add(…)`), and this task has none"
                        ),
                    )
                    .hint = Some("list the datasets the task updates by URI to record their events".into());
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
                    .hint = Some(
                        "name datasets by URI or as `{__type__: airflow.sdk.Asset, uri: …}`".into(),
                    );
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
