//! `/api/v1`: the JSON the CLI's `--json` prints (built by [`crate::views`]), a try's log from
//! an offset (what the log page polls), a DAG's grid, and the actions as `POST`s with a bearer
//! token. `/metrics` is here too.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use dagctl::engine::secrets::Masker;
use dagctl::engine::store::{RunFilter, RunKey};
use dagctl::engine::{RunState, Store, TaskState};
use dagctl::operators::{registry, tracking};
use serde_json::{Value, json};

use super::auth::may_act;
use super::fault::{ApiResult, Fault};
use super::{Shared, actions, grid};
use crate::views::{self, RunView};
use dagctl::engine::store::ConnectionLookup;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/dags", get(dags))
        .route("/dags/{dag}", get(dag))
        .route("/dags/{dag}/grid", get(dag_grid))
        .route("/dags/{dag}/pause", post(pause))
        .route("/dags/{dag}/runs", get(dag_runs).post(trigger))
        .route("/dags/{dag}/runs/{run}", get(run))
        .route("/dags/{dag}/runs/{run}/clear", post(clear))
        .route("/dags/{dag}/runs/{run}/mark", post(mark))
        .route(
            "/dags/{dag}/runs/{run}/tasks/{task}/tries/{n}/log",
            get(log),
        )
        .route("/runs", get(runs))
        .route("/variables", get(variables))
        .route("/pools", get(pools))
        .route("/connections", get(connections))
        .route("/models", get(models))
        .route("/models/{model}", get(model))
        .route("/experiments", get(experiments))
}

async fn dags(State(app): State<Shared>) -> ApiResult {
    let mut dags = app.engine.dags();
    dags.sort_by(|a, b| a.id().cmp(b.id()));
    Ok(Json(dags.iter().map(|d| views::dag(d)).collect()))
}

/// `dags show --json`.
async fn dag(State(app): State<Shared>, Path(dag): Path<String>) -> ApiResult {
    Ok(Json(app.engine.dag(&dag)?.to_json()))
}

#[derive(serde::Deserialize, Default)]
struct RunQuery {
    dag: Option<String>,
    state: Option<String>,
    limit: Option<u32>,
    offset: Option<u32>,
    page: Option<u32>,
}

impl RunQuery {
    fn filter(&self, dag: Option<String>) -> Result<RunFilter, Fault> {
        let states = match &self.state {
            None => Vec::new(),
            Some(s) => vec![s.parse::<RunState>().map_err(|_| {
                Fault::bad_request(format!(
                    "state `{s}`: use queued, running, success or failed"
                ))
            })?],
        };
        Ok(RunFilter {
            dag_id: dag.or_else(|| self.dag.clone()),
            states,
            limit: Some(self.limit.unwrap_or(50).min(10_000)),
            offset: self.offset,
            ..RunFilter::default()
        })
    }
}

async fn list(app: &Shared, filter: &RunFilter) -> ApiResult {
    let runs = app.store.list_runs(filter).await?;
    let masker = Masker::load_or_empty(&app.store).await;
    Ok(Json(runs.iter().map(|r| views::run(r, &masker)).collect()))
}

/// `runs list --json`.
async fn runs(State(app): State<Shared>, Query(q): Query<RunQuery>) -> ApiResult {
    list(&app, &q.filter(None)?).await
}

async fn dag_runs(
    State(app): State<Shared>,
    Path(dag): Path<String>,
    Query(q): Query<RunQuery>,
) -> ApiResult {
    list(&app, &q.filter(Some(dag))?).await
}

async fn dag_grid(
    State(app): State<Shared>,
    Path(dag): Path<String>,
    Query(q): Query<RunQuery>,
) -> ApiResult {
    let dag = app.engine.dag(&dag)?;
    Ok(Json(
        grid::load(app.store.clone(), &dag, q.page.unwrap_or(0))
            .await?
            .to_json(),
    ))
}

/// `runs show --json`.
async fn run(State(app): State<Shared>, Path((dag, run)): Path<(String, String)>) -> ApiResult {
    let found = app.engine.find_run(&run, Some(&dag)).await?;
    Ok(Json(RunView::load(&app.engine, found).await?.to_json()))
}

/// A try's log past a byte offset, masked, with the try's state.
pub struct LogSince {
    pub text: String,
    pub offset: usize,
    pub state: TaskState,
    pub finished: bool,
}

/// The log of try `n` of `task_id` from byte `offset` of its masked text.
pub async fn log_since(
    app: &Shared,
    key: &RunKey,
    task_id: &str,
    n: u32,
    offset: usize,
) -> Result<LogSince, Fault> {
    let run = app.engine.find_run(&key.run_id, Some(&key.dag_id)).await?;
    let tries = app.store.tries(key, Some(task_id)).await?;
    let Some(t) = tries.iter().find(|t| t.try_number == n) else {
        return Err(Fault::not_found(format!(
            "task `{task_id}` of run {} has no try {n}",
            key.run_id
        )));
    };
    let text = app.store.log(key, task_id, n).await?;
    let masker = Masker::load_or_empty(&app.store).await.with_conf(&run.conf);
    let text = masker.mask(&text).into_owned();
    let mut from = offset.min(text.len());
    while !text.is_char_boundary(from) {
        from -= 1;
    }
    Ok(LogSince {
        text: text[from..].to_string(),
        offset: text.len(),
        state: t.state,
        finished: !matches!(t.state, TaskState::Running | TaskState::Queued),
    })
}

