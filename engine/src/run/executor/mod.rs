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
//! flushes their logs. On start, `running` tries whose worker is gone are orphans: recorded
//! `orphaned`, their tasks run again at once without using a retry, and the run continues;
//! a task's tries after an orphan run in a process of their own when the engine can start
//! one ([`Isolation`]), which tells a task that kills its process from a kill from outside.

use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::clock::Clock;
use crate::context::{LogBuffer, Pending, Resources, TaskContext};
use crate::dag::{Dag, TaskPolicy};
use crate::engine::DagSet;
use crate::events::Event;
use crate::operator::OperatorRegistry;
use crate::run::control::RunControl;
use crate::secrets::Masker;
use crate::state::{RunState, TaskState};
use crate::store::{DagRun, Store, StoreError};
use crate::template::Renderer;
use crate::worker::WorkerId;

mod dag_slots;
mod decide;
mod expand;
mod handed;
mod isolated;
mod lone_task;
mod pool_slots;
mod recover;
mod run;
mod sharing;
mod start;
mod taken_tries;
mod try_end;
mod wakes;

pub use isolated::Isolation;
use pool_slots::Acquire;
pub use pool_slots::PoolSlots;
pub use sharing::TrySharing;
mod tries;

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
    /// The run has no such task instance (an isolated try was asked for one).
    #[error("run `{run_id}` of DAG `{dag_id}` has no task instance `{task_id}`")]
    NoTaskInstance {
        /// The DAG.
        dag_id: String,
        /// The run.
        run_id: String,
        /// The task instance.
        task_id: String,
    },
    /// The run exceeded its `dagrun_timeout` and was failed; its driver stops (it returns
    /// the failed run's outcome, not this).
    #[error("run `{run_id}` of DAG `{dag_id}` exceeded its dagrun_timeout and was failed")]
    TimedOut {
        /// The DAG.
        dag_id: String,
        /// The run.
        run_id: String,
    },
    /// An isolated try's output could not be written to its driver.
    #[error("cannot write an isolated try's output to its driver: {0}")]
    Output(#[source] std::io::Error),
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

/// Executes DAG runs against a [`Store`].
pub struct Executor {
    store: Arc<dyn Store>,
    registry: Arc<OperatorRegistry>,
    renderer: Arc<Renderer>,
    resources: Arc<Resources>,
    events: broadcast::Sender<Event>,
    pools: Arc<PoolSlots>,
    /// `max_active_tasks` held in this process, per DAG.
    dag_slots: dag_slots::DagSlots,
    config: ExecutorConfig,
    worker: Arc<WorkerId>,
    clock: Clock,
    runs: RunControl,
    /// The secrets masker and when it was loaded: reloaded when older than [`MASKER_TTL`].
    masker: Arc<tokio::sync::Mutex<Option<LoadedMasker>>>,
    /// Where this process's waiters wake when a try ends, is handed off or its outcome is
    /// recorded, here or (through the store's signals) elsewhere.
    wakes: Arc<wakes::Wakes>,
    /// Set when this process shares tries with other workers ([`Executor::share_tries`]).
    sharing: std::sync::OnceLock<sharing::Sharing>,
    /// How a try runs in a process of its own ([`Executor::isolate_with`]).
    isolation: std::sync::OnceLock<Isolation>,
    /// The runs this process is executing (one execution per run and process).
    driving: Mutex<std::collections::HashSet<crate::store::RunKey>>,
    /// When this process last renewed its tries' leases: one renewal per heartbeat for the
    /// whole process, whatever the number of runs and tries.
    renewed: Mutex<Option<tokio::time::Instant>>,
}

/// A run executed by this process, until dropped.
struct Driving<'a> {
    ex: &'a Executor,
    run: crate::store::RunKey,
}

impl Drop for Driving<'_> {
    fn drop(&mut self) {
        self.ex
            .driving
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.run);
    }
}

/// A secrets masker and when it was loaded.
type LoadedMasker = (tokio::time::Instant, Arc<Masker>);

