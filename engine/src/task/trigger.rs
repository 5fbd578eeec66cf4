//! Creating a run of another DAG from a task — one piece of code for the `trigger_dag`
//! operator and for operators that trigger a DAG themselves (a retraining trigger, a
//! promotion hook): the same run id rule, the same idempotence when a try is re-run.

use chrono::{DateTime, Utc};

use super::context::{TaskContext, TaskError};
use crate::state::RunType;
use crate::store::RunKey;

/// A run of another DAG to create.
#[derive(Debug, Clone)]
pub struct TriggerRequest {
    /// The DAG to run.
    pub dag_id: String,
    /// Its `dag_run.conf` (a JSON object).
    pub conf: serde_json::Value,
    /// Its logical date; the triggering run's when `None`.
    pub logical_date: Option<DateTime<Utc>>,
    /// Its run id; `manual__<logical date>` when `None`.
    pub run_id: Option<String>,
    /// If a finished run with that id exists, clear it and run it again (else it is an error).
    pub reset: bool,
}

impl TriggerRequest {
    /// A run of `dag_id` with `conf`, on the triggering run's logical date.
    pub fn new(dag_id: impl Into<String>, conf: serde_json::Value) -> Self {
        TriggerRequest {
            dag_id: dag_id.into(),
            conf,
            logical_date: None,
            run_id: None,
            reset: false,
        }
    }
}

impl TaskContext {
    /// Creates the run `req` asks for (or, with `reset`, clears a finished one to run again)
    /// and returns its key. A run this very task's earlier try created is not created twice:
    /// when a worker dies after triggering but before recording its success, the re-run
    /// finds the run and says so.
    ///
    /// # Errors
    /// Retryable when the store fails; fatal when a run with that id exists and `reset` is
    /// not set.
    pub async fn trigger_dag(&self, req: &TriggerRequest) -> Result<RunKey, TaskError> {
        let logical_date = req.logical_date.unwrap_or(self.logical_date);
        let run_id = req
            .run_id
            .clone()
            .unwrap_or_else(|| crate::run::run_id(RunType::Manual, logical_date));
        let key = RunKey::new(&req.dag_id, &run_id);
        let err = |e: crate::StoreError| TaskError::retryable(e.to_string());
        match self.store.run(&key).await.map_err(err)? {
            Some(existing)
                if existing.triggered_by.as_ref() == Some(&self.run_key())
                    && existing.start_date.unwrap_or(existing.created_at) >= self.first_started =>
            {
                self.log(format!(
                    "run {run_id} of {} was triggered by an earlier try of this task ({}): \
                     not again",
                    req.dag_id, existing.state
                ));
            }
            Some(existing) if !req.reset => {
                return Err(TaskError::fatal(format!(
                    "DAG `{}` already has a run `{run_id}` ({}); set `reset_dag_run: true` to \
                     run it again",
                    req.dag_id, existing.state
                )));
            }
            Some(existing) if !existing.state.is_finished() => {
                self.log(format!(
                    "run {run_id} of {} is {} already: not cleared",
                    req.dag_id, existing.state
                ));
            }
            Some(_) => {
                self.rerun(&key).await?;
                self.log(format!(
                    "cleared run {run_id} of {} to run again",
                    req.dag_id
                ));
            }
            None => {
                let mut new = crate::run::NewRun::new(
                    &req.dag_id,
                    RunType::Manual,
                    crate::timetable::DataInterval {
                        start: logical_date,
                        end: logical_date,
                    },
                );
                new.conf = req.conf.clone();
                new.run_id = Some(run_id.clone());
                self.trigger_run(new).await?;
                self.log(format!("triggered run {run_id} of {}", req.dag_id));
            }
        }
        Ok(key)
    }
}
