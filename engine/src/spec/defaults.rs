//! Defaults a DAG inherits: dag-factory's folder-wide `defaults.yml` files and a file's
//! `default:` block, merged under the DAG's own keys.
//!
//! `defaults.yml` (or `defaults.yaml`, the `.yml` one preferred when both exist) holds DAG
//! keys that every DAG file beside it and in the folders below it inherits; the file closest
//! to the DAG wins over those above it. Precedence, highest first: the DAG's own keys, its
//! file's `default:` block, the closest `defaults.yml`, then those of the folders above.
//! Merging is key by key: a key set at a higher level replaces the lower one, except
//! - `default_args`, merged key by key;
//! - `tasks` and `task_groups`, merged by task id / group name, each task key by key, so a
//!   `default:` block can hold a template DAG whose tasks the DAGs adjust;
//! - `tags`, the union of every level (as dag-factory does).

use std::path::{Path, PathBuf};

use crate::diagnostic::{Diagnostic, Diagnostics, Kind};
use crate::yaml::{Budget, Node, Pos, Value, key_text};

/// The file names read as folder defaults, in order of preference.
pub const DEFAULTS_FILES: [&str; 2] = ["defaults.yml", "defaults.yaml"];

/// One `defaults.yml`, parsed, with the id its nodes' positions carry.
#[derive(Debug, Clone)]
pub struct Defaults {
    /// The file.
    pub file: PathBuf,
    /// Its id among the sources of a load (at least 1; 0 is the DAG file itself).
    pub(crate) source: u16,
    /// Its content (a mapping of DAG keys, or null).
    pub(crate) node: Node,
}

impl Defaults {
    /// Reads `folder`'s defaults file, if it has one; `source` tags its nodes' positions.
    /// Problems (unreadable file, bad YAML, not a mapping) are returned as diagnostics and
    /// the file is then skipped.
    pub fn load_folder(folder: &Path, source: u16) -> (Option<Defaults>, Diagnostics) {
        let mut diags = Diagnostics::default();
        let Some(file) = DEFAULTS_FILES
            .iter()
            .map(|n| folder.join(n))
            .find(|p| p.is_file())
        else {
            return (None, diags);
        };
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) => {
                diags.push(Diagnostic::new(
                    &file,
                    Pos::default(),
                    Kind::Io,
                    format!("cannot read the defaults file: {e}"),
                ));
                return (None, diags);
            }
        };
        let docs = match crate::yaml::parse(&text, Budget::default()) {
            Ok(d) => d,
            Err(e) => {
                diags.push(
                    Diagnostic::new(&file, e.pos, Kind::YamlSyntax, e.message)
                        .hint("fix the YAML syntax at this position"),
                );
                return (None, diags);
            }
        };
        let mut node = docs.into_iter().find(|d| !d.is_null()).unwrap_or(Node {
            value: Value::Map(Vec::new()),
            pos: Pos::default(),
        });
        if node.as_map().is_none() {
            diags.push(
                Diagnostic::new(
                    &file,
                    node.pos,
                    Kind::InvalidValue,
                    format!(
                        "a defaults file must be a mapping of DAG keys, found {}",
                        node.kind_name()
                    ),
                )
                .hint("write DAG keys such as `default_args:` or `schedule:` at the top level"),
            );
            return (None, diags);
        }
        retag(&mut node, source);
        (Some(Defaults { file, source, node }), diags)
    }
}

/// Sets the source of every position in the tree.
fn retag(node: &mut Node, source: u16) {
    let mut stack = vec![node];
    while let Some(n) = stack.pop() {
        n.pos.source = source;
        match &mut n.value {
            Value::Scalar { .. } => {}
            Value::Seq(items) => stack.extend(items.iter_mut()),
            Value::Map(entries) => {
                for (k, v) in entries.iter_mut() {
                    stack.push(k);
                    stack.push(v);
                }
            }
        }
    }
}

/// DAG keys that set the same thing under different names.
const ALIASES: &[&[&str]] = &[
    &["schedule", "schedule_interval", "timetable"],
    &["max_active_tasks", "concurrency"],
    &["dagrun_timeout", "dagrun_timeout_sec"],
];

