//! Task groups and dependencies: names → graph edges, unknown names and cycles reported with
//! the position of the dependency that names them.

use std::collections::{BTreeMap, HashMap};

use crate::dag::Task;
use crate::diagnostic::Kind;
use crate::graph::DagGraph;
use crate::suggest::closest;
use crate::yaml::{Node, Pos, key_text};

use super::keys;
use super::reader::Reader;
use super::task::TaskDraft;

/// A task group (dag-factory `task_groups`).
pub(crate) struct Group {
    deps: Vec<(String, Pos)>,
    parent: Option<String>,
    /// Airflow's `prefix_group_id` (default true): the ids of the group's tasks and nested
    /// groups start with the group's id and a dot.
    prefix: bool,
    /// `default_args` of the group's tasks (dag-factory), over the DAG's.
    default_args: Option<Node>,
}

/// The task groups of a DAG, by name.
#[derive(Default)]
pub(crate) struct Groups(BTreeMap<String, Group>);

impl Groups {
    pub fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    pub fn report_unknown(&self, r: &mut Reader<'_>, name: &str, pos: Pos) {
        let hint = match closest(name, self.0.keys().map(String::as_str)) {
            Some(c) => format!("did you mean `{c}`?"),
            None if self.0.is_empty() => "this DAG defines no `task_groups`".into(),
            None => format!(
                "task groups: {}",
                crate::suggest::quoted_list(self.0.keys().map(String::as_str))
            ),
        };
        r.error(
            pos,
            Kind::UnknownTaskGroup,
            format!("unknown task group `{name}`"),
        )
        .hint = Some(hint);
    }

    /// The group's id as Airflow forms it: its name, after its parent's id and a dot when the
    /// parent prefixes (`outer.inner`).
    fn full_id(&self, name: &str) -> String {
        let chain = self.chain(name);
        let mut id = String::new();
        // Outermost first: each group's name joins the id once its parent prefixes.
        for (k, g) in chain.iter().rev().enumerate() {
            let parent_prefixes =
                k > 0 && self.0.get(chain[chain.len() - k]).is_some_and(|p| p.prefix);
            if parent_prefixes {
                id.push('.');
                id.push_str(g);
            } else {
                id = (*g).to_string();
            }
        }
        id
    }

    /// The `default_args` that apply to the tasks of group `name`: its ancestors' first, its
    /// own last (the closest wins).
    pub fn default_args(&self, name: &str) -> Vec<&Node> {
        let mut out: Vec<&Node> = self
            .chain(name)
            .into_iter()
            .filter_map(|g| self.0.get(g)?.default_args.as_ref())
            .collect();
        out.reverse();
        out
    }

    /// The id of a task named `task` in group `group`, as Airflow forms it (`group.task`).
    pub fn task_id(&self, group: Option<&str>, task: &str) -> String {
        match group {
            Some(g) if self.0.get(g).is_some_and(|grp| grp.prefix) => {
                format!("{}.{task}", self.full_id(g))
            }
            _ => task.to_string(),
        }
    }

    /// The group and its ancestors, innermost first (stops on a parent cycle).
    fn chain<'a>(&'a self, name: &'a str) -> Vec<&'a str> {
        let mut out = vec![name];
        let mut cur = name;
        while let Some(p) = self.0.get(cur).and_then(|g| g.parent.as_deref()) {
            if out.contains(&p) {
                break;
            }
            out.push(p);
            cur = p;
        }
        out
    }
}

