//! A DAG's grid: one row per run, newest first, one cell per task coloured by its state, a
//! page at a time. A page reads its runs from the index on (DAG, creation) and the task
//! instances of those runs only, so its cost does not grow with the number of runs stored.

use std::fmt::Write as _;

use dagctl::engine::Dag;
use dagctl::engine::Store;
use dagctl::engine::store::{DagRun, RunFilter, SqlStore, TaskInstance};

use super::html::{badge, escape, seg, time};

/// Runs per page.
pub const PAGE: u32 = 25;

/// One page of a DAG's grid.
pub struct Grid {
    /// The page's runs, newest first, with their task instances.
    pub runs: Vec<(DagRun, Vec<TaskInstance>)>,
    /// Which page (0: the newest runs).
    pub page: u32,
    /// Whether older runs follow.
    pub more: bool,
}

/// Reads page `page` of `dag`'s grid.
pub async fn load(store: SqlStore, dag: &Dag, page: u32) -> anyhow::Result<Grid> {
    let mut runs = store
        .list_runs(&RunFilter {
            dag_id: Some(dag.id().to_string()),
            limit: Some(PAGE + 1),
            offset: Some(page.saturating_mul(PAGE)),
            ..RunFilter::default()
        })
        .await?;
    let more = runs.len() > PAGE as usize;
    runs.truncate(PAGE as usize);
    let mut rows = Vec::with_capacity(runs.len());
    for r in runs {
        let tis = store.task_instances(&r.key()).await?;
        rows.push((r, tis));
    }
    Ok(Grid {
        runs: rows,
        page,
        more,
    })
}

impl Grid {
    /// The task ids of the columns: the DAG's, in dependency order, then any only runs have
    /// (tasks removed from the file since).
    fn columns(&self, dag: &Dag) -> Vec<String> {
        let mut ids: Vec<String> = dag.topological_order().map(|t| t.id.clone()).collect();
        for (_, tis) in &self.runs {
            for t in tis {
                if !ids.contains(&t.task_id) {
                    ids.push(t.task_id.clone());
                }
            }
        }
        ids
    }

    /// As HTML: a table with a pager.
    pub fn to_html(&self, dag: &Dag) -> String {
        let columns = self.columns(dag);
        let base = format!("/dags/{}", seg(dag.id()));
        let mut out = String::from(
            "<table class=\"grid\"><thead><tr><th>run</th><th>state</th><th>logical date</th>",
        );
        for c in &columns {
            let _ = write!(out, "<th class=\"task\">{}</th>", escape(c));
        }
        out.push_str("</tr></thead><tbody>");
        for (r, tis) in &self.runs {
            let run_url = format!("{base}/runs/{}", seg(&r.run_id));
            let _ = write!(
                out,
                "<tr><td class=\"mono\"><a href=\"{run_url}\">{}</a></td><td>{}</td><td>{}</td>",
                escape(&r.run_id),
                badge(r.state.as_str()),
                time(Some(r.logical_date))
            );
            for c in &columns {
                match tis.iter().find(|t| &t.task_id == c) {
                    Some(t) if t.try_number > 0 => {
                        let _ = write!(
                            out,
                            "<td><a class=\"cell state-{s}\" title=\"{task}: {s}\" \
                             href=\"{run_url}/tasks/{tseg}/tries/{n}\"></a></td>",
                            s = t.state.as_str(),
                            task = escape(c),
                            tseg = seg(c),
                            n = t.try_number
                        );
                    }
                    Some(t) => {
                        let _ = write!(
                            out,
                            "<td><span class=\"cell state-{s}\" title=\"{}: {s}\"></span></td>",
                            escape(c),
                            s = t.state.as_str()
                        );
                    }
                    None => out.push_str("<td></td>"),
                }
            }
            out.push_str("</tr>");
        }
        out.push_str("</tbody></table><p class=\"pager\">");
        if self.runs.is_empty() {
            out.push_str("<span class=\"muted\">no runs on this page</span> ");
        }
        if self.page > 0 {
            let _ = write!(
                out,
                "<a href=\"{base}?page={}\">← newer runs</a>",
                self.page - 1
            );
        }
        let _ = write!(out, "page {}", self.page + 1);
        if self.more {
            let _ = write!(
                out,
                " <a href=\"{base}?page={}\">older runs →</a>",
                self.page + 1
            );
        }
        out.push_str("</p>");
        out
    }

    /// As JSON (`/api/v1/dags/{dag}/grid`): runs with each task's state and try number.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "page": self.page,
            "more": self.more,
            "runs": self.runs.iter().map(|(r, tis)| serde_json::json!({
                "run_id": r.run_id,
                "state": r.state.as_str(),
                "logical_date": r.logical_date.to_rfc3339(),
                "tasks": tis.iter().map(|t| (t.task_id.clone(), serde_json::json!({
                    "state": t.state.as_str(),
                    "try_number": t.try_number,
                }))).collect::<serde_json::Map<_, _>>(),
            })).collect::<Vec<_>>(),
        })
    }
}