/// `upper` with the keys of each of `lower` (highest first) merged under it.
pub(crate) fn merged(upper: &Node, lower: &[&Node]) -> Node {
    let mut out = upper.clone();
    for l in lower {
        out = merge_under(&out, l);
    }
    out
}

/// `upper`'s DAG keys, with `lower`'s filling in (see the module documentation).
fn merge_under(upper: &Node, lower: &Node) -> Node {
    let (Some(u), Some(l)) = (upper.as_map(), lower.as_map()) else {
        return upper.clone();
    };
    let mut entries: Vec<(Node, Node)> = u.to_vec();
    for (lk, lv) in l {
        let name = key_text(lk);
        let Some(at) = entries.iter().position(|(k, _)| key_text(k) == name) else {
            // `schedule_interval` set above hides a `schedule` below, and the like.
            let hidden = ALIASES.iter().any(|group| {
                group.contains(&name.as_str())
                    && entries
                        .iter()
                        .any(|(k, _)| group.contains(&key_text(k).as_str()))
            });
            if !hidden {
                entries.push((lk.clone(), lv.clone()));
            }
            continue;
        };
        let uv = &entries[at].1;
        let merged = match name.as_str() {
            "default_args" => shallow(uv, lv),
            "tasks" => by_name(uv, lv, "task_id"),
            "task_groups" => by_name(uv, lv, "group_name"),
            "tags" => union(uv, lv),
            _ => continue,
        };
        entries[at].1 = merged;
    }
    Node {
        value: Value::Map(entries),
        pos: upper.pos,
    }
}

/// Two mappings key by key, `upper`'s keys winning.
fn shallow(upper: &Node, lower: &Node) -> Node {
    let (Some(u), Some(l)) = (upper.as_map(), lower.as_map()) else {
        return upper.clone();
    };
    let mut entries = u.to_vec();
    for (lk, lv) in l {
        if !entries.iter().any(|(k, _)| key_text(k) == key_text(lk)) {
            entries.push((lk.clone(), lv.clone()));
        }
    }
    Node {
        value: Value::Map(entries),
        pos: upper.pos,
    }
}

/// A list of tags with the lower level's tags not already in it.
fn union(upper: &Node, lower: &Node) -> Node {
    let (Some(u), Some(l)) = (upper.as_seq(), lower.as_seq()) else {
        return upper.clone();
    };
    let mut items = u.to_vec();
    for t in l {
        if !items.iter().any(|i| i.as_scalar() == t.as_scalar()) {
            items.push(t.clone());
        }
    }
    Node {
        value: Value::Seq(items),
        pos: upper.pos,
    }
}

/// Named items (tasks, groups) of a mapping `name → item` or a list of items with `id_key`.
fn named<'a>(node: &'a Node, id_key: &str) -> Option<Vec<(String, &'a Node, Option<&'a Node>)>> {
    if let Some(entries) = node.as_map() {
        return Some(
            entries
                .iter()
                .map(|(k, v)| (key_text(k), v, Some(k)))
                .collect(),
        );
    }
    let items = node.as_seq()?;
    items
        .iter()
        .map(|i| {
            let id = i.get(id_key)?.as_scalar()?.to_string();
            Some((id, i, None))
        })
        .collect()
}

/// Tasks (or groups) merged by name: an item on both levels is merged key by key (`upper`'s
/// keys winning); items of one level only are kept, the lower level's first (a template's
/// order). The result has `upper`'s form (mapping or list).
fn by_name(upper: &Node, lower: &Node, id_key: &str) -> Node {
    let (Some(u), Some(l)) = (named(upper, id_key), named(lower, id_key)) else {
        return upper.clone();
    };
    let mut merged: Vec<(String, Node, Option<&Node>)> = Vec::new();
    for (id, lv, lk) in &l {
        match u.iter().find(|(uid, _, _)| uid == id) {
            Some((_, uv, uk)) => merged.push((id.clone(), shallow(uv, lv), uk.or(*lk))),
            None => merged.push((id.clone(), (*lv).clone(), *lk)),
        }
    }
    for (id, uv, uk) in &u {
        if !l.iter().any(|(lid, _, _)| lid == id) {
            merged.push((id.clone(), (*uv).clone(), *uk));
        }
    }
    let value = if upper.as_map().is_some() {
        Value::Map(
            merged
                .into_iter()
                .map(|(id, item, key)| {
                    let key = key.cloned().unwrap_or_else(|| scalar(&id, item.pos));
                    (key, without(&item, id_key))
                })
                .collect(),
        )
    } else {
        Value::Seq(
            merged
                .into_iter()
                .map(|(id, item, key)| with_id(item, id_key, &id, item_pos(key)))
                .collect(),
        )
    };
    Node {
        value,
        pos: upper.pos,
    }
}

