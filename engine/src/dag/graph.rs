//! The dependency graph of a DAG's tasks: topological order, cycles as paths, upstream and
//! downstream closures, and renderings as a text tree and as Graphviz DOT.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, VecDeque};
use std::fmt::Write as _;

use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};

use crate::dag::Dag;

/// Task dependencies as a directed graph; node `i` is task `i` of the DAG, and an edge runs
/// from an upstream task to its downstream task.
#[derive(Debug, Clone, Default)]
pub struct DagGraph {
    graph: DiGraph<(), ()>,
    index: HashMap<String, usize>,
    topo: Vec<usize>,
}

impl DagGraph {
    /// Builds the graph of `ids.len()` tasks with `(upstream, downstream)` edges.
    ///
    /// # Errors
    /// Every cycle, each as the list of task indexes along it, starting and ending with the
    /// same task (`[a, b, c, a]`).
    pub fn build(ids: &[String], edges: &[(usize, usize)]) -> Result<DagGraph, Vec<Vec<usize>>> {
        let mut graph = DiGraph::with_capacity(ids.len(), edges.len());
        for _ in ids {
            graph.add_node(());
        }
        for &(up, down) in edges {
            graph.update_edge(NodeIndex::new(up), NodeIndex::new(down), ());
        }
        let index = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), i))
            .collect();
        let mut g = DagGraph {
            graph,
            index,
            topo: Vec::new(),
        };
        match g.kahn_order() {
            Some(order) => {
                g.topo = order;
                Ok(g)
            }
            None => Err(g.cycles()),
        }
    }

    /// Kahn's algorithm, taking ready tasks in the order they were written, so the order is
    /// stable and reads naturally. `None` if there is a cycle.
    fn kahn_order(&self) -> Option<Vec<usize>> {
        let n = self.graph.node_count();
        let mut indegree: Vec<usize> = (0..n)
            .map(|i| {
                self.graph
                    .neighbors_directed(NodeIndex::new(i), Direction::Incoming)
                    .count()
            })
            .collect();
        let mut ready: BinaryHeap<Reverse<usize>> =
            (0..n).filter(|&i| indegree[i] == 0).map(Reverse).collect();
        let mut order = Vec::with_capacity(n);
        while let Some(Reverse(i)) = ready.pop() {
            order.push(i);
            for next in self.graph.neighbors(NodeIndex::new(i)) {
                let j = next.index();
                indegree[j] -= 1;
                if indegree[j] == 0 {
                    ready.push(Reverse(j));
                }
            }
        }
        (order.len() == n).then_some(order)
    }

    /// One cycle per strongly connected component that has one, each the shortest cycle
    /// through the component's first-written task.
    fn cycles(&self) -> Vec<Vec<usize>> {
        let mut out = Vec::new();
        // Kosaraju's algorithm in petgraph is iterative; its Tarjan recurses once per task
        // and overflowed the stack on a 90,000-task cycle.
        for scc in petgraph::algo::kosaraju_scc(&self.graph) {
            let members: BTreeSet<usize> = scc.iter().map(|n| n.index()).collect();
            let start = *members.first().expect("components are never empty");
            let s = NodeIndex::new(start);
            if members.len() == 1 && self.graph.find_edge(s, s).is_none() {
                continue;
            }
            // Breadth-first search inside the component for the way back to `start`.
            let mut parent: HashMap<usize, usize> = HashMap::new();
            let mut queue = VecDeque::from([start]);
            let mut last = None;
            'search: while let Some(i) = queue.pop_front() {
                let mut succ: Vec<usize> = self
                    .graph
                    .neighbors(NodeIndex::new(i))
                    .map(|n| n.index())
                    .filter(|j| members.contains(j))
                    .collect();
                succ.sort_unstable();
                for j in succ {
                    if j == start {
                        last = Some(i);
                        break 'search;
                    }
                    if let std::collections::hash_map::Entry::Vacant(e) = parent.entry(j) {
                        e.insert(i);
                        queue.push_back(j);
                    }
                }
            }
            let mut path = vec![start];
            let mut cur = last.expect("a strongly connected component has a cycle");
            while cur != start {
                path.push(cur);
                cur = parent[&cur];
            }
            // `path` holds start, then the way back to it in reverse: put it in edge order.
            path[1..].reverse();
            path.push(start);
            out.push(path);
        }
        out.sort();
        out
    }

    /// The index of the task with this id.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    /// Task indexes in a topological order (ties broken by the order tasks were written).
    pub fn topological_order(&self) -> &[usize] {
        &self.topo
    }

    /// Direct upstream tasks of task `i`.
    pub fn upstream(&self, i: usize) -> Vec<usize> {
        self.neighbors(i, Direction::Incoming)
    }

    /// Direct downstream tasks of task `i`.
    pub fn downstream(&self, i: usize) -> Vec<usize> {
        self.neighbors(i, Direction::Outgoing)
    }

    fn neighbors(&self, i: usize, dir: Direction) -> Vec<usize> {
        let mut v: Vec<usize> = self
            .graph
            .neighbors_directed(NodeIndex::new(i), dir)
            .map(|n| n.index())
            .collect();
        v.sort_unstable();
        v
    }

    /// Every task task `i` depends on, directly or not.
    pub fn ancestors(&self, i: usize) -> BTreeSet<usize> {
        self.closure(i, Direction::Incoming)
    }

    /// Every task that depends on task `i`, directly or not.
    pub fn descendants(&self, i: usize) -> BTreeSet<usize> {
        self.closure(i, Direction::Outgoing)
    }

    fn closure(&self, i: usize, dir: Direction) -> BTreeSet<usize> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![i];
        while let Some(k) = todo.pop() {
            for n in self.graph.neighbors_directed(NodeIndex::new(k), dir) {
                if seen.insert(n.index()) {
                    todo.push(n.index());
                }
            }
        }
        seen
    }

    /// Tasks without upstreams.
    pub fn roots(&self) -> Vec<usize> {
        (0..self.graph.node_count())
            .filter(|&i| self.upstream(i).is_empty())
            .collect()
    }

    /// The number of tasks.
    pub fn len(&self) -> usize {
        self.graph.node_count()
    }

    /// Whether the graph has no task.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn label(dag: &Dag, i: usize) -> String {
    let t = &dag.tasks[i];
    let mut extra = vec![t.operator.clone()];
    if t.policy.trigger_rule != crate::TriggerRule::AllSuccess {
        extra.push(format!("trigger_rule={}", t.policy.trigger_rule));
    }
    if let Some(g) = &t.group {
        extra.push(format!("group={g}"));
    }
    format!("{}  [{}]", t.id, extra.join(", "))
}

