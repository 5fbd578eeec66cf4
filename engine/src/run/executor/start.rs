//! Starting to drive a run: acquiring it in the store (or saying who holds it, or that its
//! DAG is at its run limit), and loading its task states.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::task::JoinSet;

use crate::dag::Dag;
use crate::state::{RunState, TaskState};
use crate::store::{Batch, Change, DagRun, RunClaim, RunKey, StoreError, TaskInstance};
use crate::worker::is_orphan;

use super::run::{RunExec, Slot};
use super::{Executor, RunError, RunOutcome};

impl Executor {
    pub(super) async fn execute_inner(
        &self,
        dag: &Dag,
        run_id: &str,
    ) -> Result<RunOutcome, RunError> {
        let not_found = || RunError::NotFound {
            dag_id: dag.id.clone(),
            run_id: run_id.to_string(),
        };
        let key = RunKey::new(&dag.id, run_id);
        let run = self.store.run(&key).await?.ok_or_else(not_found)?;
        if run.state.is_finished() {
            return self.outcome_of(dag, run).await;
        }
        let was_queued = run.state == RunState::Queued;
        // A run recorded as driven by this executor but executed by nothing of this process
        // (the store failed under its execution) is taken up again.
        let driving = self.start_driving(&key);
        let run = match self.acquire(dag, run, driving.is_some()).await? {
            Ok(run) => run,
            Err(finished) => return self.outcome_of(dag, finished).await,
        };
        let mut ex = match self.run_exec(dag, run).await {
            Ok(ex) => ex,
            Err(e) => {
                // Let go at once rather than hold the run until its lease runs out.
                let release = Batch {
                    dag_id: dag.id().to_string(),
                    run_id: run_id.to_string(),
                    changes: vec![Change::Release {
                        worker_id: Some(self.worker.as_str().to_string()),
                    }],
                };
                if let Err(e) = self.store.commit(&release).await {
                    tracing::warn!("cannot let go of run {run_id}: {e}");
                }
                return Err(e);
            }
        };
        if was_queued {
            ex.run_event(RunState::Running);
        }
        let result = match ex.recover_orphans().await {
            Ok(()) => ex.run_loop().await,
            Err(e) => Err(e),
        };
        match result {
            Err(e @ (RunError::Store(StoreError::NotOwner { .. }) | RunError::TimedOut { .. })) => {
                // Cancelled, marked or cleared by someone else, or failed by its timeout:
                // what was decided stands.
                ex.release_slots();
                let run = self.store.run(&key).await?.ok_or_else(not_found)?;
                if !matches!(e, RunError::TimedOut { .. }) {
                    tracing::warn!(
                        dag = %dag.id, run = %run_id,
                        "the run was taken from this process ({}); its running tries were \
                         stopped",
                        run.state
                    );
                }
                if run.state.is_finished() {
                    return self.outcome_of(dag, run).await;
                }
                Err(RunError::Lost {
                    dag_id: dag.id.clone(),
                    run_id: run_id.to_string(),
                })
            }
            Err(e) => {
                ex.abandon(&e).await;
                Err(e)
            }
            ok => ok,
        }
    }

    /// Becomes the driver of `run`: returns the run as acquired, or `Err(run)` if it turned
    /// out finished. `retake_own`: this process executes nothing of the run, so a record of
    /// this executor driving it is stale.
    async fn acquire(
        &self,
        dag: &Dag,
        run: DagRun,
        retake_own: bool,
    ) -> Result<Result<DagRun, DagRun>, RunError> {
        let now = self.clock.now();
        let take_from = match &run.owner {
            // This executor drove it and stopped (the store failed under it): nothing of
            // this process drives it now, so it continues.
            Some(o) if retake_own && o.worker_id == self.worker.as_str() => {
                Some(o.worker_id.clone())
            }
            Some(o) if !is_orphan(&o.worker_id, Some(o.until), now) => {
                return Err(RunError::Busy {
                    dag_id: dag.id.clone(),
                    run_id: run.run_id.clone(),
                    worker: o.worker_id.clone(),
                    until: o.until.to_rfc3339(),
                });
            }
            Some(o) => {
                tracing::warn!(dag = %dag.id, run = %run.run_id,
                    "worker {} stopped driving the run; taking it over", o.worker_id);
                Some(o.worker_id.clone())
            }
            None => None,
        };
        let claim = RunClaim {
            key: RunKey::new(&dag.id, &run.run_id),
            worker_id: self.worker.as_str().to_string(),
            until: now + chrono::Duration::from_std(self.config.lease).unwrap_or_default(),
            now,
            max_active_runs: dag.max_active_runs,
            take_from,
        };
        let acquired = self.store.acquire_run(&claim).await?;
        let Some(run) = self.store.run(&claim.key).await? else {
            return Err(RunError::NotFound {
                dag_id: dag.id.clone(),
                run_id: claim.key.run_id,
            });
        };
        if acquired {
            return Ok(Ok(run));
        }
        if run.state.is_finished() {
            return Ok(Err(run));
        }
        Err(match run.owner {
            Some(o) => RunError::Busy {
                dag_id: dag.id.clone(),
                run_id: run.run_id,
                worker: o.worker_id,
                until: o.until.to_rfc3339(),
            },
            None => RunError::AtLimit {
                dag_id: dag.id.clone(),
                run_id: run.run_id,
                max_active_runs: dag.max_active_runs,
            },
        })
    }

