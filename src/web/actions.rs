//! The actions: trigger a run (with a conf), clear tasks, mark a run, pause or unpause a DAG —
//! through the code the CLI verbs use (`trigger --no-wait`, `tasks clear`, `runs mark-*`,
//! `dags pause`). A triggered run is queued: the scheduler or a worker runs it, as Airflow's
//! web server leaves it to its scheduler. Forms answer with a redirect, the API with JSON.

use axum::extract::{Form, Path, State};
use axum::http::HeaderMap;
use axum::response::Redirect;
use dagctl::engine::RunState;
use dagctl::engine::run::control::Clear;
use dagctl::engine::store::{DagRun, RunKey};

use super::auth::may_act;
use super::fault::Fault;
use super::{Shared, html::seg};

/// Creates a queued run of `dag_id`; `conf` is JSON text (the CLI's `--conf`).
pub async fn trigger(
    app: &Shared,
    dag_id: &str,
    conf: Option<&str>,
    logical_date: Option<&str>,
    run_id: Option<String>,
) -> Result<DagRun, Fault> {
    let conf = conf.filter(|c| !c.trim().is_empty());
    let logical_date = logical_date.filter(|d| !d.trim().is_empty());
    let opts = crate::cli::trigger::options(conf, logical_date, run_id)
        .map_err(|e| Fault::bad_request(format!("{e:#}")))?;
    app.engine.dag(dag_id)?;
    Ok(app.engine.create_run(dag_id, opts).await?)
}

/// Clears `task_ids` (every task when empty) of a run, and their downstream tasks with
/// `downstream`; returns the cleared ids.
pub async fn clear(
    app: &Shared,
    key: &RunKey,
    task_ids: Vec<String>,
    downstream: bool,
) -> Result<Vec<String>, Fault> {
    let what = Clear::tasks_or_all(task_ids, downstream);
    Ok(app.engine.runs().clear(key, &what, None).await?)
}

/// Ends a run as `success` or `failed` now.
pub async fn mark(app: &Shared, key: &RunKey, state: &str) -> Result<(), Fault> {
    let state = match state {
        "success" => RunState::Success,
        "failed" => RunState::Failed,
        other => {
            return Err(Fault::bad_request(format!(
                "state `{other}`: a run can be marked `success` or `failed`"
            )));
        }
    };
    app.engine.find_run(&key.run_id, Some(&key.dag_id)).await?;
    Ok(app
        .engine
        .runs()
        .mark(key, state, &format!("marked {state} in the web view"))
        .await?)
}

/// Pauses or unpauses a DAG.
pub async fn pause(app: &Shared, dag_id: &str, paused: bool) -> Result<(), Fault> {
    app.engine.dag(dag_id)?;
    Ok(app.engine.runs().set_paused(dag_id, paused).await?)
}

/// The trigger form.
#[derive(serde::Deserialize)]
pub struct TriggerForm {
    #[serde(default)]
    conf: String,
    #[serde(default)]
    logical_date: String,
}

pub async fn trigger_form(
    State(app): State<Shared>,
    Path(dag): Path<String>,
    headers: HeaderMap,
    Form(f): Form<TriggerForm>,
) -> Result<Redirect, Fault> {
    may_act(&app, &headers)?;
    let run = trigger(&app, &dag, Some(&f.conf), Some(&f.logical_date), None).await?;
    Ok(Redirect::to(&format!(
        "/dags/{}/runs/{}",
        seg(&run.dag_id),
        seg(&run.run_id)
    )))
}

/// The pause form.
#[derive(serde::Deserialize)]
pub struct PauseForm {
    paused: bool,
}

pub async fn pause_form(
    State(app): State<Shared>,
    Path(dag): Path<String>,
    headers: HeaderMap,
    Form(f): Form<PauseForm>,
) -> Result<Redirect, Fault> {
    may_act(&app, &headers)?;
    pause(&app, &dag, f.paused).await?;
    Ok(Redirect::to(&format!("/dags/{}", seg(&dag))))
}

/// The clear form: one task (with its downstream tasks when `downstream` is set) or all.
#[derive(serde::Deserialize)]
pub struct ClearForm {
    #[serde(default)]
    task_id: String,
    #[serde(default)]
    downstream: bool,
}

pub async fn clear_form(
    State(app): State<Shared>,
    Path((dag, run)): Path<(String, String)>,
    headers: HeaderMap,
    Form(f): Form<ClearForm>,
) -> Result<Redirect, Fault> {
    may_act(&app, &headers)?;
    let ids = if f.task_id.is_empty() {
        Vec::new()
    } else {
        vec![f.task_id]
    };
    clear(&app, &RunKey::new(&dag, &run), ids, f.downstream).await?;
    Ok(Redirect::to(&format!(
        "/dags/{}/runs/{}",
        seg(&dag),
        seg(&run)
    )))
}

/// The mark form.
#[derive(serde::Deserialize)]
pub struct MarkForm {
    state: String,
}

pub async fn mark_form(
    State(app): State<Shared>,
    Path((dag, run)): Path<(String, String)>,
    headers: HeaderMap,
    Form(f): Form<MarkForm>,
) -> Result<Redirect, Fault> {
    may_act(&app, &headers)?;
    mark(&app, &RunKey::new(&dag, &run), &f.state).await?;
    Ok(Redirect::to(&format!(
        "/dags/{}/runs/{}",
        seg(&dag),
        seg(&run)
    )))
}
