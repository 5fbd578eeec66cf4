//! One try: its arguments rendered, its operator run under the task's timeout.

use std::time::Duration;

use crate::context::{Pending, TaskContext, TaskError, TaskOutcome};
use crate::duration::format_duration;
use crate::secrets::Masker;
use crate::store::{RunKey, Store, StoreError};
use crate::template::{Needs, PreviousRun, Renderer, RunData, needs};
use crate::xcom_spill;

/// What templates read besides the run itself: the Variables and the run's XComs (values
/// spilled to the data location fetched back), each loaded only when needed.
#[derive(Default)]
pub(super) struct TemplateInputs {
    pub(super) variables: std::collections::BTreeMap<String, String>,
    pub(super) xcoms: Vec<(String, String, serde_json::Value)>,
    pub(super) previous_success: Option<PreviousRun>,
    pub(super) connections: Vec<crate::store::Connection>,
}

/// Why [`template_inputs`] could not load them.
pub(super) enum InputsError {
    /// The state store failed (nobody's fault in the task; a retry helps).
    Store(StoreError),
    /// A spilled XCom value cannot be read back.
    Spill(TaskError),
}

/// Loads what templates needing `need` read, for `run`.
pub(super) async fn template_inputs(
    store: &dyn Store,
    resources: &crate::Resources,
    run: &RunKey,
    logical_date: chrono::DateTime<chrono::Utc>,
    need: Needs,
) -> Result<TemplateInputs, InputsError> {
    let mut inputs = TemplateInputs::default();
    if need.connections {
        inputs.connections = store.connections().await.map_err(InputsError::Store)?;
    }
    if need.previous {
        // Airflow's: the DAG's newest successful run with an earlier logical date.
        let filter = crate::store::RunFilter {
            dag_id: Some(run.dag_id.clone()),
            states: vec![crate::state::RunState::Success],
            logical_before: Some(logical_date),
            by_logical_date: true,
            limit: Some(1),
            ..Default::default()
        };
        let runs = store.list_runs(&filter).await.map_err(InputsError::Store)?;
        inputs.previous_success = runs.first().map(|r| PreviousRun {
            data_interval_start: r.data_interval_start,
            data_interval_end: r.data_interval_end,
            start_date: r.start_date,
            end_date: r.end_date,
        });
    }
    if need.variables {
        let vars = store.variables().await.map_err(InputsError::Store)?;
        inputs.variables = vars.into_iter().collect();
    }
    if need.xcom {
        inputs.xcoms = store.xcoms(run).await.map_err(InputsError::Store)?;
        for (_, _, value) in &mut inputs.xcoms {
            *value = xcom_spill::resolved(resources, store, std::mem::take(value))
                .await
                .map_err(InputsError::Spill)?;
        }
    }
    Ok(inputs)
}

/// A try from start to end: its arguments rendered, its operator run under `timeout`, its
/// XCom masked and spilled; with how long it took. The one body of every try, whether a
/// run's driver or a worker that took it runs it.
pub(super) async fn execute_try(
    operator: Option<std::sync::Arc<dyn crate::Operator>>,
    renderer: &Renderer,
    ctx: TaskContext,
    run_type: &str,
    timeout: Option<Duration>,
    masker: &Masker,
) -> (Result<TaskOutcome, TaskError>, Pending, Duration) {
    let start = tokio::time::Instant::now();
    let (result, pending) = match operator {
        None => (
            Err(TaskError::fatal(
                "operator is not registered in this engine",
            )),
            Pending::default(),
        ),
        Some(op) => {
            // Masked, then spilled if large: a secret reaches neither the store nor the
            // data location through XCom.
            let folder = xcom_spill::folder(&ctx);
            let resources = std::sync::Arc::clone(&ctx.resources);
            let store = std::sync::Arc::clone(&ctx.store);
            let ctx = ctx_rendered(renderer, ctx, run_type, op.shell_args()).await;
            let (result, pending) = run_try(op.as_ref(), ctx, timeout).await;
            let at = (resources.as_ref(), store.as_ref());
            kept_xcoms(result, pending, masker, at, &folder).await
        }
    };
    (result, pending, start.elapsed())
}

