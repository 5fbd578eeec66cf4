//! Runs the task instances of DAG runs.
//!
//! The store holds the truth; the executor keeps an in-memory copy of one run's task states
//! to decide quickly, and writes every transition through [`Store::commit`]. Each turn of
//! the loop commits **one** transaction holding the ends of the tries that finished (with
//! their XCom, Variables and log tail), the readiness those ends cause downstream (trigger
//! rules, skips), and the claims of the tasks that start now. Only then are the claimed tries
//! spawned, so a try row is always `running` before its operator starts.
//!
//! Every task whose upstreams are settled starts at once, bounded by the DAG's
//! `max_active_tasks` and by pool slots. A heartbeat renews the leases of running tries and
//! flushes their logs. On start, `running` tries whose worker is gone are orphans: they count
//! as failed tries (retried if retries remain) and the run continues.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, broadcast};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::clock::Clock;
use crate::context::{LogBuffer, Pending, Resources, TaskContext, TaskError, TaskOutcome};
use crate::dag::{Dag, TaskPolicy};
use crate::engine::DagSet;
use crate::events::Event;
use crate::operator::OperatorRegistry;
use crate::pools::Pools;
use crate::run::control::RunControl;
use crate::state::{RunState, TaskState};
use crate::store::{DagRun, RunClaim, RunKey, Store, StoreError, TaskInstance};
use crate::template::Renderer;
use crate::worker::{WorkerId, is_orphan};

mod run;
mod tries;

use run::{RunExec, Slot};
use tries::{ctx_rendered, run_try};

/// Timing of leases and heartbeats.
#[derive(Debug, Clone, Copy)]
pub struct ExecutorConfig {
    /// How long a claim holds without a heartbeat.
    pub lease: Duration,
    /// How often leases are renewed and logs flushed.
    pub heartbeat: Duration,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        ExecutorConfig {
            lease: Duration::from_secs(30),
            heartbeat: Duration::from_secs(5),
        }
    }
}

/// Why a run could not be executed (task failures are not errors: they are in the outcome).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The state store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No such run.
    #[error("no run `{run_id}` of DAG `{dag_id}`")]
    NotFound {
        /// The DAG.
        dag_id: String,
        /// The run.
        run_id: String,
    },
    /// The DAG has `max_active_runs` runs running already: the run stays queued.
    #[error(
        "run `{run_id}` of DAG `{dag_id}` waits: the DAG has {max_active_runs} run(s) running \
         (max_active_runs)"
    )]
    AtLimit {
        /// The DAG.
        dag_id: String,
        /// The run.
        run_id: String,
        /// The DAG's limit.
        max_active_runs: u32,
    },
    /// The run was taken from this process while it drove it and is not finished.
    #[error("run `{run_id}` of DAG `{dag_id}` was taken over by another process")]
    Lost {
        /// The DAG.
        dag_id: String,
        /// The run.
        run_id: String,
    },
    /// Another live worker is executing the run.
    #[error(
        "run `{run_id}` of DAG `{dag_id}` is being executed by worker {worker} (lease until \
         {until}); wait for it to finish, or for its lease to expire"
    )]
    Busy {
        /// The DAG.
        dag_id: String,
        /// The run.
        run_id: String,
        /// The worker holding a try.
        worker: String,
        /// Its lease.
        until: String,
    },
}

/// One task's result in a [`RunOutcome`].
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSummary {
    /// The task.
    pub task_id: String,
    /// Its final state.
    pub state: TaskState,
    /// How many tries it took.
    pub tries: u32,
    /// How long its last try ran (in this process).
    pub duration: Option<Duration>,
    /// Why its last try failed, if it did.
    pub error: Option<String>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    /// The DAG.
    pub dag_id: String,
    /// The run.
    pub run_id: String,
    /// `success` or `failed`.
    pub state: RunState,
    /// Every task, in topological order.
    pub tasks: Vec<TaskSummary>,
}

/// Pool slots in use by this process, shared by all runs it executes.
#[derive(Debug, Default)]
pub struct PoolSlots {
    sizes: Mutex<HashMap<String, u32>>,
    used: Mutex<HashMap<String, u32>>,
    freed: Notify,
}

enum Acquire {
    Ok,
    Busy,
    TooBig(u32),
}

impl PoolSlots {
    /// Sets pool sizes (from `pools.yaml` and `dagctl pools set`).
    pub fn set_sizes(&self, pools: &Pools) {
        let mut sizes = self.sizes.lock().unwrap_or_else(|e| e.into_inner());
        sizes.clear();
        for (name, pool) in pools.iter() {
            sizes.insert(name.to_string(), pool.slots);
        }
    }

    fn try_acquire(&self, pool: &str, n: u32) -> Acquire {
        let size = self
            .sizes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(pool)
            .copied()
            .unwrap_or(crate::pools::DEFAULT_POOL_SLOTS);
        if n > size {
            return Acquire::TooBig(size);
        }
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        let u = used.entry(pool.to_string()).or_default();
        if *u + n > size {
            return Acquire::Busy;
        }
        *u += n;
        Acquire::Ok
    }