/// How deep the tree is indented before a branch continues at the top level: the output of
/// a long chain grows linearly, not with the square of its length.
const MAX_TREE_DEPTH: usize = 32;

/// The DAG as an indented tree, roots first; a task with several upstreams is drawn in full
/// under the first and referred to as `(see above)` under the others. Past
/// 32 levels a branch continues as a tree of its own below.
pub fn render_tree(dag: &Dag) -> String {
    let g = &dag.graph;
    let mut out = String::new();
    let mut drawn = vec![false; dag.tasks.len()];
    // Explicit stack of (task, prefix, is_last, top) to stay iterative on huge DAGs.
    let roots = g.roots();
    let mut stack: Vec<(usize, String, bool, bool)> = roots
        .iter()
        .rev()
        .map(|&r| (r, String::new(), true, true))
        .collect();
    let mut deferred: Vec<usize> = Vec::new();
    while let Some((i, prefix, last, top)) = stack.pop().or_else(|| {
        let i = deferred.pop()?;
        Some((i, String::new(), true, true))
    }) {
        if !top && !drawn[i] && prefix.chars().count() >= 4 * MAX_TREE_DEPTH {
            let branch = if last { "└── " } else { "├── " };
            let _ = writeln!(
                out,
                "{prefix}{branch}{}  (continued below)",
                dag.tasks[i].id
            );
            deferred.insert(0, i);
            continue;
        }
        let (branch, child_prefix) = if top {
            (String::new(), String::new())
        } else if last {
            (format!("{prefix}└── "), format!("{prefix}    "))
        } else {
            (format!("{prefix}├── "), format!("{prefix}│   "))
        };
        if drawn[i] {
            if !top {
                let _ = writeln!(out, "{branch}{}  (see above)", dag.tasks[i].id);
            }
            continue;
        }
        drawn[i] = true;
        let _ = writeln!(out, "{branch}{}", label(dag, i));
        let children = g.downstream(i);
        let n = children.len();
        for (k, c) in children.into_iter().enumerate().rev() {
            stack.push((c, child_prefix.clone(), k + 1 == n, false));
        }
    }
    out
}

