//! Operators that belong to the engine itself: `noop`, `short_circuit`, `branch`,
//! `trigger_dag`, `external_dag_sensor` and `set_variable`.

use async_trait::async_trait;
use serde::Deserialize;

use crate::context::{TaskContext, TaskError, TaskOutcome};
use crate::operator::{ArgsError, Operator, OperatorRegistry, parse_args};

/// Registers the engine's own operators into `registry`.
pub fn register_builtin(registry: &mut OperatorRegistry) {
    registry.register(Noop);
    registry.register(ShortCircuit);
    registry.register(Branch);
    registry.register(TriggerDag);
    registry.register(ExternalDagSensor);
    registry.register(SetVariable);
}

/// Sets a Variable to a (templated) value when the task succeeds — `Variable.set` of an
/// Airflow task, without Python.
#[derive(Debug, Clone, Copy)]
pub struct SetVariable;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetVariableArgs {
    key: String,
    value: serde_json::Value,
}

#[async_trait]
impl Operator for SetVariable {
    fn name(&self) -> &str {
        "set_variable"
    }

    fn summary(&self) -> &str {
        "sets a Variable to a templated value (in the same transaction as the task's success)"
    }

    fn check_args(&self, args: &serde_json::Value) -> Result<(), ArgsError> {
        let a: SetVariableArgs = parse_args(args)?;
        if !a.key.contains("{{") && !crate::dag::is_valid_id(&a.key) {
            return Err(ArgsError::at(
                "key",
                format!(
                    "{:?} is not a Variable name: use letters, digits, `_`, `-` and `.`",
                    a.key
                ),
            ));
        }
        Ok(())
    }

    async fn execute(&self, ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
        let a: SetVariableArgs = ctx.args()?;
        if !crate::dag::is_valid_id(&a.key) {
            return Err(TaskError::fatal(format!(
                "{:?} is not a Variable name: use letters, digits, `_`, `-` and `.`",
                a.key
            )));
        }
        let value = match &a.value {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if value.trim().is_empty() {
            return Err(TaskError::fatal(format!(
                "the value for Variable `{}` rendered empty",
                a.key
            )));
        }
        ctx.log(format!("Variable {} = {value}", a.key));
        ctx.set_variable(a.key.clone(), value.clone());
        Ok(TaskOutcome::Success(Some(
            serde_json::json!({"key": a.key, "value": value}),
        )))
    }
}

/// Does nothing and succeeds: a join point or placeholder (Airflow's `EmptyOperator`).
#[derive(Debug, Clone, Copy)]
pub struct Noop;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoArgs {}

#[async_trait]
impl Operator for Noop {
    fn name(&self) -> &str {
        "noop"
    }

    fn summary(&self) -> &str {
        "does nothing and succeeds (Airflow's EmptyOperator)"
    }

    fn check_args(&self, args: &serde_json::Value) -> Result<(), ArgsError> {
        parse_args::<NoArgs>(args).map(drop)
    }

    async fn execute(&self, _ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
        Ok(TaskOutcome::Success(None))
    }
}

/// Skips downstream work when a templated condition is false ("no new data, nothing to
/// train"), like Airflow's `ShortCircuitOperator`.
#[derive(Debug, Clone, Copy)]
pub struct ShortCircuit;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShortCircuitArgs {
    /// A templated value; false, 0, empty, `none`, `no` and `off` are false.
    condition: serde_json::Value,
    /// Skip every downstream task whatever its trigger rule (default), or only the direct
    /// downstream tasks.
    #[serde(default = "yes")]
    ignore_downstream_trigger_rules: bool,
}

fn yes() -> bool {
    true
}

/// Python-like truthiness of a rendered value.
pub fn truthy(v: &serde_json::Value) -> bool {
    use serde_json::Value as J;
    match v {
        J::Null => false,
        J::Bool(b) => *b,
        J::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        J::String(s) => !matches!(
            s.trim().to_ascii_lowercase().as_str(),
            "" | "false" | "0" | "none" | "null" | "no" | "off" | "[]" | "{}"
        ),
        J::Array(a) => !a.is_empty(),
        J::Object(o) => !o.is_empty(),
    }
}

#[async_trait]
impl Operator for ShortCircuit {
    fn name(&self) -> &str {
        "short_circuit"
    }