    fn release(&self, pool: &str, n: u32) {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(u) = used.get_mut(pool) {
            *u = u.saturating_sub(n);
        }
        self.freed.notify_waiters();
    }
}

/// Executes DAG runs against a [`Store`].
pub struct Executor {
    store: Arc<dyn Store>,
    registry: Arc<OperatorRegistry>,
    renderer: Arc<Renderer>,
    resources: Arc<Resources>,
    events: broadcast::Sender<Event>,
    pools: Arc<PoolSlots>,
    config: ExecutorConfig,
    worker: Arc<WorkerId>,
    clock: Clock,
    runs: RunControl,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("worker", &self.worker.as_str())
            .finish_non_exhaustive()
    }
}

/// The wait before retry `try_number + 1` after try `try_number` failed: `retry_delay`,
/// doubled at every try with `retry_exponential_backoff`, capped by `max_retry_delay`.
pub fn retry_delay(policy: &TaskPolicy, try_number: u32) -> Duration {
    let mut d = policy.retry_delay;
    if policy.retry_exponential_backoff {
        let factor = 2u32.saturating_pow(try_number.saturating_sub(1).min(30));
        d = d.saturating_mul(factor);
    }
    policy
        .max_retry_delay
        .map_or(d, |max| d.min(max))
        .min(crate::duration::MAX_DURATION)
}

impl Executor {
    /// An executor over `store` with the operators of `registry`, for the DAGs of `dags`.
    pub(crate) fn new(
        store: Arc<dyn Store>,
        registry: Arc<OperatorRegistry>,
        resources: Arc<Resources>,
        events: broadcast::Sender<Event>,
        config: ExecutorConfig,
        dags: Arc<RwLock<DagSet>>,
    ) -> Self {
        let clock = Clock::new();
        Executor {
            runs: RunControl::new(Arc::clone(&store), dags, clock, events.clone()),
            store,
            registry,
            renderer: Arc::new(Renderer::new()),
            resources,
            events,
            pools: Arc::new(PoolSlots::default()),
            config,
            worker: Arc::new(WorkerId::new()),
            clock,
        }
    }

    /// Creating and changing runs.
    pub fn runs(&self) -> &RunControl {
        &self.runs
    }

    /// The pool slots this executor enforces.
    pub fn pools(&self) -> &PoolSlots {
        &self.pools
    }

    /// This executor's worker id, as recorded with its tries.
    pub fn worker_id(&self) -> &str {
        self.worker.as_str()
    }

    /// The executor's clock (follows tokio's clock, so it can be paused in tests).
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The tokio instant at which the executor's clock reads `t`.
    pub fn instant_at(&self, t: DateTime<Utc>) -> tokio::time::Instant {
        self.clock.instant_at(t)
    }

