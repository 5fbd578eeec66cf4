//! The `Store` trait — the one extension point for state — and the records it keeps.
//!
//! Everything durable goes through a [`Store`]: DAG runs, task instances and every try, try
//! logs, Variables, XCom and pools. The executor relies on two properties:
//! 1. **Claim with lease**: a try row is written `running`, with its worker id and a lease
//!    expiry, *before* the operator starts, and only if the task instance was claimable; the
//!    lease is renewed while the try runs, and an expired lease marks an orphaned try.
//! 2. **Atomic transitions**: a [`Batch`] of changes (a try's end, its XCom and Variables, the
//!    downstream readiness it causes and the next claims) is committed in one transaction.
//!
//! [`SqlStore`] implements it over sqlx for SQLite (the default; its commits on a rusqlite
//! connection of their own, the hot path) and PostgreSQL;
//! [`MemoryStore`] keeps everything in memory (tests, ephemeral embedding).

mod change;
#[cfg(test)]
pub(crate) mod conformance;
mod connection;
mod error;
mod memory;
mod metric_counts;
mod records;
mod rows;
mod signals;
mod sql;
mod sql_records;
mod sqlite_commit;
mod sqlite_read;
mod statements;
pub mod stats;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};

use crate::state::{RunState, RunType, TaskState};

pub use change::{Batch, Change};
pub use connection::{
    Connection, ConnectionLookup, is_secret_name, is_web_url, masked_extra, redact_url,
};
pub use error::StoreError;
pub use memory::MemoryStore;
pub use records::{Expect, PINNED_RUNS, Record, RecordStore, RecordWrite, pin_run};
pub use signals::Signal;
pub use sql::SqlStore;

/// A DAG run.
#[derive(Debug, Clone, PartialEq)]
pub struct DagRun {
    /// The DAG.
    pub dag_id: String,
    /// Unique within the DAG (`manual__2026-01-01T00:00:00+00:00`).
    pub run_id: String,
    /// How the run was created.
    pub run_type: RunType,
    /// The logical date (start of the data interval).
    pub logical_date: DateTime<Utc>,
    /// Start of the data interval.
    pub data_interval_start: DateTime<Utc>,
    /// End of the data interval.
    pub data_interval_end: DateTime<Utc>,
    /// `dag_run.conf`.
    pub conf: serde_json::Value,
    /// Current state.
    pub state: RunState,
    /// When the run was created.
    pub created_at: DateTime<Utc>,
    /// When execution started.
    pub start_date: Option<DateTime<Utc>>,
    /// When the run finished.
    pub end_date: Option<DateTime<Utc>>,
    /// The run that caused this one (`trigger_dag`, a dataset event), if any.
    pub triggered_by: Option<RunKey>,
    /// The worker driving the run and its lease, while one does.
    pub owner: Option<RunOwner>,
}

impl DagRun {
    /// This run's identity (its DAG and run id), for the [`Store`] methods that take one.
    pub fn key(&self) -> RunKey {
        RunKey::new(&self.dag_id, &self.run_id)
    }
}

/// A run's identity: its DAG and its id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct RunKey {
    /// The DAG.
    pub dag_id: String,
    /// The run.
    pub run_id: String,
}

impl RunKey {
    /// The key of `run_id` of `dag_id`.
    pub fn new(dag_id: impl Into<String>, run_id: impl Into<String>) -> Self {
        RunKey {
            dag_id: dag_id.into(),
            run_id: run_id.into(),
        }
    }
}

impl std::fmt::Display for RunKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "run {} of {}", self.run_id, self.dag_id)
    }
}

/// The worker that drives a run: only it may write the run's transitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOwner {
    /// Its worker id (`host:pid:nonce-n`).
    pub worker_id: String,
    /// Until when it holds the run without renewing.
    pub until: DateTime<Utc>,
}