    fn summary(&self) -> &str {
        "skips everything downstream when `condition` renders false"
    }

    fn check_args(&self, args: &serde_json::Value) -> Result<(), ArgsError> {
        parse_args::<ShortCircuitArgs>(args).map(drop)
    }

    async fn execute(&self, ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
        let a: ShortCircuitArgs = ctx.args()?;
        if truthy(&a.condition) {
            ctx.log(format!(
                "condition is true ({}): downstream tasks run",
                a.condition
            ));
            Ok(TaskOutcome::Success(Some(a.condition)))
        } else {
            ctx.log(format!(
                "condition is false ({}): skipping downstream tasks",
                a.condition
            ));
            Ok(TaskOutcome::ShortCircuit {
                skip_all_downstream: a.ignore_downstream_trigger_rules,
            })
        }
    }
}

/// Chooses which direct downstream tasks run; the others are skipped (Airflow's
/// `BranchPythonOperator`, with a template instead of a callable).
#[derive(Debug, Clone, Copy)]
pub struct Branch;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BranchArgs {
    /// Task id(s) to follow: a string (one id, or several separated by commas), or a list.
    /// An empty value follows none.
    branch: serde_json::Value,
}

#[async_trait]
impl Operator for Branch {
    fn name(&self) -> &str {
        "branch"
    }

    fn summary(&self) -> &str {
        "runs only the downstream task ids `branch` renders to; skips the others"
    }

    fn check_args(&self, args: &serde_json::Value) -> Result<(), ArgsError> {
        let a: BranchArgs = parse_args(args)?;
        match a.branch {
            serde_json::Value::String(_) | serde_json::Value::Array(_) => Ok(()),
            _ => Err(ArgsError::at(
                "branch",
                "expected a task id, a comma-separated list or a list of task ids",
            )),
        }
    }

    async fn execute(&self, ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
        let a: BranchArgs = ctx.args()?;
        let chosen: Vec<String> = match &a.branch {
            serde_json::Value::Array(items) => items
                .iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                .collect(),
            serde_json::Value::String(s) => s
                .split(',')
                .map(|p| {
                    p.trim()
                        .trim_matches(['[', ']', '"', '\''])
                        .trim()
                        .to_string()
                })
                .filter(|p| !p.is_empty())
                .collect(),
            other => vec![other.to_string()],
        };
        follow_branch(ctx, chosen)
    }
}

/// The outcome of a branch that chose `chosen` (direct downstream task ids; none skips them
/// all): the others are skipped. Shared by `branch` and Python branch callables.
///
/// # Errors
/// A chosen id that is not a direct downstream task (not retryable).
pub fn follow_branch(ctx: &TaskContext, chosen: Vec<String>) -> Result<TaskOutcome, TaskError> {
    if let Some(bad) = chosen.iter().find(|c| !ctx.downstream.contains(c)) {
        return Err(TaskError::fatal(format!(
            "branch chose `{bad}`, which is not a direct downstream task of `{}`; choose \
             among: {}",
            ctx.task_id,
            ctx.downstream.join(", ")
        )));
    }
    ctx.log(format!("following branch: {}", chosen.join(", ")));
    Ok(TaskOutcome::Branch(chosen))
}

#[cfg(test)]
mod tests {
    use super::truthy;
    use serde_json::json;