/// The XCom of a successful try as it is stored: secrets masked first, then values too large
/// for the state store spilled to the data location (a failure to keep one fails the try).
async fn kept_xcoms(
    mut result: Result<TaskOutcome, TaskError>,
    mut pending: Pending,
    masker: &Masker,
    (resources, store): (&crate::Resources, &dyn crate::Store),
    folder: &str,
) -> (Result<TaskOutcome, TaskError>, Pending) {
    if result.is_err() {
        return (result, pending);
    }
    for (key, value) in &mut pending.xcom {
        let masked = masker.mask_strings(value);
        match xcom_spill::spilled(resources, store, folder, key, masked).await {
            Ok(v) => *value = v,
            Err(e) => return (Err(e), Pending::default()),
        }
    }
    if let Ok(TaskOutcome::Success(Some(value))) = &mut result {
        let masked = masker.mask_strings(value);
        match xcom_spill::spilled(resources, store, folder, "return_value", masked).await {
            Ok(v) => *value = v,
            Err(e) => return (Err(e), Pending::default()),
        }
    }
    (result, pending)
}

/// Renders the context's arguments; a template error becomes the try's failure.
pub(super) async fn ctx_rendered(
    renderer: &Renderer,
    mut ctx: TaskContext,
    run_type: &str,
    shell_args: &[&str],
) -> Result<TaskContext, (TaskError, Pending)> {
    let need = needs(&ctx.args);
    if !need.any {
        return Ok(ctx);
    }
    let TemplateInputs {
        variables,
        xcoms,
        previous_success,
        connections,
    } = template_inputs(
        ctx.store.as_ref(),
        &ctx.resources,
        &ctx.run_key(),
        ctx.logical_date,
        need,
    )
    .await
    .map_err(|e| match e {
        InputsError::Store(e) => (TaskError::retryable(e.to_string()), Pending::default()),
        InputsError::Spill(e) => (e, Pending::default()),
    })?;
    let data = RunData {
        dag_id: &ctx.dag_id,
        run_id: &ctx.run_id,
        run_type,
        task_id: &ctx.task_id,
        try_number: ctx.try_number,
        logical_date: ctx.logical_date,
        data_interval_start: ctx.data_interval_start,
        data_interval_end: ctx.data_interval_end,
        params: &ctx.params,
        conf: &ctx.conf,
        variables: &variables,
        xcoms: &xcoms,
        previous_success,
        connections: &connections,
        inlets: &ctx.inlets,
        outlets: &ctx.outlets,
    };
    let template_ctx = renderer.context(&data);
    match renderer.render_args(&ctx.args, &template_ctx, shell_args) {
        Ok(args) => {
            ctx.args = args;
            Ok(ctx)
        }
        Err(e) => Err((TaskError::fatal(e.to_string()), Pending::default())),
    }
}

/// Runs the operator with the task's timeout; on timeout the context is cancelled and the
/// operator's future dropped (a `command` kills its process group then).
pub(super) async fn run_try(
    op: &dyn crate::Operator,
    ctx: Result<TaskContext, (TaskError, Pending)>,
    timeout: Option<Duration>,
) -> (Result<TaskOutcome, TaskError>, Pending) {
    let ctx = match ctx {
        Ok(c) => c,
        Err((e, p)) => return (Err(e), p),
    };
    let result = {
        let fut = op.execute(&ctx);
        match timeout {
            None => fut.await,
            Some(t) => {
                tokio::select! {
                    r = fut => r,
                    _ = tokio::time::sleep(t) => {
                        ctx.cancel.cancel();
                        Err(TaskError::retryable(format!(
                            "timed out after {} (execution_timeout); the try was cancelled",
                            format_duration(t)
                        )))
                    }
                }
            }
        }
    };
    if result.is_err() {
        return (result, Pending::default());
    }
    let pending = ctx.pending.into_inner().unwrap_or_else(|e| e.into_inner());
    (result, pending)
}