/// A request to drive a run ([`Store::acquire_run`]).
#[derive(Debug, Clone, PartialEq)]
pub struct RunClaim {
    /// The run.
    pub key: RunKey,
    /// The worker asking.
    pub worker_id: String,
    /// Its lease.
    pub until: DateTime<Utc>,
    /// Now (the run's start date if it starts now).
    pub now: DateTime<Utc>,
    /// A queued run starts only while fewer runs of its DAG are running than this.
    pub max_active_runs: u32,
    /// The owner recorded on the run, which the caller found dead: taken over only if it is
    /// still the one recorded.
    pub take_from: Option<String>,
}

/// What is kept of a DAG across processes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DagFlags {
    /// The DAG.
    pub dag_id: String,
    /// Paused DAGs get no scheduled or dataset-triggered runs.
    pub paused: bool,
    /// When an engine first saw it: older dataset events never start a run of it.
    pub first_seen: DateTime<Utc>,
}

/// A DAG an engine knows, as [`Store::register_dags`] records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DagRegistration {
    /// The DAG.
    pub dag_id: String,
    /// Whether it starts paused when it is new (Airflow's `is_paused_upon_creation`).
    pub paused_upon_creation: bool,
}

/// The state of one task within one run.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskInstance {
    /// The task.
    pub task_id: String,
    /// Current state.
    pub state: TaskState,
    /// Tries started so far (the running or last try's number).
    pub try_number: u32,
    /// Retries + 1.
    pub max_tries: u32,
    /// The pool the task takes slots of.
    pub pool: String,
    /// How many slots it takes.
    pub pool_slots: u32,
    /// When an `up_for_retry` task may start again.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When the first try started.
    pub start_date: Option<DateTime<Utc>>,
    /// When the task reached a final state.
    pub end_date: Option<DateTime<Utc>>,
    /// Of a mapped instance (`task[i]`): the arguments its expansion gave it, over the
    /// task's own (`partial`) ones.
    pub mapped_args: Option<serde_json::Value>,
    /// Of a mapped instance: its name from the task's `map_index_template`, once rendered.
    pub rendered_map_index: Option<String>,
}

/// What a handed try that waited `queued` while its task instance or run moved on (cleared,
/// marked) says when a worker looking for tries ends it, in every store alike.
pub(crate) const STALE_QUEUED: &str =
    "never taken: its task instance or run moved on while it waited for a worker";

/// One try of a task instance.
#[derive(Debug, Clone, PartialEq)]
pub struct TryRecord {
    /// Whether this try, orphaned, counts against its task's orphan limit (an orphan of
    /// unknown cause in an engine that cannot run tries alone; a clear forgives it).
    pub blamed: bool,
    /// The task.
    pub task_id: String,
    /// 1 for the first try.
    pub try_number: u32,
    /// `running`, then `success`, `failed`, `skipped`, or `up_for_retry`.
    pub state: TaskState,
    /// The worker that ran it (`host:pid`).
    pub worker_id: String,
    /// Until when the worker holds the try; past it, a running try is an orphan.
    pub lease_until: Option<DateTime<Utc>>,
    /// Start.
    pub start_date: DateTime<Utc>,
    /// End, once finished.
    pub end_date: Option<DateTime<Utc>>,
    /// Wall time, once finished.
    pub duration: Option<Duration>,
    /// Why it failed.
    pub error: Option<String>,
    /// Handed by the run's driver to any worker (`queued` until one takes it).
    pub handed: bool,
    /// What a handed try came to, recorded by its worker until the driver applies it.
    pub outcome: Option<serde_json::Value>,
}

/// What [`Store::clean`] removed (or would remove).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CleanReport {
    /// Runs.
    pub runs: u64,
    /// Their task instances.
    pub task_instances: u64,
    /// Their tries.
    pub tries: u64,
    /// Their log chunks.
    pub log_chunks: u64,
    /// Their XCom values.
    pub xcoms: u64,
    /// Where those of their XCom values too large for the store were kept (paths under the
    /// data location, [`crate::xcom_spill::spilled_path`]): the caller removes them
    /// ([`crate::Engine::clean`] does).
    pub spilled: Vec<String>,
    /// Finished runs that ended before the cut and were kept because they are pinned
    /// ([`PINNED_RUNS`]: the runs that registered a model version).
    pub pinned: u64,
}