/// Reads `task_groups`: a mapping of name → group, or a list of groups with `group_name`.
pub(crate) fn read_groups(r: &mut Reader<'_>, node: Option<&Node>) -> Groups {
    let mut groups = Groups::default();
    let Some(node) = node.filter(|n| !n.is_null()) else {
        return groups;
    };
    let mut listed: Vec<(String, Pos, &Node)> = Vec::new();
    if let Some(entries) = node.as_map() {
        for (k, v) in entries {
            listed.push((key_text(k), k.pos, v));
        }
    } else if let Some(items) = node.as_seq() {
        for item in items {
            match item
                .get("group_name")
                .and_then(|n| r.string(n, "group_name").map(|s| (s, n.pos)))
            {
                Some((name, pos)) => listed.push((name, pos, item)),
                None => {
                    r.error(
                        item.pos,
                        Kind::MissingKey,
                        "this task group has no `group_name`",
                    );
                }
            }
        }
    } else {
        r.error(
            node.pos,
            Kind::InvalidValue,
            format!(
                "`task_groups` must be a mapping or a list, found {}",
                node.kind_name()
            ),
        );
        return groups;
    }
    for (name, pos, gnode) in &listed {
        let what = format!("task group `{name}`");
        let Some(entries) = r.map(gnode, &what) else {
            continue;
        };
        r.check_keys(entries, keys::GROUP, &[], &what);
        let deps = gnode
            .get("dependencies")
            .map(|n| r.string_list(n, "dependencies"))
            .unwrap_or_default();
        let parent = gnode
            .get("parent_group_name")
            .filter(|n| !n.is_null())
            .and_then(|n| r.string(n, "parent_group_name").map(|s| (s, n.pos)));
        if groups.0.contains_key(name) {
            r.error(
                *pos,
                Kind::InvalidValue,
                format!("task group `{name}` is defined twice"),
            );
            continue;
        }
        let prefix = gnode
            .get("prefix_group_id")
            .and_then(|n| r.bool(n, "prefix_group_id"))
            .unwrap_or(true);
        let default_args = gnode.get("default_args").filter(|n| !n.is_null()).cloned();
        if let Some(da) = &default_args
            && let Some(entries) = r.map(da, "a task group's `default_args`")
        {
            let known = keys::all(&[keys::POLICY]);
            r.check_keys(
                entries,
                &known,
                keys::TASK_INERT,
                &format!("the `default_args` of {what}"),
            );
        }
        groups.0.insert(
            name.clone(),
            Group {
                deps,
                parent: parent.as_ref().map(|(p, _)| p.clone()),
                prefix,
                default_args,
            },
        );
        if let Some((p, ppos)) = parent
            && !listed.iter().any(|(n, _, _)| *n == p)
        {
            groups.report_unknown(r, &p, ppos);
        }
    }
    groups
}

