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
    /// Task `task_id` of `dag` (an instance `task[i]` of a mapped task), the context of its
    /// first try in `run`, its masker and log; `None` if the DAG has no such task, an error
    /// if it is mapped and no instance, or its instances are known only in a run.
    #[allow(clippy::type_complexity)]
    async fn lone<'d>(
        &self,
        dag: &'d Dag,
        task_id: &str,
        run: &DagRun,
    ) -> Option<Result<(&'d Task, TaskContext, Arc<Masker>, LogBuffer), TaskError>> {
        let (idx, map_index) = match dag.graph.index_of(task_id) {
            Some(idx) => (idx, None),
            None => {
                let (task, i) = crate::dag::mapping::parse_instance_id(task_id)?;
                (dag.graph.index_of(task)?, Some(i))
            }
        };
        let task = &dag.tasks[idx];
        let args = match (&task.mapping, map_index) {
            (None, None) => task.args.clone(),
            (None, Some(_)) => return None,
            (Some(_), None) => {
                return Some(Err(TaskError::fatal(format!(
                    "task `{task_id}` is mapped: name one of its instances, `{task_id}[0]`"
                ))));
            }
            (Some(m), Some(i)) => match literal_instance(m, i) {
                Ok(mapped) => crate::dag::mapping::instance_args(&task.args, Some(&mapped)),
                Err(e) => return Some(Err(TaskError::fatal(e))),
            },
        };
        let masker = Arc::new(self.masker().await.with_conf(&run.conf));
        let log = LogBuffer::masked(Arc::clone(&masker));
        let ctx = self.context(
            dag,
            run,
            Some((idx, task_id)),
            1,
            task.policy.max_tries(),
            run.start_date,
            args,
            log.clone(),
        );
        Some(Ok((task, ctx, masker, log)))
    }

    /// Runs one task of `dag` alone, as `dagctl tasks test` does: no dependency check, no state
    /// recorded, the log returned. `run` gives the dates, conf and run id templates see.
    pub async fn test_task(
        &self,
        dag: &Dag,
        task_id: &str,
        run: &DagRun,
    ) -> Option<(Result<TaskOutcome, TaskError>, String)> {
        let (task, ctx, masker, log) = match self.lone(dag, task_id, run).await? {
            Ok(lone) => lone,
            Err(e) => return Some((Err(e), String::new())),
        };
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
        let (task, ctx, masker, _log) = match self.lone(dag, task_id, run).await? {
            Ok(lone) => lone,
            Err(e) => return Some(Err(e)),
        };
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

/// The mapped arguments of instance `i` of a task mapped over lists written in the DAG file;
/// an error saying why when its items come from a run, or there is no such instance.
fn literal_instance(
    m: &crate::dag::mapping::Mapping,
    i: usize,
) -> Result<serde_json::Value, String> {
    use crate::dag::mapping::MapSource;
    let mut lists = Vec::with_capacity(m.expand.len());
    for (arg, source) in &m.expand {
        match source {
            MapSource::Items(items) => lists.push(items.clone()),
            MapSource::Xcom { task_id, .. } => {
                return Err(format!(
                    "the items of `{arg}` come from task `{task_id}`'s output in a run: \
                     `dagctl runs show RUN --json` shows each instance's mapped_args"
                ));
            }
            MapSource::Template(t) => {
                return Err(format!(
                    "the items of `{arg}` come from `{t}`, rendered in a run: `dagctl runs show \
                     RUN --json` shows each instance's mapped_args"
                ));
            }
        }
    }
    let all = m.instances(&lists).map_err(|e| e.to_string())?;
    let count = all.len();
    all.into_iter()
        .nth(i)
        .ok_or_else(|| format!("the task has {count} instance(s); map indexes start at 0"))
}
