//! One task alone, outside any run: run (`dagctl tasks test`) or only rendered (`dagctl
//! tasks render`), with the masker and template context of a real try.

use std::sync::Arc;

use crate::context::{LogBuffer, TaskContext, TaskError, TaskOutcome};
use crate::dag::{Dag, Task};
use crate::secrets::Masker;
use crate::store::DagRun;

use super::Executor;
use super::tries::{ctx_rendered, run_try};

impl Executor {
    /// Task `task_id` of `dag`, the context of its first try in `run`, its masker and log;
    /// `None` if the DAG has no such task.
    async fn lone<'d>(
        &self,
        dag: &'d Dag,
        task_id: &str,
        run: &DagRun,
    ) -> Option<(&'d Task, TaskContext, Arc<Masker>, LogBuffer)> {
        let idx = dag.graph.index_of(task_id)?;
        let task = &dag.tasks[idx];
        let masker = Arc::new(self.masker().await.with_conf(&run.conf));
        let log = LogBuffer::masked(Arc::clone(&masker));
        let ctx = self.context(
            dag,
            run,
            Some((idx, task_id)),
            1,
            task.policy.retries + 1,
            run.start_date,
            task.args.clone(),
            log.clone(),
        );
        Some((task, ctx, masker, log))
    }

    /// Runs one task of `dag` alone, as `dagctl tasks test` does: no dependency check, no state
    /// recorded, the log returned. `run` gives the dates, conf and run id templates see.
    pub async fn test_task(
        &self,
        dag: &Dag,
        task_id: &str,
        run: &DagRun,
    ) -> Option<(Result<TaskOutcome, TaskError>, String)> {
        let (task, ctx, masker, log) = self.lone(dag, task_id, run).await?;
        let op = self.registry.get(&task.operator)?.clone();
        let ctx = ctx_rendered(&self.renderer, ctx, run.run_type.as_str(), op.shell_args()).await;
        let (result, _pending) = run_try(op.as_ref(), ctx, task.policy.execution_timeout).await;
        if let Err(e) = &result {
            log.line(&format!("ERROR: {e}"));
        }
        let result = match result {
            Ok(TaskOutcome::Success(Some(v))) => {
                Ok(TaskOutcome::Success(Some(masker.mask_strings(&v))))
            }
            Ok(other) => Ok(other),
            Err(mut e) => {
                e.message = masker.mask(&e.message).into_owned();
                Err(e)
            }
        };
        let text = log.finish().map(|(_, t)| t).unwrap_or_default();
        Some((result, text))
    }

    /// The arguments of task `task_id` of `dag` rendered for `run` (`dagctl tasks render`),
    /// secrets masked; `None` if the DAG has no such task.
    pub async fn render_task(
        &self,
        dag: &Dag,
        task_id: &str,
        run: &DagRun,
    ) -> Option<Result<serde_json::Value, TaskError>> {
        let (task, ctx, masker, _log) = self.lone(dag, task_id, run).await?;
        let shell_args = self
            .registry
            .get(&task.operator)
            .map(|op| op.shell_args())
            .unwrap_or_default();
        Some(
            match ctx_rendered(&self.renderer, ctx, run.run_type.as_str(), shell_args).await {
                Ok(ctx) => Ok(masker.mask_strings(&ctx.args)),
                Err((mut e, _)) => {
                    e.message = masker.mask(&e.message).into_owned();
                    Err(e)
                }
            },
        )
    }
}
