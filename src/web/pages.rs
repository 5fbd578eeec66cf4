//! The pages of DAGs and runs: the DAG list, a DAG (graph, grid, actions), a run (every task
//! instance with its tries) and a try's log, followed live while the try runs.

use std::collections::HashMap;
use std::fmt::Write as _;

use axum::extract::{Path, Query, State};
use axum::response::Html;
use dagctl::engine::TaskState;
use dagctl::engine::dag::svg::render_svg;
use dagctl::engine::store::{RunFilter, RunKey};

use dagctl::engine::Store;

use super::fault::Fault;
use super::html::{action, badge, escape, page, secs, seg, table, time};
use super::{Shared, grid};
use crate::views::RunView;

/// The `?tag=` filter of the DAG list.
#[derive(serde::Deserialize, Default)]
pub struct TagFilter {
    tag: Option<String>,
}

/// When `dag` runs next, if it has a time schedule: the end of the next interval the
/// scheduler creates a run for, "(due)" when that has passed (no scheduler created it yet).
async fn next_run(app: &Shared, dag_id: &str) -> Result<String, Fault> {
    Ok(match app.engine.next_run(dag_id).await? {
        None => "-".into(),
        Some(i) if i.end <= chrono::Utc::now() => format!("{} (due)", time(Some(i.end))),
        Some(i) => time(Some(i.end)),
    })
}

pub async fn dags(
    State(app): State<Shared>,
    Query(f): Query<TagFilter>,
) -> Result<Html<String>, Fault> {
    let mut dags = app.engine.dags();
    dags.sort_by(|a, b| a.id().cmp(b.id()));
    let mut tags: Vec<&str> = dags
        .iter()
        .flat_map(|d| d.tags().iter().map(String::as_str))
        .collect();
    tags.sort_unstable();
    tags.dedup();
    let mut rows = Vec::new();
    for d in dags
        .iter()
        .filter(|d| f.tag.as_ref().is_none_or(|t| d.tags().contains(t)))
    {
        let recent = app
            .store
            .list_runs(&RunFilter {
                dag_id: Some(d.id().to_string()),
                limit: Some(10),
                ..RunFilter::default()
            })
            .await?;
        let mut dots = String::new();
        for r in recent.iter().rev() {
            let _ = write!(
                dots,
                "<a class=\"cell state-{s}\" title=\"{id}: {s}\" href=\"/dags/{d}/runs/{r}\"></a> ",
                s = r.state.as_str(),
                id = escape(&r.run_id),
                d = seg(d.id()),
                r = seg(&r.run_id)
            );
        }
        rows.push([
            format!(
                "<a href=\"/dags/{}\">{}</a><div class=\"muted\">{}</div>",
                seg(d.id()),
                escape(d.id()),
                escape(d.description().unwrap_or(""))
            ),
            if app.engine.is_paused(d.id()) {
                "<span class=\"badge\">paused</span>".into()
            } else {
                "active".into()
            },
            escape(&d.schedule().to_string()),
            next_run(&app, d.id()).await?,
            if dots.is_empty() {
                "<span class=\"muted\">no runs</span>".into()
            } else {
                dots
            },
            d.tags()
                .iter()
                .map(|t| format!("<a href=\"/?tag={0}\">{1}</a>", seg(t), escape(t)))
                .collect::<Vec<_>>()
                .join(" "),
        ]);
    }
    let mut body = String::from("<h1>DAGs</h1>");
    if !tags.is_empty() {
        body.push_str("<p class=\"tags\">Tags: <a href=\"/\">all</a>");
        for t in tags {
            let _ = write!(body, "<a href=\"/?tag={}\">{}</a>", seg(t), escape(t));
        }
        body.push_str("</p>");
    }
    let broken = app.engine.diagnostics().error_count();
    if broken > 0 {
        let _ = write!(
            body,
            "<p class=\"error\">{broken} error(s) in the DAG folder; DAGs with errors are left \
             out (<span class=\"mono\">dagctl validate</span> shows them).</p>"
        );
    }
    body.push_str(&table(
        [
            "DAG",
            "state",
            "schedule",
            "next run",
            "last runs (newest right)",
            "tags",
        ],
        &rows,
    ));
    Ok(Html(page("DAGs", &body)))
}