fn item_pos(key: Option<&Node>) -> Pos {
    key.map(|k| k.pos).unwrap_or_default()
}

fn scalar(text: &str, pos: Pos) -> Node {
    Node {
        value: Value::Scalar {
            text: text.to_string(),
            plain: false,
        },
        pos,
    }
}

/// The item without its `id_key` entry (a mapping's key says the id).
fn without(item: &Node, id_key: &str) -> Node {
    match item.as_map() {
        Some(entries) => Node {
            value: Value::Map(
                entries
                    .iter()
                    .filter(|(k, _)| k.as_scalar() != Some(id_key))
                    .cloned()
                    .collect(),
            ),
            pos: item.pos,
        },
        None => item.clone(),
    }
}

/// The item with `id_key: id` (a list item says its own id).
fn with_id(item: Node, id_key: &str, id: &str, pos: Pos) -> Node {
    let Some(entries) = item.as_map() else {
        return item;
    };
    if entries.iter().any(|(k, _)| k.as_scalar() == Some(id_key)) {
        return item;
    }
    let mut entries = entries.to_vec();
    entries.insert(0, (scalar(id_key, pos), scalar(id, pos)));
    Node {
        value: Value::Map(entries),
        pos: item.pos,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Node {
        crate::yaml::parse(text, Budget::default())
            .unwrap()
            .remove(0)
    }

    #[test]
    fn own_keys_win_and_default_args_tasks_and_tags_merge() {
        let dag = parse(
            "schedule: '@daily'\ndefault_args: {retries: 3}\ntags: [a]\ntasks:\n  load: {bash_command: echo load}\n  extra: {operator: noop}\n",
        );
        let block = parse(
            "schedule: '@hourly'\ncatchup: true\ndefault_args: {retries: 1, owner: x}\ntags: [b]\ntasks:\n  load: {operator: command, bash_command: echo template}\n  first: {operator: noop}\n",
        );
        let folder = parse("default_args: {owner: y, pool: p}\ntags: [a, c]\n");
        let m = merged(&dag, &[&block, &folder]);
        assert_eq!(m.get("schedule").unwrap().as_scalar(), Some("@daily"));
        assert_eq!(m.get("catchup").unwrap().as_scalar(), Some("true"));
        let da = m.get("default_args").unwrap().to_json();
        assert_eq!(
            da,
            serde_json::json!({"retries": 3, "owner": "x", "pool": "p"})
        );
        assert_eq!(
            m.get("tags").unwrap().to_json(),
            serde_json::json!(["a", "b", "c"])
        );
        let tasks = m.get("tasks").unwrap().to_json();
        assert_eq!(
            tasks,
            serde_json::json!({
                "load": {"bash_command": "echo load", "operator": "command"},
                "first": {"operator": "noop"},
                "extra": {"operator": "noop"},
            })
        );
    }

    #[test]
    fn task_lists_merge_by_task_id() {
        let dag = parse("tasks:\n  - task_id: load\n    bash_command: echo mine\n");
        let block = parse(
            "tasks:\n  - task_id: extract\n    operator: noop\n  - task_id: load\n    operator: command\n    bash_command: echo template\n    dependencies: [extract]\n",
        );
        let m = merged(&dag, &[&block]);
        assert_eq!(
            m.get("tasks").unwrap().to_json(),
            serde_json::json!([
                {"task_id": "extract", "operator": "noop"},
                {"task_id": "load", "bash_command": "echo mine", "operator": "command", "dependencies": ["extract"]},
            ])
        );
    }
}