#[derive(serde::Deserialize, Default)]
struct Offset {
    offset: Option<usize>,
}

async fn log(
    State(app): State<Shared>,
    Path((dag, run, task, n)): Path<(String, String, String, u32)>,
    Query(o): Query<Offset>,
) -> ApiResult {
    let l = log_since(
        &app,
        &RunKey::new(&dag, &run),
        &task,
        n,
        o.offset.unwrap_or(0),
    )
    .await?;
    Ok(Json(json!({
        "text": l.text,
        "offset": l.offset,
        "state": l.state.as_str(),
        "finished": l.finished,
    })))
}

async fn variables(State(app): State<Shared>) -> ApiResult {
    Ok(Json(views::variables(&app.store.variables().await?)))
}

async fn pools(State(app): State<Shared>) -> ApiResult {
    Ok(Json(views::pools(&app.engine.pools())))
}

async fn connections(State(app): State<Shared>) -> ApiResult {
    let all = app.store.connections().await?;
    Ok(Json(all.iter().map(views::connection).collect()))
}

async fn models(State(app): State<Shared>) -> ApiResult {
    Ok(Json(serde_json::to_value(
        registry::models(&app.store).await?,
    )?))
}

async fn model(State(app): State<Shared>, Path(name): Path<String>) -> ApiResult {
    match views::model(&app.store, &name).await? {
        Some(v) => Ok(Json(v)),
        None => Err(Fault::not_found(format!("no model `{name}` in the registry")).into()),
    }
}

async fn experiments(State(app): State<Shared>) -> ApiResult {
    Ok(Json(serde_json::to_value(
        tracking::list(&app.store, None).await?,
    )?))
}

#[derive(serde::Deserialize, Default)]
struct TriggerBody {
    conf: Option<Value>,
    logical_date: Option<String>,
    run_id: Option<String>,
}

async fn trigger(
    State(app): State<Shared>,
    Path(dag): Path<String>,
    headers: HeaderMap,
    body: Option<Json<TriggerBody>>,
) -> ApiResult {
    may_act(&app, &headers)?;
    let b = body.map(|Json(b)| b).unwrap_or_default();
    let conf = b.conf.map(|c| c.to_string());
    let run = actions::trigger(
        &app,
        &dag,
        conf.as_deref(),
        b.logical_date.as_deref(),
        b.run_id,
    )
    .await?;
    let masker = Masker::load_or_empty(&app.store).await;
    Ok(Json(views::run(&run, &masker)))
}

#[derive(serde::Deserialize)]
struct PauseBody {
    paused: bool,
}

async fn pause(
    State(app): State<Shared>,
    Path(dag): Path<String>,
    headers: HeaderMap,
    Json(b): Json<PauseBody>,
) -> ApiResult {
    may_act(&app, &headers)?;
    actions::pause(&app, &dag, b.paused).await?;
    Ok(Json(json!({"dag_id": dag, "paused": b.paused})))
}

#[derive(serde::Deserialize, Default)]
struct ClearBody {
    #[serde(default)]
    task_ids: Vec<String>,
    #[serde(default)]
    downstream: bool,
}

async fn clear(
    State(app): State<Shared>,
    Path((dag, run)): Path<(String, String)>,
    headers: HeaderMap,
    body: Option<Json<ClearBody>>,
) -> ApiResult {
    may_act(&app, &headers)?;
    let b = body.map(|Json(b)| b).unwrap_or_default();
    let cleared = actions::clear(&app, &RunKey::new(&dag, &run), b.task_ids, b.downstream).await?;
    Ok(Json(
        json!({"dag_id": dag, "run_id": run, "cleared": cleared}),
    ))
}

#[derive(serde::Deserialize)]
struct MarkBody {
    state: String,
}

async fn mark(
    State(app): State<Shared>,
    Path((dag, run)): Path<(String, String)>,
    headers: HeaderMap,
    Json(b): Json<MarkBody>,
) -> ApiResult {
    may_act(&app, &headers)?;
    actions::mark(&app, &RunKey::new(&dag, &run), &b.state).await?;
    Ok(Json(
        json!({"dag_id": dag, "run_id": run, "state": b.state}),
    ))
}

/// `/metrics`: the Prometheus text exposition.
pub async fn metrics(State(app): State<Shared>) -> Result<Response, Fault> {
    let text = crate::metrics::scrape(&app.engine, &app.store).await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}