/// The `?page=` of the grid.
#[derive(serde::Deserialize, Default)]
pub struct GridPage {
    page: Option<u32>,
}

pub async fn dag(
    State(app): State<Shared>,
    Path(dag_id): Path<String>,
    Query(p): Query<GridPage>,
) -> Result<Html<String>, Fault> {
    let dag = app.engine.dag(&dag_id)?;
    let paused = app.engine.is_paused(&dag_id);
    let page_no = p.page.unwrap_or(0);
    let g = grid::load(app.store.clone(), &dag, page_no).await?;
    let latest_states: HashMap<String, TaskState> = match g.runs.first() {
        Some((_, tis)) if page_no == 0 => {
            tis.iter().map(|t| (t.task_id.clone(), t.state)).collect()
        }
        _ => HashMap::new(),
    };
    let mut body = format!(
        "<h1>{}</h1><p class=\"muted\">{}</p><p>schedule <b>{}</b> · next run {} · {} · \
         max_active_runs {} · max_active_tasks {} · <span class=\"mono\">{}</span> · \
         <a href=\"/api/v1/dags/{}\">JSON</a></p>",
        escape(dag.id()),
        escape(dag.description().unwrap_or("")),
        escape(&dag.schedule().to_string()),
        next_run(&app, dag.id()).await?,
        if paused {
            "<span class=\"badge\">paused</span>"
        } else {
            "active"
        },
        dag.max_active_runs(),
        dag.max_active_tasks(),
        escape(&dag.source().file.display().to_string()),
        seg(dag.id()),
    );
    if let Some(doc) = dag.doc_md() {
        // Markdown shown as written (no renderer, so nothing in it runs in the page).
        let _ = write!(
            body,
            "<details open class=\"doc\"><summary>Documentation (doc_md)</summary><pre>{}</pre></details>",
            escape(doc)
        );
    }
    let base = format!("/dags/{}", seg(dag.id()));
    body.push_str("<div class=\"actions\">");
    body.push_str(&action(
        &format!("{base}/pause"),
        if paused { "Unpause" } else { "Pause" },
        &[("paused", if paused { "false" } else { "true" })],
    ));
    let _ = write!(
        body,
        "<form method=\"post\" action=\"{base}/trigger\">conf <input type=\"text\" name=\"conf\" \
         size=\"40\" placeholder='{{\"key\": \"value\"}}'> logical date <input type=\"text\" \
         name=\"logical_date\" size=\"19\" placeholder=\"now\"> <button type=\"submit\">Trigger\
         </button></form></div>"
    );
    let _ = write!(
        body,
        "<h2>Graph{}</h2><div>{}</div><h2>Grid</h2>{}",
        if latest_states.is_empty() {
            String::new()
        } else {
            " (latest run)".to_string()
        },
        render_svg(&dag, &latest_states),
        g.to_html(&dag)
    );
    Ok(Html(page(dag.id(), &body)))
}