    #[test]
    fn truthiness_reads_like_python() {
        for v in [
            json!(false),
            json!(0),
            json!(""),
            json!("False"),
            json!("none"),
            json!(null),
            json!([]),
        ] {
            assert!(!truthy(&v), "{v}");
        }
        for v in [
            json!(true),
            json!(1),
            json!("yes"),
            json!("prepared/2026"),
            json!([0]),
        ] {
            assert!(truthy(&v), "{v}");
        }
    }
}

/// Creates a run of another DAG (Airflow's `TriggerDagRunOperator`). The run is executed by
/// whoever executes queued runs: the `dagctl trigger` that started this one (it follows the
/// runs it causes), `dagctl runs resume`, or the scheduler.
#[derive(Debug, Clone, Copy)]
pub struct TriggerDag;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TriggerDagArgs {
    /// The DAG to run.
    dag_id: String,
    /// Its `dag_run.conf` (strings inside are templated).
    #[serde(default)]
    conf: Option<serde_json::Value>,
    /// Its logical date; this run's by default.
    #[serde(default)]
    logical_date: Option<String>,
    /// Its run id; `manual__<logical date>` by default.
    #[serde(default)]
    run_id: Option<String>,
    /// Wait until the run finishes.
    #[serde(default)]
    wait_for_completion: bool,
    /// How often to look while waiting.
    #[serde(default = "five_seconds")]
    poke_interval: String,
    /// With `wait_for_completion`, fail when the triggered run fails.
    #[serde(default = "yes")]
    fail_when_dag_fails: bool,
    /// If a run with that id exists, clear it and run it again (else the task fails).
    #[serde(default)]
    reset_dag_run: bool,
}

fn five_seconds() -> String {
    "5s".into()
}

#[async_trait]
impl Operator for TriggerDag {
    fn name(&self) -> &str {
        "trigger_dag"
    }

    fn summary(&self) -> &str {
        "creates a run of another DAG (`dag_id`, `conf`, `logical_date`, `wait_for_completion`)"
    }

    fn check_args(&self, args: &serde_json::Value) -> Result<(), ArgsError> {
        let a: TriggerDagArgs = parse_args(args)?;
        if let Some(c) = &a.conf
            && !c.is_object()
        {
            return Err(ArgsError::at(
                "conf",
                "expected a mapping of keys to values",
            ));
        }
        let poke = crate::duration::parse_duration(&a.poke_interval)
            .map_err(|e| ArgsError::at("poke_interval", format!("bad duration: {e}")))?;
        // Waiting polls the store: a zero interval would spin on it.
        if a.wait_for_completion && poke < std::time::Duration::from_millis(100) {
            return Err(ArgsError::at(
                "poke_interval",
                format!(
                    "{} is too short to poll a run; use at least 100ms",
                    a.poke_interval
                ),
            ));
        }
        Ok(())
    }

    async fn execute(&self, ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
        use crate::state::RunState;
        let a: TriggerDagArgs = ctx.args()?;
        let logical_date = match &a.logical_date {
            None => ctx.logical_date,
            Some(text) => crate::spec::parse_date(text)
                .ok_or_else(|| TaskError::fatal(format!("logical_date `{text}` is not a date")))?,
        };
        let key = ctx
            .trigger_dag(&crate::task::trigger::TriggerRequest {
                dag_id: a.dag_id.clone(),
                conf: a.conf.clone().unwrap_or_else(|| serde_json::json!({})),
                logical_date: Some(logical_date),
                run_id: a.run_id.clone(),
                reset: a.reset_dag_run,
            })
            .await?;
        let run_id = key.run_id.clone();
        let store = &ctx.store;
        let err = |e: crate::StoreError| TaskError::retryable(e.to_string());
        let result = serde_json::json!({"dag_id": a.dag_id, "run_id": run_id});
        if !a.wait_for_completion {
            return Ok(TaskOutcome::Success(Some(result)));
        }
        let poke = crate::duration::parse_duration(&a.poke_interval)
            .map_err(|e| TaskError::fatal(format!("poke_interval: {e}")))?;
        loop {
            let state = store.run(&key).await.map_err(err)?.map(|r| r.state);
            match state {
                Some(RunState::Success) => break,
                Some(RunState::Failed) if a.fail_when_dag_fails => {
                    return Err(TaskError::fatal(format!(
                        "triggered run {run_id} of {} failed",
                        a.dag_id
                    )));
                }
                Some(RunState::Failed) => break,
                _ => {}
            }
            tokio::select! {
                _ = tokio::time::sleep(poke) => {}
                _ = ctx.cancel.cancelled() => return Err(TaskError::retryable("cancelled while waiting")),
            }
        }
        ctx.log(format!("run {run_id} of {} finished", a.dag_id));
        Ok(TaskOutcome::Success(Some(result)))
    }
}

/// Waits for a run (or one task of it) of another DAG to reach a state (Airflow's
/// `ExternalTaskSensor`).
#[derive(Debug, Clone, Copy)]
pub struct ExternalDagSensor;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExternalArgs {
    external_dag_id: String,
    #[serde(default)]
    external_task_id: Option<String>,
    /// The other run's logical date; this run's by default.
    #[serde(default)]
    logical_date: Option<String>,
    /// Airflow's `execution_delta`: the other run's logical date is this long before this
    /// run's (`1d`, `3600`, `1 days,`).
    #[serde(default)]
    execution_delta: Option<serde_json::Value>,
    #[serde(default = "success_only")]
    allowed_states: Vec<String>,
    #[serde(default = "failed_only")]
    failed_states: Vec<String>,
}

fn success_only() -> Vec<String> {
    vec!["success".into()]
}

fn failed_only() -> Vec<String> {
    vec!["failed".into()]
}

#[async_trait]
impl Operator for ExternalDagSensor {
    fn name(&self) -> &str {
        "external_dag_sensor"
    }