/// The DAG in Graphviz DOT (`dagctl dags show --dot | dot -Tsvg > dag.svg`).
pub fn render_dot(dag: &Dag) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph \"{}\" {{", dag.id);
    let _ = writeln!(out, "  rankdir=LR;");
    let _ = writeln!(out, "  node [shape=box, style=rounded];");
    for t in &dag.tasks {
        let _ = writeln!(
            out,
            "  \"{}\" [label=\"{}\\n({})\"];",
            t.id, t.id, t.operator
        );
    }
    for &i in dag.graph.topological_order() {
        for d in dag.graph.downstream(i) {
            let _ = writeln!(out, "  \"{}\" -> \"{}\";", dag.tasks[i].id, dag.tasks[d].id);
        }
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("t{i}")).collect()
    }

    #[test]
    fn order_respects_edges_and_written_order() {
        let g = DagGraph::build(&ids(4), &[(2, 0), (0, 1), (3, 1)]).unwrap();
        assert_eq!(g.topological_order(), &[2, 0, 3, 1]);
        assert_eq!(g.upstream(1), vec![0, 3]);
        assert_eq!(g.ancestors(1), BTreeSet::from([0, 2, 3]));
        assert_eq!(g.descendants(2), BTreeSet::from([0, 1]));
        assert_eq!(g.roots(), vec![2, 3]);
    }

    #[test]
    fn a_90_000_task_cycle_is_found_without_recursion() {
        let n = 90_000;
        let edges: Vec<(usize, usize)> = (0..n).map(|i| (i, (i + 1) % n)).collect();
        let err = DagGraph::build(&ids(n), &edges).unwrap_err();
        assert_eq!(err.len(), 1);
        assert_eq!(err[0].len(), n + 1, "the whole ring, back to its start");
    }

    #[test]
    fn the_tree_of_a_long_chain_grows_linearly() {
        let n = 50_000;
        let mut b = crate::DagBuilder::new("chain").task("t0", "noop", serde_json::json!({}));
        for i in 1..n {
            let up = format!("t{}", i - 1);
            b = b.task_after(&format!("t{i}"), "noop", serde_json::json!({}), &[&up]);
        }
        let dag = b.build(&crate::OperatorRegistry::with_builtins()).unwrap();
        let text = render_tree(&dag);
        assert!(text.len() < 20 * 1024 * 1024, "{} bytes", text.len());
        for i in [0, 31, 32, 49_999] {
            assert!(text.contains(&format!("t{i}  [noop]")), "t{i} is drawn");
        }
        assert!(text.contains("(continued below)"));
    }

    #[test]
    fn cycles_come_back_as_paths() {
        let err = DagGraph::build(&ids(4), &[(0, 1), (1, 2), (2, 0), (3, 3)]).unwrap_err();
        assert_eq!(err, vec![vec![0, 1, 2, 0], vec![3, 3]]);
    }

    #[test]
    fn random_dags_have_valid_orders() {
        // A small deterministic generator instead of a property-testing crate.
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..200 {
            let n = (next() % 40 + 1) as usize;
            // Edges only from a lower to a higher label of a random permutation: acyclic.
            let mut perm: Vec<usize> = (0..n).collect();
            for i in (1..n).rev() {
                perm.swap(i, (next() % (i as u64 + 1)) as usize);
            }
            let mut edges = Vec::new();
            for a in 0..n {
                for b in a + 1..n {
                    if next() % 5 == 0 {
                        edges.push((perm[a], perm[b]));
                    }
                }
            }
            let g = DagGraph::build(&ids(n), &edges).unwrap();
            let order = g.topological_order();
            assert_eq!(order.len(), n);
            let pos: HashMap<usize, usize> =
                order.iter().enumerate().map(|(k, &i)| (i, k)).collect();
            for (u, d) in &edges {
                assert!(pos[u] < pos[d], "edge {u}->{d} out of order in {order:?}");
            }
            // Adding a back edge along any path makes a cycle that is reported.
            if let Some(&(u, d)) = edges.first() {
                let mut with_back = edges.clone();
                with_back.push((d, u));
                let cycles = DagGraph::build(&ids(n), &with_back).unwrap_err();
                assert!(!cycles.is_empty());
                for c in cycles {
                    assert_eq!(c.first(), c.last());
                    for w in c.windows(2) {
                        assert!(with_back.contains(&(w[0], w[1])), "{c:?} is not a path");
                    }
                }
            }
        }
    }
}