/// A DAG consuming a dataset's events recorded from `since` on (when the DAG was first
/// seen), for [`Store::clean_events`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventConsumer {
    /// The dataset.
    pub dataset: String,
    /// The consuming DAG.
    pub dag_id: String,
    /// From when its events are the DAG's.
    pub since: DateTime<Utc>,
}

/// What [`Store::clean_events`] removed (or would remove).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventsCleaned {
    /// Dataset events.
    pub events: u64,
    /// Their consumptions.
    pub consumptions: u64,
}

/// A try handed to workers and taken by one ([`Store::take_queued`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakenTry {
    /// Its run.
    pub run: RunKey,
    /// The task.
    pub task_id: String,
    /// Which try.
    pub try_number: u32,
    /// The task instance's try budget.
    pub max_tries: u32,
    /// When the task instance's first try started.
    pub first_start: Option<DateTime<Utc>>,
    /// Of a mapped instance: the arguments its expansion gave it.
    pub mapped_args: Option<serde_json::Value>,
}

/// Which queued tries a worker takes ([`Store::take_queued`]).
#[derive(Debug, Clone, PartialEq)]
pub struct TakeQueued {
    /// The worker taking them.
    pub worker_id: String,
    /// Only tries of these DAGs (the ones it has loaded).
    pub dag_ids: Vec<String>,
    /// Only tries of tasks in these pools (`None`: any pool).
    pub pools: Option<Vec<String>>,
    /// At most this many.
    pub limit: u32,
    /// The lease of the taken tries.
    pub lease_until: DateTime<Utc>,
    /// Now (the tries' start).
    pub at: DateTime<Utc>,
}

/// A dataset update: which task of which run produced it, and when.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DatasetEvent {
    /// The dataset's name.
    pub dataset: String,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
    /// Orders the events of one dataset recorded in the same microsecond.
    pub seq: i64,
    /// The producing DAG.
    pub dag_id: String,
    /// The producing run.
    pub run_id: String,
    /// The producing task.
    pub task_id: String,
}

/// What `list_runs` returns.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    /// Only this DAG's runs.
    pub dag_id: Option<String>,
    /// Only runs in one of these states (all states when empty).
    pub states: Vec<RunState>,
    /// At most this many, newest first.
    pub limit: Option<u32>,
    /// Skip this many of the newest first (a page further down a long list).
    pub offset: Option<u32>,
    /// Only runs of these types (all types when empty).
    pub run_types: Vec<crate::state::RunType>,
    /// Only runs whose logical date is at or after this.
    pub logical_from: Option<DateTime<Utc>>,
    /// Only runs whose logical date is before this (exclusive).
    pub logical_before: Option<DateTime<Utc>>,
    /// Newest by logical date first, instead of newest created first.
    pub by_logical_date: bool,
    /// Oldest by logical date first (then by creation and run id): the order queued runs
    /// start in. Wins over `by_logical_date`.
    pub oldest_first: bool,
}

