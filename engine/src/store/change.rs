//! The changes a transition writes, in one [`Batch`] per transaction.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::RunKey;
use crate::state::{RunState, TaskState};

/// One change within a [`Batch`].
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Claims a task instance that is not running or finished (`none`, `scheduled`, `queued`,
    /// `up_for_retry` or `deferred`; the executor has checked its trigger rule): sets it `running` with
    /// `try_number` and writes the try row `running` with the worker and lease. Its outcome (claimed or not,
    /// if someone else was first, or if a limit is reached — the DAG's `max_active_tasks`, the
    /// task's `max_active_tis_per_dag`, its pool's slots — counted across every run and
    /// process sharing the store) is returned by [`Store::commit`](super::Store::commit).
    Claim {
        /// The task.
        task_id: String,
        /// The number of the try being started.
        try_number: u32,
        /// Who runs it.
        worker_id: String,
        /// The DAG's `max_active_tasks`: the claim loses while that many of its task
        /// instances run, across all its runs and processes (checked in the claim's
        /// transaction).
        max_active_tasks: u32,
        /// The task's `max_active_tis_per_dag`: the claim loses while that many instances of
        /// the task run across the DAG's runs (checked in the claim's transaction).
        max_active_tis_per_dag: Option<u32>,
        /// The task's pool, by name and size in slots: the claim loses while the pool's
        /// running task instances, across all DAGs and processes, hold more slots than its
        /// size less the task's (checked in the claim's transaction). `None`: not checked.
        pool: Option<(String, u32)>,
        /// How long the task instance waited, ready, for this claim (from when it became
        /// ready): observed in its pool's slot-wait histogram if the claim wins.
        waited: Option<Duration>,
        /// Lease expiry.
        lease_until: DateTime<Utc>,
        /// Now.
        at: DateTime<Utc>,
        /// Handed to any worker instead of started here: the try row is written `queued`,
        /// without worker or lease, until [`Store::take_queued`](super::Store::take_queued)
        /// gives it to a worker serving the task's pool (`worker_id` is not recorded).
        queued: bool,
    },
    /// Requires that a handed try is still held by the worker that took it (its row
    /// `running` with that worker, no outcome yet): if not, nothing of the batch is written
    /// and [`Store::commit`](super::Store::commit) returns [`StoreError::TryLost`](super::StoreError::TryLost).
    /// First in every batch of a worker about a try it took.
    Held {
        /// The task.
        task_id: String,
        /// Which try.
        try_number: u32,
        /// The worker that took it.
        worker_id: String,
    },
    /// Records what a handed try came to, for the run's driver to apply (its end, XCom,
    /// Variables and downstream readiness are then committed by the driver, as for its own
    /// tries).
    Outcome {
        /// The task.
        task_id: String,
        /// Which try.
        try_number: u32,
        /// The outcome, as [`crate::executor`] encodes it.
        outcome: serde_json::Value,
        /// Now.
        at: DateTime<Utc>,
    },
    /// Gives a taken try back to the queue (its worker cannot run it now).
    Requeue {
        /// The task.
        task_id: String,
        /// Which try.
        try_number: u32,
    },
    /// Ends a try.
    EndTry {
        /// The task.
        task_id: String,
        /// Which try.
        try_number: u32,
        /// Its final state.
        state: TaskState,
        /// Now.
        at: DateTime<Utc>,
        /// How long it ran.
        duration: Duration,
        /// Why it failed.
        error: Option<String>,
    },
    /// Sets a task instance's state.
    SetTask {
        /// The task.
        task_id: String,
        /// The new state.
        state: TaskState,
        /// For `up_for_retry`: when it may run again.
        next_attempt_at: Option<DateTime<Utc>>,
        /// For final states: when it ended.
        end_date: Option<DateTime<Utc>>,
    },
    /// Stores an XCom value.
    Xcom {
        /// The task that pushed it.
        task_id: String,
        /// Its key (`return_value` for an operator's result).
        key: String,
        /// The value.
        value: serde_json::Value,
    },
    /// Appends a chunk of a try's log.
    Log {
        /// The task.
        task_id: String,
        /// Which try.
        try_number: u32,
        /// Position of the chunk within the try's log.
        seq: u32,
        /// The text.
        text: String,
    },
    /// Sets a Variable (as a successful task's side effect).
    SetVariable {
        /// Its name.
        key: String,
        /// Its value (JSON or plain text).
        value: String,
    },
    /// Clears a task instance so that it runs again (`none`, no end, `max_tries` tries in all).
    ResetTask {
        /// The task.
        task_id: String,
        /// The new try budget: tries so far plus retries + 1.
        max_tries: u32,
    },
    /// Writes a mapped instance (`task[i]`) of an expanded task with the arguments its
    /// expansion gave it: a new instance in state `none`, or (the run was cleared and the
    /// task expanded again) the existing one's arguments replaced, its tries kept.
    MapInstance {
        /// The instance's id, `task[i]`.
        task_id: String,
        /// The arguments from the expansion.
        mapped_args: serde_json::Value,
        /// Retries + 1.
        max_tries: u32,
        /// The pool.
        pool: String,
        /// Its slots.
        pool_slots: u32,
        /// Its name from the task's `map_index_template`, if it has one.
        rendered_map_index: Option<String>,
    },
    /// Adds one try to a task instance's budget (a deferred try does not use up a retry).
    GrantTry {
        /// The task.
        task_id: String,
    },
    /// Counts an orphaned try against its task's orphan limit ([`TryRecord::blamed`]).
    ///
    /// [`TryRecord::blamed`]: crate::store::TryRecord::blamed
    Blame {
        /// The task.
        task_id: String,
        /// The try.
        try_number: u32,
    },
    /// Records that a task of this run updated a dataset (its `outlets`).
    DatasetEvent {
        /// The dataset's name.
        dataset: String,
        /// The task that produced it.
        task_id: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// Requires that the run is still driven by this worker: if not, nothing of the batch is
    /// written and [`Store::commit`](super::Store::commit) returns [`StoreError::NotOwner`](super::StoreError::NotOwner). First in every batch
    /// of a driver.
    Owned {
        /// The driver.
        worker_id: String,
    },
    /// Extends the lease of the run's driver (its heartbeat); nothing if it is not the owner.
    Renew {
        /// The driver.
        worker_id: String,
        /// The new lease expiry.
        until: DateTime<Utc>,
    },
    /// Lets go of the run: its owner is cleared (only if it is `worker_id`, when given).
    Release {
        /// The driver letting go; `None` takes the run from whoever drives it (cancel, mark).
        worker_id: Option<String>,
    },
    /// Says that the batch's ended tries freed slots — of the DAG's `max_active_tasks` that
    /// its claims do not take again, or of a task's `max_active_tis_per_dag` or a pool —
    /// which runs waiting elsewhere may take: the store tells the processes that share it
    /// ([`Signal::TryEnded`](super::Signal::TryEnded)). Writes nothing.
    SlotsFreed,
    /// Sets the run that caused this one.
    SetParent {
        /// The causing run.
        parent: Option<RunKey>,
    },
    /// Sets the run's state (and start or end date); a run set `queued` has no start date.
    SetRun {
        /// The new state.
        state: RunState,
        /// When execution started, if it starts now.
        start_date: Option<DateTime<Utc>>,
        /// When it ended, if it ends now.
        end_date: Option<DateTime<Utc>>,
    },
}

/// Changes to one run, committed in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// The DAG of the run.
    pub dag_id: String,
    /// The run.
    pub run_id: String,
    /// The changes, applied in order.
    pub changes: Vec<Change>,
}