/// How long a loaded secrets masker is used before the store is read again (a Variable set
/// while a scheduler runs is masked within this time).
const MASKER_TTL: Duration = Duration::from_secs(5);

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
            dag_slots: dag_slots::DagSlots::default(),
            config,
            worker: Arc::new(WorkerId::new()),
            clock,
            masker: Arc::default(),
            wakes: Arc::default(),
            sharing: std::sync::OnceLock::new(),
            isolation: std::sync::OnceLock::new(),
            renewed: Mutex::new(None),
            driving: Mutex::default(),
        }
    }

    /// Makes this process share tries with other workers (`dagctl worker`): its runs hand
    /// off the tasks it does not serve or has no try slot for, and
    /// [`Executor::serve_tries`] takes the tries other processes handed off. Set once; a
    /// second call is ignored.
    pub fn share_tries(&self, config: TrySharing) {
        let _ = self.sharing.set(sharing::Sharing::new(config));
    }

    /// Where the driver of `run` in this process receives the outcomes of its handed
    /// tries that workers of this process record (registered until
    /// [`Executor::forget_inbox`]).
    fn inbox(&self, run: &crate::store::RunKey) -> Arc<sharing::Inbox> {
        self.wakes.inbox(run)
    }

    /// Marks `run` as executed by this process until the mark is dropped; `None` if it is
    /// already.
    fn start_driving(&self, run: &crate::store::RunKey) -> Option<Driving<'_>> {
        let mut driving = self.driving.lock().unwrap_or_else(|e| e.into_inner());
        driving.insert(run.clone()).then(|| Driving {
            ex: self,
            run: run.clone(),
        })
    }

    /// Stops delivering to `inbox` for `run` (its driver is done with it).
    fn forget_inbox(&self, run: &crate::store::RunKey, inbox: &Arc<sharing::Inbox>) {
        self.wakes.forget_inbox(run, inbox);
    }

    /// Gives the driver of `run`, if it is in this process, an outcome just recorded.
    fn deliver(&self, run: &crate::store::RunKey, outcome: sharing::Delivered) {
        self.wakes.deliver(run, outcome);
    }

    /// Renews the leases of this process's running tries, unless that was done less than
    /// half a heartbeat ago (one statement per heartbeat for the whole process).
    pub(super) async fn renew_tries(&self) {
        let now = tokio::time::Instant::now();
        {
            let mut last = self.renewed.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|t| now.duration_since(t) < self.config.heartbeat / 2) {
                return;
            }
            *last = Some(now);
        }
        let until =
            self.clock.now() + chrono::Duration::from_std(self.config.lease).unwrap_or_default();
        if let Err(e) = self.store.renew_leases(self.worker.as_str(), until).await {
            tracing::warn!("cannot renew leases: {e}");
        }
    }

    /// The secrets masker over the store's secret Variables and connections, reloaded every
    /// [`MASKER_TTL`]. A store whose secrets cannot be read gives an empty masker (and a
    /// warning): a task cannot read those secrets either.
    pub(crate) async fn masker(&self) -> Arc<Masker> {
        let mut cached = self.masker.lock().await;
        if let Some((at, m)) = cached.as_ref()
            && at.elapsed() < MASKER_TTL
        {
            return Arc::clone(m);
        }
        let m = Arc::new(Masker::load_or_empty(self.store.as_ref()).await);
        *cached = Some((tokio::time::Instant::now(), Arc::clone(&m)));
        m
    }

    /// An XCom value as tasks see it: a value kept in the data location is read back.
    ///
    /// # Errors
    /// The data location cannot be read.
    pub(crate) async fn resolved_xcom(
        &self,
        value: serde_json::Value,
    ) -> Result<serde_json::Value, crate::context::TaskError> {
        crate::xcom_spill::resolved(&self.resources, self.store.as_ref(), value).await
    }

    /// Removes an XCom value kept in the data location.
    pub(crate) async fn remove_spilled(&self, path: &str) -> Result<(), String> {
        crate::xcom_spill::remove(&self.resources, self.store.as_ref(), path).await
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

    /// The context of try `try_number` of `instance` of `run` — its task's index in `dag`
    /// and its id (`task[i]` for a mapped instance) — or of the run itself (DAG-level
    /// callbacks): params overridden by the run's conf, rendered `args` to come.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn context(
        &self,
        dag: &Dag,
        run: &DagRun,
        instance: Option<(usize, &str)>,
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
            task_id: instance.map(|(_, id)| id.to_string()).unwrap_or_default(),
            run_id: run.run_id.clone(),
            try_number,
            max_tries,
            logical_date: run.logical_date,
            data_interval_start: run.data_interval_start,
            data_interval_end: run.data_interval_end,
            params,
            conf: run.conf.clone(),
            args,
            downstream: instance
                .map(|(i, _)| {
                    dag.graph
                        .downstream(i)
                        .into_iter()
                        .map(|d| dag.tasks[d].id.clone())
                        .collect()
                })
                .unwrap_or_default(),
            inlets: instance
                .map(|(i, _)| dag.tasks[i].inlets.clone())
                .unwrap_or_default(),
            outlets: instance
                .map(|(i, _)| dag.tasks[i].outlets.clone())
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

    /// Executes a run to its end: a new run, or one left unfinished (orphaned tries are
    /// failed-for-retry first).
    ///
    /// # Errors
    /// A [`RunError`] when the run cannot be executed; task failures are in the outcome.
    pub async fn execute(&self, dag: &Dag, run_id: &str) -> Result<RunOutcome, RunError> {
        let span = tracing::info_span!("dag_run", dag = %dag.id, run = %run_id);
        self.execute_inner(dag, run_id).instrument(span).await
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