    /// The outcome of a run as the store has it (a finished run, or one taken from us).
    async fn outcome_of(&self, dag: &Dag, run: DagRun) -> Result<RunOutcome, RunError> {
        let key = run.key();
        let mut ex = self.run_exec(dag, run).await?;
        // Ended elsewhere (marked, timed out, another driver): each task's last try says how
        // long it took and why it failed.
        for t in self.store.tries(&key, None).await? {
            if let Some(idx) = dag.graph.index_of(&t.task_id)
                && t.try_number == ex.slots[idx].try_number
            {
                ex.slots[idx].duration = t.duration;
                ex.slots[idx].error = t.error;
            }
        }
        Ok(ex.outcome())
    }

    /// The execution of `run`, its task states read from the store (instances the DAG
    /// gained since the run was created are added, as Airflow adds new tasks to runs).
    async fn run_exec<'a>(&'a self, dag: &'a Dag, run: DagRun) -> Result<RunExec<'a>, RunError> {
        let tis = self.store.task_instances(&run.key()).await?;
        let by_id: HashMap<&str, &TaskInstance> =
            tis.iter().map(|t| (t.task_id.as_str(), t)).collect();
        let missing: Vec<TaskInstance> = dag
            .tasks
            .iter()
            .filter(|t| !by_id.contains_key(t.id.as_str()))
            .map(|t| t.new_instance())
            .collect();
        if !missing.is_empty() && !run.state.is_finished() {
            self.store.add_task_instances(&run.key(), &missing).await?;
        }
        let mut slots: Vec<Slot> = dag
            .tasks
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let ti = by_id.get(t.id.as_str()).copied();
                Slot::of(i, t.id.clone(), t.policy.max_tries(), ti)
            })
            .collect();
        let (instances, earlier_instances) = mapped_instances(dag, &tis, &mut slots);
        let masker = Arc::new(self.masker().await.with_conf(&run.conf));
        let inbox = self.inbox(&run.key());
        Ok(RunExec {
            ex: self,
            dag,
            run,
            slots,
            running: 0,
            changes: Vec::new(),
            events: Vec::new(),
            logs: Arc::new(Mutex::new(HashMap::new())),
            external: Vec::new(),
            probing: false,
            freed: self.wakes.freed(&dag.id),
            ends_limited: false,
            handed: Vec::new(),
            inbox,
            callbacks: JoinSet::new(),
            fired: std::sync::Mutex::new(Vec::new()),
            masker,
            instances,
            earlier_instances,
            to_expand: Vec::new(),
            dag_slots: super::dag_slots::HeldSlots::new(
                self.dag_slots.gate(&dag.id, dag.max_active_tasks),
            ),
        })
    }
}

/// The instances of each mapped task, from the run's task instances: those of a task that
/// expanded (its state is past `none`) get slots, appended to `slots` in map-index order;
/// those of a task that did not (the run was cleared) are kept to be taken up again, or
/// removed, when it expands.
#[allow(clippy::type_complexity)]
fn mapped_instances(
    dag: &Dag,
    tis: &[TaskInstance],
    slots: &mut Vec<Slot>,
) -> (
    HashMap<usize, Vec<usize>>,
    HashMap<usize, Vec<TaskInstance>>,
) {
    let mut by_task: HashMap<usize, Vec<(usize, &TaskInstance)>> = HashMap::new();
    for ti in tis {
        let Some((task, i)) = crate::dag::mapping::parse_instance_id(&ti.task_id) else {
            continue;
        };
        if let Some(idx) = dag.graph.index_of(task)
            && dag.tasks[idx].mapping.is_some()
        {
            by_task.entry(idx).or_default().push((i, ti));
        }
    }
    let (mut instances, mut earlier) = (HashMap::new(), HashMap::new());
    for (idx, mut children) in by_task {
        children.sort_by_key(|(i, _)| *i);
        if slots[idx].state == TaskState::None {
            earlier.insert(
                idx,
                children.into_iter().map(|(_, ti)| ti.clone()).collect(),
            );
            continue;
        }
        let mut own = Vec::with_capacity(children.len());
        for (_, ti) in children
            .into_iter()
            .filter(|(_, ti)| ti.state != TaskState::Removed)
        {
            own.push(slots.len());
            slots.push(Slot::of(idx, ti.task_id.clone(), ti.max_tries, Some(ti)));
        }
        if !own.is_empty() {
            instances.insert(idx, own);
        }
    }
    (instances, earlier)
}