    /// The context of try `try_number` of task `idx` of `run` (or of the run itself, for
    /// DAG-level callbacks): params overridden by the run's conf, rendered `args` to come.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn context(
        &self,
        dag: &Dag,
        run: &DagRun,
        idx: Option<usize>,
        try_number: u32,
        max_tries: u32,
        first_started: Option<DateTime<Utc>>,
        args: serde_json::Value,
        log: LogBuffer,
    ) -> TaskContext {
        let mut params = dag.params.clone();
        if let Some(conf) = run.conf.as_object() {
            params.extend(conf.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        TaskContext {
            dag_id: dag.id.clone(),
            task_id: idx.map(|i| dag.tasks[i].id.clone()).unwrap_or_default(),
            run_id: run.run_id.clone(),
            try_number,
            max_tries,
            logical_date: run.logical_date,
            data_interval_start: run.data_interval_start,
            data_interval_end: run.data_interval_end,
            params,
            conf: run.conf.clone(),
            args,
            downstream: idx
                .map(|i| {
                    dag.graph
                        .downstream(i)
                        .into_iter()
                        .map(|d| dag.tasks[d].id.clone())
                        .collect()
                })
                .unwrap_or_default(),
            first_started: first_started.unwrap_or_else(|| self.clock.now()),
            cancel: CancellationToken::new(),
            clock: self.clock,
            log,
            store: Arc::clone(&self.store),
            runs: self.runs.clone(),
            triggered_by: crate::store::RunKey::new(&dag.id, &run.run_id),
            pending: Mutex::new(Pending::default()),
            resources: Arc::clone(&self.resources),
        }
    }

    /// Runs one task of `dag` alone, as `dagctl tasks test` does: no dependency check, no state
    /// recorded, the log returned. `run` gives the dates, conf and run id templates see.
    pub async fn test_task(
        &self,
        dag: &Dag,
        task_id: &str,
        run: &DagRun,
    ) -> Option<(Result<TaskOutcome, TaskError>, String)> {
        let idx = dag.graph.index_of(task_id)?;
        let task = &dag.tasks[idx];
        let log = LogBuffer::default();
        let ctx = self.context(
            dag,
            run,
            Some(idx),
            1,
            1,
            run.start_date,
            task.args.clone(),
            log.clone(),
        );
        let op = self.registry.get(&task.operator)?.clone();
        let ctx = ctx_rendered(&self.renderer, ctx, run.run_type.as_str()).await;
        let (result, _pending) = run_try(op.as_ref(), ctx, task.policy.execution_timeout).await;
        if let Err(e) = &result {
            log.line(&format!("ERROR: {e}"));
        }
        let text = log.take().map(|(_, t)| t).unwrap_or_default();
        Some((result, text))
    }

    /// Executes a run to its end: a new run, or one left unfinished (orphaned tries are
    /// failed-for-retry first).
    ///
    /// # Errors
    /// A [`RunError`] when the run cannot be executed; task failures are in the outcome.
    pub async fn execute(&self, dag: &Dag, run_id: &str) -> Result<RunOutcome, RunError> {
        let span = tracing::info_span!("dag_run", dag = %dag.id, run = %run_id);
        self.execute_inner(dag, run_id).instrument(span).await
    }

    async fn execute_inner(&self, dag: &Dag, run_id: &str) -> Result<RunOutcome, RunError> {
        let not_found = || RunError::NotFound {
            dag_id: dag.id.clone(),
            run_id: run_id.to_string(),
        };
        let run = self
            .store
            .run(&dag.id, run_id)
            .await?
            .ok_or_else(not_found)?;
        if run.state.is_finished() {
            return self.outcome_of(dag, run).await;
        }
        let was_queued = run.state == RunState::Queued;
        let run = match self.acquire(dag, run).await? {
            Ok(run) => run,
            Err(finished) => return self.outcome_of(dag, finished).await,
        };
        let mut ex = self.run_exec(dag, run).await?;
        if was_queued {
            ex.run_event(RunState::Running);
        }
        let result = match ex.recover_orphans().await {
            Ok(()) => ex.run_loop().await,
            Err(e) => Err(e),
        };
        match result {
            Err(RunError::Store(StoreError::NotOwner { .. })) => {
                // Cancelled, marked or cleared by someone else: what they decided stands.
                let run = self
                    .store
                    .run(&dag.id, run_id)
                    .await?
                    .ok_or_else(not_found)?;
                tracing::warn!(
                    dag = %dag.id, run = %run_id,
                    "the run was taken from this process ({}); its running tries were stopped",
                    run.state
                );
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
    /// out finished.
    async fn acquire(&self, dag: &Dag, run: DagRun) -> Result<Result<DagRun, DagRun>, RunError> {
        let now = self.clock.now();
        let take_from = match &run.owner {
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
        let Some(run) = self.store.run(&dag.id, &run.run_id).await? else {
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
        Ok(self.run_exec(dag, run).await?.outcome())
    }

    /// The execution of `run`, its task states read from the store (instances the DAG
    /// gained since the run was created are added, as Airflow adds new tasks to runs).
    async fn run_exec<'a>(&'a self, dag: &'a Dag, run: DagRun) -> Result<RunExec<'a>, RunError> {
        let tis = self.store.task_instances(&dag.id, &run.run_id).await?;
        let by_id: HashMap<&str, &TaskInstance> =
            tis.iter().map(|t| (t.task_id.as_str(), t)).collect();
        let missing: Vec<TaskInstance> = dag
            .tasks
            .iter()
            .filter(|t| !by_id.contains_key(t.id.as_str()))
            .map(|t| t.new_instance())
            .collect();
        if !missing.is_empty() && !run.state.is_finished() {
            self.store
                .add_task_instances(&dag.id, &run.run_id, &missing)
                .await?;
        }
        let slots = dag
            .tasks
            .iter()
            .map(|t| {
                let ti = by_id.get(t.id.as_str()).copied();
                Slot {
                    // `queued` is claimable like `scheduled`: its claim never happened.
                    state: match ti.map_or(TaskState::None, |ti| ti.state) {
                        TaskState::Queued => TaskState::Scheduled,
                        s => s,
                    },
                    try_number: ti.map_or(0, |ti| ti.try_number),
                    max_tries: ti.map_or(t.policy.retries + 1, |ti| ti.max_tries),
                    next_attempt_at: ti.and_then(|ti| ti.next_attempt_at),
                    duration: None,
                    error: None,
                    start_date: ti.and_then(|ti| ti.start_date),
                }
            })
            .collect();
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
            callbacks: JoinSet::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_back_off_and_cap() {
        let mut p = TaskPolicy {
            retry_delay: Duration::from_secs(10),
            ..TaskPolicy::default()
        };
        assert_eq!(retry_delay(&p, 1), Duration::from_secs(10));
        assert_eq!(retry_delay(&p, 3), Duration::from_secs(10));
        p.retry_exponential_backoff = true;
        assert_eq!(retry_delay(&p, 1), Duration::from_secs(10));
        assert_eq!(retry_delay(&p, 2), Duration::from_secs(20));
        assert_eq!(retry_delay(&p, 4), Duration::from_secs(80));
        p.max_retry_delay = Some(Duration::from_secs(30));
        assert_eq!(retry_delay(&p, 4), Duration::from_secs(30));
    }
}