/// Durable state: runs, task instances, tries, logs, Variables, XCom, pools, connections,
/// and (through [`RecordStore`]) documents of extensions.
#[async_trait]
pub trait Store: RecordStore + ConnectionLookup + Send + Sync + 'static {
    /// Creates a run and its task instances (state `none`) in one transaction, recording that
    /// it consumes `consumes` (dataset events): each event starts at most one run of a DAG.
    ///
    /// # Errors
    /// [`StoreError::AlreadyExists`] if the DAG has a run with this id, or one of the events
    /// was consumed by another run of the DAG already; nothing is written then.
    async fn create_run(
        &self,
        run: &DagRun,
        tasks: &[TaskInstance],
        consumes: &[DatasetEvent],
    ) -> Result<(), StoreError>;

    /// Makes `claim.worker_id` the driver of a run, in one transaction: the run must be
    /// queued or running, have no owner (or still the dead `take_from`), and, if queued,
    /// its DAG must have fewer than `max_active_runs` running runs. The run is `running`
    /// afterwards. Returns whether it was acquired; [`Store::run`] tells why not.
    async fn acquire_run(&self, claim: &RunClaim) -> Result<bool, StoreError>;

    /// Events of `dataset` recorded at or after `since` that no run of `consumer` consumed,
    /// oldest first.
    async fn unconsumed_events(
        &self,
        consumer: &str,
        dataset: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<DatasetEvent>, StoreError>;

    /// Records that an engine knows these DAGs (first time only: a new DAG starts paused
    /// when its registration says so, an existing one keeps its flag) and returns every
    /// DAG's flags.
    async fn register_dags(
        &self,
        dags: &[DagRegistration],
        now: DateTime<Utc>,
    ) -> Result<Vec<DagFlags>, StoreError>;

    /// Pauses or unpauses a DAG (registering it if needed).
    async fn set_paused(
        &self,
        dag_id: &str,
        paused: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Adds task instances to the existing run `run` (tasks its DAG gained, or all of them for
    /// a run created by `trigger_dag`); instances that exist are left as they are.
    async fn add_task_instances(
        &self,
        run: &RunKey,
        tasks: &[TaskInstance],
    ) -> Result<(), StoreError>;

    /// The run `run` identifies, if any.
    async fn run(&self, run: &RunKey) -> Result<Option<DagRun>, StoreError>;

    /// Runs of any DAG with this run id.
    async fn find_runs(&self, run_id: &str) -> Result<Vec<DagRun>, StoreError>;

    /// Runs matching the filter, newest first.
    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<DagRun>, StoreError>;

    /// The task instances of the run `run`.
    async fn task_instances(&self, run: &RunKey) -> Result<Vec<TaskInstance>, StoreError>;

    /// The tries of the run `run` (of one task if `task_id` is given), by task then try
    /// number.
    async fn tries(
        &self,
        run: &RunKey,
        task_id: Option<&str>,
    ) -> Result<Vec<TryRecord>, StoreError>;

    /// Applies a batch in one transaction; returns, for each `Claim` in order, whether it won.
    async fn commit(&self, batch: &Batch) -> Result<Vec<bool>, StoreError>;

    /// Extends the lease of every running try of `worker_id` (runs renew their own lease
    /// with [`Change::Renew`], so a run its driver stopped looking after expires).
    async fn renew_leases(&self, worker_id: &str, until: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Gives `take.worker_id` up to `take.limit` tries that drivers handed to workers
    /// ([`Change::Claim`] with `queued`), oldest first, of running runs and of tasks whose
    /// instance still waits for that try: each row becomes `running` with the worker and
    /// lease, in one transaction. Two workers never take the same try (PostgreSQL skips
    /// the rows another worker is taking, `FOR UPDATE SKIP LOCKED`).
    async fn take_queued(&self, take: &TakeQueued) -> Result<Vec<TakenTry>, StoreError>;

    /// Removes the finished runs (`success` or `failed`) that ended before `before` (of
    /// `dag_id` only, when given) with their task instances, tries, logs and XCom, in one
    /// transaction; with `dry_run`, only counts them. Running and queued runs, runs pinned
    /// ([`PINNED_RUNS`]), dataset events and their consumptions ([`Store::clean_events`]),
    /// and extensions' records are kept.
    async fn clean(
        &self,
        before: DateTime<Utc>,
        dag_id: Option<&str>,
        dry_run: bool,
    ) -> Result<CleanReport, StoreError>;

    /// Removes the dataset events recorded before `before` that no consumer still waits
    /// for — every consumer in `consumers` of their dataset consumed them, or came after
    /// them — then the consumptions of events no longer there, in one transaction; with
    /// `dry_run`, only counts them. An event a consumer has not consumed stays (it is that
    /// consumer's trigger), and so does the consumption of any event still there (without it
    /// the event would start a run again).
    async fn clean_events(
        &self,
        before: DateTime<Utc>,
        consumers: &[EventConsumer],
        dry_run: bool,
    ) -> Result<EventsCleaned, StoreError>;

    /// Runs and task instances counted by DAG and state, durations as histograms, queue
    /// depth, pool use and live workers at `now` ([`stats::StoreStats`]). By default computed
    /// from the ordinary reads; SQL stores answer with aggregate queries.
    async fn stats(&self, now: DateTime<Utc>) -> Result<stats::StoreStats, StoreError> {
        stats::computed(self, now).await
    }

    /// What other processes sharing this store commit, as it happens ([`Signal`]): a
    /// process waiting for a slot, a handed try or an outcome wakes on it instead of
    /// polling. `None` (the default) when the store sends none; its processes poll.
    fn signals(&self) -> Option<tokio::sync::broadcast::Receiver<Signal>> {
        None
    }

    /// The log of try `try_number` of `task_id` in the run `run`, chunks joined.
    async fn log(&self, run: &RunKey, task_id: &str, try_number: u32)
    -> Result<String, StoreError>;

    /// A Variable's raw value.
    async fn variable(&self, key: &str) -> Result<Option<String>, StoreError>;

    /// Sets a Variable.
    async fn set_variable(&self, key: &str, value: &str) -> Result<(), StoreError>;

    /// Deletes a Variable; whether it existed.
    async fn delete_variable(&self, key: &str) -> Result<bool, StoreError>;

    /// Every Variable, by key.
    async fn variables(&self) -> Result<Vec<(String, String)>, StoreError>;

    /// The XCom value `key` pushed by `task_id` in the run `run`, if any.
    async fn xcom(
        &self,
        run: &RunKey,
        task_id: &str,
        key: &str,
    ) -> Result<Option<serde_json::Value>, StoreError>;

    /// Every XCom of the run `run`: (task, key, value).
    async fn xcoms(
        &self,
        run: &RunKey,
    ) -> Result<Vec<(String, String, serde_json::Value)>, StoreError>;

    /// Events of `dataset` recorded after `after` (all when `None`), oldest first.
    async fn dataset_events(
        &self,
        dataset: &str,
        after: Option<DateTime<Utc>>,
    ) -> Result<Vec<DatasetEvent>, StoreError>;

    /// Creates or replaces a connection.
    async fn set_connection(&self, connection: &Connection) -> Result<(), StoreError>;

    /// Deletes a connection; whether it existed.
    async fn delete_connection(&self, name: &str) -> Result<bool, StoreError>;

    /// Pools set with `dagctl pools set`: (name, slots, description).
    async fn pools(&self) -> Result<Vec<(String, u32, Option<String>)>, StoreError>;

    /// Creates or resizes a pool.
    async fn set_pool(
        &self,
        name: &str,
        slots: u32,
        description: Option<&str>,
    ) -> Result<(), StoreError>;

    /// Deletes a pool; whether it existed.
    async fn delete_pool(&self, name: &str) -> Result<bool, StoreError>;
}

/// The error of a batch whose guard failed: [`StoreError::TryLost`] for a worker's `Held`
/// guard, else [`StoreError::NotOwner`].
pub(crate) fn guard_failed(batch: &Batch) -> StoreError {
    match batch.changes.first() {
        Some(Change::Held {
            task_id,
            try_number,
            ..
        }) => StoreError::TryLost {
            dag_id: batch.dag_id.clone(),
            run_id: batch.run_id.clone(),
            task_id: task_id.clone(),
            try_number: *try_number,
        },
        _ => StoreError::NotOwner {
            dag_id: batch.dag_id.clone(),
            run_id: batch.run_id.clone(),
        },
    }
}

/// Microseconds since the epoch, as stored.
pub fn to_micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// The time of a stored microsecond count.
pub fn from_micros(us: i64) -> DateTime<Utc> {
    Utc.timestamp_micros(us).single().unwrap_or_default()
}