/// Resolves dependencies into graph edges and builds the graph. Reports unknown dependencies
/// (with the closest task id) and every cycle as its path. `None` if the graph cannot be built.
pub(crate) fn resolve(
    r: &mut Reader<'_>,
    dag_id: &str,
    drafts: Vec<TaskDraft>,
    groups: &Groups,
) -> Option<(Vec<Task>, DagGraph)> {
    // Task ids as Airflow forms them in groups (`group.task`); dependencies may name a task
    // by the name written (dag-factory) or by that id.
    let ids: Vec<String> = drafts
        .iter()
        .map(|t| groups.task_id(t.group.as_deref(), &t.id))
        .collect();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (i, t) in drafts.iter().enumerate() {
        if let Some(&first) = index.get(ids[i].as_str())
            && ids[first] == ids[i]
        {
            r.error(
                t.pos,
                Kind::DuplicateTask,
                format!(
                    "task id `{}` is used twice in DAG `{dag_id}` (once in a task group)",
                    ids[i]
                ),
            )
            .hint = Some(format!(
                "first defined at line {}; rename one of them",
                drafts[first].pos.line
            ));
            return None;
        }
        if ids[i] != t.id && !crate::dag::is_valid_id(&ids[i]) {
            r.error(
                t.pos,
                Kind::InvalidId,
                format!("task id `{}` is too long or invalid", ids[i]),
            );
        }
        index.insert(ids[i].as_str(), i);
    }
    for (i, t) in drafts.iter().enumerate() {
        index.entry(t.id.as_str()).or_insert(i);
    }
    // Members of each group, nested groups included.
    let mut members: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, t) in drafts.iter().enumerate() {
        if let Some(g) = &t.group {
            for name in groups.chain(g) {
                members.entry(name).or_default().push(i);
            }
        }
    }
    let lookup = |r: &mut Reader<'_>, who: &str, dep: &str, pos: Pos| -> Vec<usize> {
        if let Some(&i) = index.get(dep) {
            return vec![i];
        }
        if groups.contains(dep) {
            return members.get(dep).cloned().unwrap_or_default();
        }
        let candidates = drafts
            .iter()
            .map(|t| t.id.as_str())
            .chain(groups.0.keys().map(String::as_str));
        let hint = match closest(dep, candidates) {
            Some(c) => format!("did you mean `{c}`?"),
            None => {
                let mut ids: Vec<&str> = drafts.iter().map(|t| t.id.as_str()).take(12).collect();
                if drafts.len() > 12 {
                    ids.push("…");
                }
                format!("tasks of this DAG: {}", ids.join(", "))
            }
        };
        r.error(
            pos,
            Kind::UnknownDependency,
            format!(
                "{who} depends on `{dep}`, which is not a task or task group of DAG `{dag_id}`"
            ),
        )
        .hint = Some(hint);
        Vec::new()
    };

    // Each group's dependencies, resolved once: (upstream task, position of the entry).
    let mut group_ups: HashMap<&str, Vec<(usize, Pos)>> = HashMap::new();
    for (name, g) in &groups.0 {
        let mut ups = Vec::new();
        for (dep, pos) in &g.deps {
            for u in lookup(r, &format!("task group `{name}`"), dep, *pos) {
                ups.push((u, *pos));
            }
        }
        group_ups.insert(name.as_str(), ups);
    }

    // (upstream, downstream) → the position of the dependency entry that made the edge.
    let mut edge_pos: HashMap<(usize, usize), Pos> = HashMap::new();
    let mut edges: Vec<(usize, usize)> = Vec::new();
    let mut upstream: Vec<Vec<usize>> = vec![Vec::new(); drafts.len()];
    for (i, t) in drafts.iter().enumerate() {
        let mut add = |u: usize, pos: Pos| {
            if !upstream[i].contains(&u) {
                upstream[i].push(u);
                edges.push((u, i));
                edge_pos.insert((u, i), pos);
            }
        };
        for (dep, pos) in &t.deps {
            for u in lookup(r, &format!("task `{}`", t.id), dep, *pos) {
                add(u, *pos);
            }
        }
        if let Some(g) = &t.group {
            for name in groups.chain(g) {
                for &(u, pos) in group_ups.get(name).into_iter().flatten() {
                    add(u, pos);
                }
            }
        }
    }

    let graph = match DagGraph::build(&ids, &edges) {
        Ok(g) => g,
        Err(cycles) => {
            for cycle in cycles {
                let path: Vec<&str> = cycle.iter().map(|&i| ids[i].as_str()).collect();
                // Point at the dependency that closes the cycle: the first task's entry naming
                // the last task before it.
                let (from, to) = (cycle[cycle.len() - 2], cycle[0]);
                let pos = edge_pos.get(&(from, to)).copied().unwrap_or(drafts[to].pos);
                r.error(
                    pos,
                    Kind::Cycle,
                    format!("dependency cycle in DAG `{dag_id}`: {}", path.join(" -> ")),
                )
                .hint = Some(format!(
                    "a DAG cannot loop: remove one of these dependencies, for example `{}` \
                     depending on `{}` here",
                    ids[to], ids[from]
                ));
            }
            return None;
        }
    };
    // A mapped task's XCom sources name tasks as its dependencies do: by their ids now.
    use crate::dag::mapping::MapSource;
    let source_ids: Vec<Vec<Option<String>>> = drafts
        .iter()
        .map(|d| {
            let sources = d.mapping.iter().flat_map(|m| m.expand.iter());
            sources
                .map(|(_, s)| match s {
                    MapSource::Xcom { task_id, .. } => {
                        index.get(task_id.as_str()).map(|&i| ids[i].clone())
                    }
                    _ => None,
                })
                .collect()
        })
        .collect();
    let mut drafts = drafts;
    for (d, resolved) in drafts.iter_mut().zip(source_ids) {
        let sources = d.mapping.iter_mut().flat_map(|m| m.expand.iter_mut());
        for ((_, source), id) in sources.zip(resolved) {
            if let (MapSource::Xcom { task_id, .. }, Some(id)) = (source, id) {
                *task_id = id;
            }
        }
    }
    let tasks = drafts
        .into_iter()
        .zip(upstream)
        .zip(ids.iter())
        .map(|((d, ups), id)| Task {
            id: id.clone(),
            operator: d.operator,
            args: d.args,
            upstream: ups.into_iter().map(|u| ids[u].clone()).collect(),
            policy: d.policy,
            group: d.group,
            outlets: d.outlets,
            inlets: d.inlets,
            doc: d.doc,
            mapping: d.mapping,
            pos: d.pos,
        })
        .collect();
    Some((tasks, graph))
}
