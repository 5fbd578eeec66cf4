//! Running or rendering one task alone, outside any run (`dagctl tasks test`, `dagctl tasks
//! render`).

use super::{Engine, EngineError, TriggerOptions};
use crate::context::{TaskError, TaskOutcome};
use crate::dag::Dag;
use crate::run::NewRun;
use crate::state::{RunState, RunType};
use crate::store::DagRun;

impl Engine {
    /// Runs one task alone (`dagctl tasks test`): no dependencies, no state recorded.
    ///
    /// # Errors
    /// Unknown DAG or task, or bad options.
    pub async fn test_task(
        &self,
        dag_id: &str,
        task_id: &str,
        options: TriggerOptions,
    ) -> Result<(Result<TaskOutcome, TaskError>, String), EngineError> {
        let dag = self.dag(dag_id)?;
        let run = self.test_run(&dag, options);
        self.executor
            .test_task(&dag, task_id, &run)
            .await
            .ok_or_else(|| unknown_task(&dag, task_id))
    }

    /// The arguments of a task rendered as a run with `options` would render them (`dagctl
    /// tasks render`), secrets masked; nothing runs and nothing is recorded. A template
    /// error is the `Err` inside.
    ///
    /// # Errors
    /// Unknown DAG or task.
    pub async fn render_task(
        &self,
        dag_id: &str,
        task_id: &str,
        options: TriggerOptions,
    ) -> Result<Result<serde_json::Value, TaskError>, EngineError> {
        let dag = self.dag(dag_id)?;
        let run = self.test_run(&dag, options);
        self.executor
            .render_task(&dag, task_id, &run)
            .await
            .ok_or_else(|| unknown_task(&dag, task_id))
    }

    /// The run a tested or rendered task sees: manual, running, at `options`' logical date
    /// (now by default) with its data interval as `dagctl trigger` would give it, its conf and
    /// run id.
    fn test_run(&self, dag: &Dag, options: TriggerOptions) -> DagRun {
        let now = self.executor.now();
        let logical_date = options.logical_date.unwrap_or(now);
        // The data interval a manual run at that date gets (`dagctl trigger`), so that a
        // rendered template shows what the run would.
        let mut new = NewRun::new(
            &dag.id,
            RunType::Manual,
            dag.timetable().manual_interval(logical_date),
        );
        new.logical_date = logical_date;
        new.run_id = Some(
            options
                .run_id
                .unwrap_or_else(|| format!("test__{}", logical_date.to_rfc3339())),
        );
        new.conf = options.conf.unwrap_or_else(|| serde_json::json!({}));
        let mut run = new.build(now);
        run.state = RunState::Running;
        run.start_date = Some(now);
        run
    }
}

/// The error for a task `dag` does not have.
fn unknown_task(dag: &Dag, task_id: &str) -> EngineError {
    EngineError::UnknownTask {
        dag_id: dag.id.clone(),
        task_id: task_id.to_string(),
    }
}