    fn summary(&self) -> &str {
        "waits until another DAG's run (or one of its tasks) for a logical date reaches a state"
    }

    fn check_args(&self, args: &serde_json::Value) -> Result<(), ArgsError> {
        crate::sensor::check_args::<ExternalArgs>(args)?;
        let (_, own) = crate::sensor::split_args(args)?;
        let a: ExternalArgs = parse_args(&own)?;
        if a.logical_date.is_some() && a.execution_delta.is_some() {
            return Err(ArgsError::at(
                "execution_delta",
                "give `logical_date` or `execution_delta`, not both",
            ));
        }
        match &a.execution_delta {
            Some(serde_json::Value::String(t)) if t.contains("{{") => Ok(()),
            Some(d) => crate::sensor::duration_value(d)
                .map(drop)
                .map_err(|e| ArgsError::at("execution_delta", e)),
            None => Ok(()),
        }
    }

    async fn execute(&self, ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
        let (settings, a): (_, ExternalArgs) = crate::sensor::read_args(ctx)?;
        let date = match (&a.logical_date, &a.execution_delta) {
            (Some(_), Some(_)) => {
                return Err(TaskError::fatal(
                    "give `logical_date` or `execution_delta`, not both",
                ));
            }
            (None, None) => ctx.logical_date,
            (None, Some(d)) => {
                let delta = crate::sensor::duration_value(d)
                    .map_err(|e| TaskError::fatal(format!("execution_delta: {e}")))?;
                ctx.logical_date - chrono::Duration::from_std(delta).unwrap_or_default()
            }
            (Some(t), None) => crate::spec::parse_date(t)
                .ok_or_else(|| TaskError::fatal(format!("logical_date `{t}` is not a date")))?,
        };
        let what = match &a.external_task_id {
            Some(t) => format!(
                "task `{t}` of `{}` for {}",
                a.external_dag_id,
                date.to_rfc3339()
            ),
            None => format!("run of `{}` for {}", a.external_dag_id, date.to_rfc3339()),
        };
        let a = &a;
        crate::sensor::sense(ctx, &settings, &what.clone(), || async {
            let Some((run_id, run_state)) = ctx.dag_run_state(&a.external_dag_id, date).await?
            else {
                return Ok(false);
            };
            let state = match &a.external_task_id {
                None => run_state.as_str().to_string(),
                Some(task) => match ctx.task_state(&a.external_dag_id, &run_id, task).await? {
                    Some(s) => s.as_str().to_string(),
                    None => return Ok(false),
                },
            };
            if a.failed_states.contains(&state) {
                return Err(TaskError::fatal(format!("{what} is `{state}`")));
            }
            Ok(a.allowed_states.contains(&state))
        })
        .await
    }
}