pub async fn run(
    State(app): State<Shared>,
    Path((dag_id, run_id)): Path<(String, String)>,
) -> Result<Html<String>, Fault> {
    let found = app.engine.find_run(&run_id, Some(&dag_id)).await?;
    let view = RunView::load(&app.engine, found).await?;
    let r = &view.run;
    let base = format!("/dags/{}/runs/{}", seg(&r.dag_id), seg(&r.run_id));
    let mut body = format!(
        "<h1>Run {} of <a href=\"/dags/{}\">{}</a> {}</h1><p>{} · logical date {} · data \
         interval {} → {} · started {} · ended {} · <a href=\"/api/v1{base}\">JSON</a></p>\
         <p>conf <span class=\"mono\">{}</span></p>",
        escape(&r.run_id),
        seg(&r.dag_id),
        escape(&r.dag_id),
        badge(r.state.as_str()),
        r.run_type.as_str(),
        time(Some(r.logical_date)),
        time(Some(r.data_interval_start)),
        time(Some(r.data_interval_end)),
        time(r.start_date),
        time(r.end_date),
        escape(&view.masker.mask_json(&r.conf).to_string()),
    );
    let reasons = dagctl::operators::monitor::reasons::from_conf(&r.conf);
    if !reasons.is_empty() {
        let _ = write!(
            body,
            "<p>reason: {}</p>",
            escape(&view.masker.mask(&reasons.join(", ")))
        );
    }
    body.push_str("<div class=\"actions\">");
    for (label, state) in [("Mark success", "success"), ("Mark failed", "failed")] {
        body.push_str(&action(&format!("{base}/mark"), label, &[("state", state)]));
    }
    body.push_str(&action(&format!("{base}/clear"), "Clear all tasks", &[]));
    body.push_str("</div>");
    let reports = super::registry_pages::reports_of(&app, &r.key()).await;
    let mut rows = Vec::new();
    for t in &view.tis {
        let mut tries = String::new();
        for x in view.tries_of(&t.task_id) {
            let _ = write!(
                tries,
                "<div><a href=\"{base}/tasks/{}/tries/{}\">try {}</a> {} {} · {} · {}{}</div>",
                seg(&t.task_id),
                x.try_number,
                x.try_number,
                badge(x.state.as_str()),
                time(Some(x.start_date)),
                secs(x.duration),
                escape(&x.worker_id),
                x.error
                    .as_ref()
                    .map(|e| format!("<div class=\"error mono\">{}</div>", escape(e)))
                    .unwrap_or_default()
            );
        }
        let report = reports
            .iter()
            .filter(|(task, _)| *task == t.task_id)
            .map(|(task, _)| format!(" <a href=\"{base}/reports/{}\">report</a>", seg(task)))
            .collect::<String>();
        let name = t
            .rendered_map_index
            .as_ref()
            .map(|n| format!(" <span class=\"muted\">{}</span>", escape(n)))
            .unwrap_or_default();
        rows.push([
            format!("{}{name}{report}", escape(&t.task_id)),
            badge(t.state.as_str()),
            format!("{}/{}", t.try_number, t.max_tries),
            tries,
            action(
                &format!("{base}/clear"),
                "Clear",
                &[("task_id", &t.task_id), ("downstream", "true")],
            ),
        ]);
    }
    body.push_str(&table(
        [
            "task",
            "state",
            "tries",
            "every try",
            "clear (with downstream)",
        ],
        &rows,
    ));
    Ok(Html(page(&format!("{} {}", r.dag_id, r.run_id), &body)))
}

pub async fn log(
    State(app): State<Shared>,
    Path((dag_id, run_id, task_id, n)): Path<(String, String, String, u32)>,
) -> Result<Html<String>, Fault> {
    let key = RunKey::new(&dag_id, &run_id);
    let l = super::api::log_since(&app, &key, &task_id, n, 0).await?;
    let base = format!("/dags/{}/runs/{}", seg(&dag_id), seg(&run_id));
    let body = format!(
        "<h1>Log of {task} try {n}</h1><p>run <a href=\"{base}\">{run}</a> of {dag} · \
         <span id=\"try-state\" class=\"badge state-{state}\">{state}</span>{live}</p>\
         <pre id=\"log\" class=\"log\" data-follow=\"{follow}\" data-offset=\"{offset}\" \
         data-src=\"/api/v1{base}/tasks/{tseg}/tries/{n}/log\">{text}</pre>",
        task = escape(&task_id),
        run = escape(&run_id),
        dag = escape(&dag_id),
        state = l.state.as_str(),
        live = if l.finished {
            ""
        } else {
            " · following the running try"
        },
        follow = !l.finished,
        offset = l.offset,
        tseg = seg(&task_id),
        text = escape(&l.text),
    );
    Ok(Html(page(&format!("log {task_id}"), &body)))
}
