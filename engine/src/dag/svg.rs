//! A DAG drawn as SVG: tasks in columns by depth (a task stands right of every upstream),
//! dependencies as curves, each box with the state of the task in a run. The web view inlines
//! it; colours come from the page's CSS through the `state-<name>` class of each box.

use std::collections::HashMap;
use std::fmt::Write as _;

use super::Dag;
use crate::TaskState;
use crate::markup::escape;

const BOX_W: usize = 190;
const BOX_H: usize = 40;
const GAP_X: usize = 60;
const GAP_Y: usize = 16;
const MARGIN: usize = 10;

/// The graph of `dag` as an `<svg>` element; `states` colours the tasks of a run (a task
/// without one is drawn as `none`). Every text is escaped.
pub fn render_svg(dag: &Dag, states: &HashMap<String, TaskState>) -> String {
    let order = dag.graph.topological_order();
    let mut depth = vec![0usize; dag.tasks.len()];
    for &i in order {
        depth[i] = dag
            .graph
            .upstream(i)
            .iter()
            .map(|&u| depth[u] + 1)
            .max()
            .unwrap_or(0);
    }
    let mut row = vec![0usize; dag.tasks.len()];
    let mut per_column: HashMap<usize, usize> = HashMap::new();
    for &i in order {
        let n = per_column.entry(depth[i]).or_default();
        row[i] = *n;
        *n += 1;
    }
    let columns = depth.iter().max().map_or(0, |d| d + 1);
    let rows = per_column.values().copied().max().unwrap_or(0);
    let width = MARGIN * 2 + columns * BOX_W + columns.saturating_sub(1) * GAP_X;
    let height = MARGIN * 2 + rows * BOX_H + rows.saturating_sub(1) * GAP_Y;
    let at = |i: usize| {
        (
            MARGIN + depth[i] * (BOX_W + GAP_X),
            MARGIN + row[i] * (BOX_H + GAP_Y),
        )
    };
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"dag-graph\" width=\"{width}\" \
         height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" \
         aria-label=\"{}\"><defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" \
         refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0 L10,5 \
         L0,10 z\" class=\"edge-head\"/></marker></defs>",
        escape(&format!("graph of {}", dag.id))
    );
    for &i in order {
        let (x1, y1) = at(i);
        for d in dag.graph.downstream(i) {
            let (x2, y2) = at(d);
            let (sx, sy, ex, ey) = (x1 + BOX_W, y1 + BOX_H / 2, x2, y2 + BOX_H / 2);
            let mid = (sx + ex) / 2;
            let _ = write!(
                out,
                "<path class=\"edge\" d=\"M{sx},{sy} C{mid},{sy} {mid},{ey} {ex},{ey}\" \
                 marker-end=\"url(#arrow)\"/>"
            );
        }
    }
    for &i in order {
        let task = &dag.tasks[i];
        let state = states.get(&task.id).copied().unwrap_or(TaskState::None);
        let (x, y) = at(i);
        let _ = write!(
            out,
            "<g class=\"task state-{state}\" data-task=\"{id}\"><title>{id} ({op}): {state}</title>\
             <rect x=\"{x}\" y=\"{y}\" width=\"{BOX_W}\" height=\"{BOX_H}\" rx=\"6\"/>\
             <text x=\"{tx}\" y=\"{ty}\">{label}</text><text class=\"op\" x=\"{tx}\" \
             y=\"{oy}\">{op}</text></g>",
            state = state.as_str(),
            id = escape(&task.id),
            op = escape(&task.operator),
            tx = x + 8,
            ty = y + 17,
            oy = y + 32,
            label = escape(&shortened(&task.id, 26)),
        );
    }
    out.push_str("</svg>");
    out
}

/// `text` cut to `max` characters with an ellipsis.
fn shortened(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut s: String = text.chars().take(max - 1).collect();
    s.push('…');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DagBuilder;

    #[test]
    fn tasks_stand_right_of_their_upstreams() {
        let registry = crate::OperatorRegistry::with_builtins();
        let dag = DagBuilder::new("g")
            .task("a", "noop", serde_json::json!({}))
            .task_after("b", "noop", serde_json::json!({}), &["a"])
            .task_after("c", "noop", serde_json::json!({}), &["a", "b"])
            .build(&registry)
            .unwrap();
        let states = HashMap::from([("a".to_string(), TaskState::Success)]);
        let svg = render_svg(&dag, &states);
        assert!(svg.contains("class=\"task state-success\" data-task=\"a\""));
        assert!(svg.contains("class=\"task state-none\" data-task=\"c\""));
        assert_eq!(svg.matches("class=\"edge\"").count(), 3);
        // a in column 0, b in column 1, c in column 2 (after b, though a is upstream too).
        let x_of = |id: &str| {
            let g = svg.find(&format!("data-task=\"{id}\"")).unwrap();
            let rect = &svg[g + svg[g..].find("<rect").unwrap()..];
            let x = rect.find("x=\"").unwrap() + 3;
            rect[x..x + rect[x..].find('"').unwrap()]
                .parse::<usize>()
                .unwrap()
        };
        assert!(x_of("a") < x_of("b"));
        assert!(x_of("b") < x_of("c"));
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<a href='x'>&\""),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;"
        );
    }
}
