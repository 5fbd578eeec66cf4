//! The execution of one run: the in-memory copy of its task states, the turns of its loop
//! (decide, claim, commit, start, wait), and what each finished try changes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::task::JoinSet;

use super::decide::frees_slots;
use crate::context::LogBuffer;
use crate::dag::Dag;
use crate::events::Event;
use crate::run::transitions::{Budget, Means, Next, TryEnd, after_try};
use crate::secrets::Masker;
use crate::state::{RunState, TaskState};
use crate::store::{Batch, Change, DagRun};

use super::try_end::{Callback, TryDone};
use super::{Executor, RunError, RunOutcome, TaskSummary, retry_delay};

pub(super) struct Slot {
    /// The DAG task it is an instance of.
    pub(super) task: usize,
    /// Its task instance id: the task's, or `task[i]` for a mapped instance.
    pub(super) id: String,
    /// Of a mapped instance: the arguments its expansion gave it.
    pub(super) mapped_args: Option<serde_json::Value>,
    pub(super) state: TaskState,
    pub(super) try_number: u32,
    pub(super) max_tries: u32,
    pub(super) next_attempt_at: Option<DateTime<Utc>>,
    pub(super) duration: Option<Duration>,
    pub(super) error: Option<String>,
    /// When the first try started.
    pub(super) start_date: Option<DateTime<Utc>>,
    /// Since when it is ready (`scheduled`) and waits for a claim to win: the wait the
    /// claim observes in its pool's slot-wait histogram.
    pub(super) ready_since: Option<DateTime<Utc>>,
    /// Its next try runs in a process of its own: an earlier one's process died under it
    /// (see [`super::isolated`]).
    pub(super) isolate: bool,
}

impl Slot {
    /// The slot of instance `id` of DAG task `task`, from its row in the store if it has
    /// one (`default_max_tries` otherwise).
    pub(super) fn of(
        task: usize,
        id: String,
        default_max_tries: u32,
        ti: Option<&crate::store::TaskInstance>,
    ) -> Slot {
        Slot {
            task,
            id,
            mapped_args: ti.and_then(|ti| ti.mapped_args.clone()),
            // `queued` is claimable like `scheduled`: its claim never happened.
            state: match ti.map_or(TaskState::None, |ti| ti.state) {
                TaskState::Queued => TaskState::Scheduled,
                s => s,
            },
            try_number: ti.map_or(0, |ti| ti.try_number),
            max_tries: ti.map_or(default_max_tries, |ti| ti.max_tries),
            next_attempt_at: ti.and_then(|ti| ti.next_attempt_at),
            duration: None,
            error: None,
            start_date: ti.and_then(|ti| ti.start_date),
            ready_since: None,
            isolate: false,
        }
    }
}

/// A try handed to other workers.
pub(super) struct Handed {
    pub(super) idx: usize,
    pub(super) try_number: u32,
    /// When it was handed off (or found handed off), to say when nobody takes it.
    pub(super) since: tokio::time::Instant,
    pub(super) warned: bool,
}

/// What kept tasks ready to run from being claimed on a turn of the run loop.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Blocked {
    /// A pool of this process had no free slot.
    pub(super) pool: bool,
    /// The DAG's task slots (`max_active_tasks`) are held by its other runs here.
    pub(super) dag: bool,
}

/// A claim in the batch being built: started here when won, or handed off.
#[derive(Debug, Clone, Copy)]
pub(super) struct Claimed {
    pub(super) idx: usize,
    pub(super) try_number: u32,
    pub(super) queued: bool,
}

/// How often a run with tries handed to other processes looks at the store for their end.
const HANDED_POLL: Duration = Duration::from_millis(300);

/// How often a run whose claim a limit refused looks at the store, where no signal says
/// that a slot freed.
const EXTERNAL_POLL: Duration = Duration::from_millis(200);

pub(super) type RunningLogs = Arc<Mutex<HashMap<usize, (u32, LogBuffer)>>>;

/// A callback waiting for its decision to be committed.
pub(super) type Fired = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// The execution of one run.
pub(super) struct RunExec<'a> {
    pub(super) ex: &'a Executor,
    pub(super) dag: &'a Dag,
    pub(super) run: DagRun,
    pub(super) slots: Vec<Slot>,
    pub(super) running: usize,
    pub(super) changes: Vec<Change>,
    pub(super) events: Vec<Event>,
    pub(super) logs: RunningLogs,
    /// Tasks claimed by another worker (a lost claim): polled until they finish.
    pub(super) external: Vec<usize>,
    /// A claim of this run lost (a limit was reached, or another worker was first): the
    /// next turns send one claim at a time until one wins, not every ready task's again
    /// (a run of 50 ready tasks under a full pool sent 50 refused claims per wake-up).
    pub(super) probing: bool,
    /// Told when a try of the run's DAG ends, here or elsewhere ([`super::wakes::Wakes::freed`]).
    pub(super) freed: Arc<tokio::sync::Notify>,
    /// Whether a try ended since the last commit holds a task's `max_active_tis_per_dag`
    /// or a declared pool's slot (its end frees it whatever the batch claims).
    pub(super) ends_limited: bool,
    /// Tries handed to other workers (see [`super::sharing`]): polled until their
    /// outcome is recorded or their worker is gone.
    pub(super) handed: Vec<Handed>,
    /// The outcomes of handed tries that workers of this process recorded.
    pub(super) inbox: Arc<super::sharing::Inbox>,
    /// Callbacks running; awaited before the run's outcome is returned.
    pub(super) callbacks: JoinSet<()>,
    /// Callbacks of decisions not yet committed: started once they are (a callback reads
    /// the state that fired it).
    /// (In a mutex only to be `Sync`: it is reached through `&mut self`.)
    pub(super) fired: std::sync::Mutex<Vec<Fired>>,
    /// Masks secrets in this run's logs and errors.
    pub(super) masker: Arc<Masker>,
    /// The slots of the instances of each mapped task that expanded (by DAG task index;
    /// slots past the DAG's tasks), in map-index order.
    pub(super) instances: HashMap<usize, Vec<usize>>,
    /// The instances each mapped task had in the store before it expanded in this
    /// execution (the run was cleared): taken up again, or removed past its new expansion.
    pub(super) earlier_instances: HashMap<usize, Vec<crate::store::TaskInstance>>,
    /// Mapped tasks whose trigger rule said run: expanded before the next claims.
    pub(super) to_expand: Vec<usize>,
    /// The DAG's task slots (`max_active_tasks`) this run holds in this process.
    pub(super) dag_slots: super::dag_slots::HeldSlots,
}

impl Drop for RunExec<'_> {
    fn drop(&mut self) {
        self.ex.forget_inbox(&self.run.key(), &self.inbox);
    }
}

impl<'a> RunExec<'a> {
    /// The DAG task slot `idx` is an instance of.
    pub(super) fn task(&self, idx: usize) -> &'a crate::dag::Task {
        &self.dag.tasks[self.slots[idx].task]
    }

    pub(super) fn set_state(&mut self, idx: usize, state: TaskState, now: DateTime<Utc>) {
        let slot = &mut self.slots[idx];
        slot.state = state;
        if state == TaskState::Scheduled {
            slot.ready_since.get_or_insert(now);
        }
        if !matches!(state, TaskState::UpForRetry | TaskState::Deferred) {
            slot.next_attempt_at = None;
        }
        self.changes.push(Change::SetTask {
            task_id: slot.id.clone(),
            state,
            next_attempt_at: slot.next_attempt_at,
            end_date: state.is_finished().then_some(now),
        });
        self.event(idx, state);
    }

    pub(super) fn event(&mut self, idx: usize, state: TaskState) {
        self.events.push(Event::Task {
            dag_id: self.dag.id.clone(),
            run_id: self.run.run_id.clone(),
            task_id: self.slots[idx].id.clone(),
            try_number: self.slots[idx].try_number,
            state,
        });
    }

    /// After a failed try: up_for_retry if allowed and tries remain, else failed.
    pub(super) fn fail_try(&mut self, idx: usize, retryable: bool, now: DateTime<Utc>) {
        let next = self.decide(idx, TryEnd::Failed { retryable }, 0, now);
        self.apply(idx, next, now);
    }

    /// What this engine can do, as the decisions need it.
    pub(super) fn means(&self) -> Means {
        Means {
            isolation: self.ex.isolation.get().is_some(),
        }
    }

    /// What follows a try of task `idx` that ended as `end` ([`after_try`], the one place
    /// that decides it); `orphaned_before`: its orphans blamed since its last clear.
    pub(super) fn decide(
        &self,
        idx: usize,
        end: TryEnd,
        orphaned_before: usize,
        now: DateTime<Utc>,
    ) -> Next {
        let slot = &self.slots[idx];
        let budget = Budget {
            try_number: slot.try_number,
            max_tries: slot.max_tries,
            orphaned_before,
        };
        let policy = &self.task(idx).policy;
        after_try(end, budget, self.means(), |n| retry_delay(policy, n), now)
    }

    /// Carries out a decision: the try given back, the task's next try alone, its next
    /// attempt and its new state.
    pub(super) fn apply(&mut self, idx: usize, next: Next, now: DateTime<Utc>) {
        if next.give_back {
            self.changes.push(Change::GrantTry {
                task_id: self.slots[idx].id.clone(),
            });
            self.slots[idx].max_tries += 1;
        }
        self.slots[idx].isolate |= next.isolate;
        self.slots[idx].next_attempt_at = next.next_attempt_at;
        self.set_state(idx, next.state, now);
    }

    pub(super) async fn commit(&mut self) -> Result<Vec<bool>, RunError> {
        let won = if self.changes.is_empty() {
            Vec::new()
        } else {
            let changes = std::mem::take(&mut self.changes);
            let batch = self.owned_batch(changes);
            self.ex.store.commit(&batch).await?
        };
        for e in self.events.drain(..) {
            let _ = self.ex.events.send(e);
        }
        self.start_fired();
        Ok(won)
    }

    /// Starts the callbacks whose decisions are committed.
    fn start_fired(&mut self) {
        let fired = self.fired.get_mut().unwrap_or_else(|e| e.into_inner());
        for callback in fired.drain(..) {
            self.callbacks.spawn(callback);
        }
    }

    /// A batch of this run's changes, written only while this executor drives the run.
    pub(super) fn owned_batch(&self, changes: Vec<Change>) -> Batch {
        let mut all = Vec::with_capacity(changes.len() + 1);
        all.push(Change::Owned {
            worker_id: self.ex.worker.as_str().to_string(),
        });
        all.extend(changes);
        Batch {
            dag_id: self.dag.id.clone(),
            run_id: self.run.run_id.clone(),
            changes: all,
        }
    }

    pub(super) async fn run_loop(&mut self) -> Result<RunOutcome, RunError> {
        let mut joins: JoinSet<TryDone> = JoinSet::new();
        let mut spawned: HashMap<tokio::task::Id, (usize, u32)> = HashMap::new();
        let mut next_beat = tokio::time::Instant::now() + self.ex.config.heartbeat;
        let freed = Arc::clone(&self.freed);
        self.ex.wakes.listen(self.ex.store.as_ref());
        let deadline = self.deadline();
        loop {
            let now = self.ex.clock.now();
            if let Some((at, limit)) = deadline
                && now >= at
            {
                return Err(self.time_out(limit).await);
            }
            self.schedule(now);
            if !self.to_expand.is_empty() {
                // What the expansion reads (an upstream's XCom) is in the store first.
                self.commit().await?;
                self.expand(now).await?;
                // Its instances are scheduled (or the task failed or was skipped).
                self.schedule(now);
            }
            let (claims, blocked) = self.claim(now);
            let done = self.running == 0
                && claims.is_empty()
                && self.external.is_empty()
                && self.handed.is_empty()
                && self.slots.iter().all(|s| s.state.is_finished());
            if done {
                let state = self.final_state();
                self.run.state = state;
                self.changes.push(Change::SetRun {
                    state,
                    start_date: None,
                    end_date: Some(now),
                });
                self.changes.push(Change::Release {
                    worker_id: Some(self.ex.worker.as_str().to_string()),
                });
                self.run_event(state);
            }
            let count = |f: fn(&Change) -> bool| self.changes.iter().filter(|c| f(c)).count();
            let ended = count(|c| matches!(c, Change::EndTry { .. }));
            let claimed = count(|c| matches!(c, Change::Claim { .. }));
            let limited = std::mem::take(&mut self.ends_limited);
            if frees_slots(ended, claimed, limited) {
                self.changes.push(Change::SlotsFreed);
            }
            let won = match self.commit().await {
                Ok(won) => won,
                Err(e) => {
                    // The claims of this batch were not written: their pool slots go back.
                    for &c in &claims {
                        self.unclaim(c);
                    }
                    return Err(e);
                }
            };
            if !won.is_empty() {
                self.probing = won.contains(&false);
            }
            // A slot this batch freed and did not take again lets one run of the DAG whose
            // claim a limit refused look again (others wake as more end). One taken again by
            // this run's next claim wakes nobody: its claim would be refused.
            if frees_slots(ended, won.iter().filter(|w| **w).count(), limited) {
                self.freed.notify_one();
            }
            for (c, won) in claims.into_iter().zip(won) {
                let (idx, try_number) = (c.idx, c.try_number);
                if won {
                    // Its wait is observed; the next try's starts when it is ready again.
                    self.slots[idx].ready_since = None;
                }
                if won && c.queued {
                    self.slots[idx].try_number = try_number;
                    self.slots[idx].state = TaskState::Running;
                    self.slots[idx].start_date.get_or_insert(now);
                    self.handed.push(Handed {
                        idx,
                        try_number,
                        since: tokio::time::Instant::now(),
                        warned: false,
                    });
                    if let Some(s) = self.ex.sharing.get() {
                        s.wake.notify_waiters();
                    }
                    self.ex.wakes.handed_here();
                } else if won {
                    self.slots[idx].try_number = try_number;
                    self.slots[idx].state = TaskState::Running;
                    self.slots[idx].start_date.get_or_insert(now);
                    self.running += 1;
                    let id = self.spawn_try(&mut joins, idx, try_number);
                    spawned.insert(id, (idx, try_number));
                } else {
                    self.unclaim(c);
                    // Another worker has it, or the DAG's other runs fill `max_active_tasks`:
                    // the store's state says which at the next heartbeat.
                    tracing::debug!(task = %self.slots[idx].id, "not claimed: running elsewhere or max_active_tasks reached");
                    self.slots[idx].state = TaskState::Running;
                    self.external.push(idx);
                }
            }
            // Slots of tries that ended go to the runs in line. The slot of a claim a limit
            // refused stays with its run until the task is claimed again: given back, it
            // would only let the next run in line be refused in turn.
            self.dag_slots
                .fit(self.running + self.handed.len() + self.external.len());
            // Events of spawned tries (running) go out now.
            for e in self.events.drain(..) {
                let _ = self.ex.events.send(e);
            }
            if done {
                self.fire(
                    if self.run.state == RunState::Success {
                        Callback::Success
                    } else {
                        Callback::Failure
                    },
                    None,
                );
                // The run's end is committed (the claims' commit above).
                self.start_fired();
                while self.callbacks.join_next().await.is_some() {}
                return Ok(self.outcome());
            }
            let next_retry = self
                .slots
                .iter()
                .filter(|s| matches!(s.state, TaskState::UpForRetry | TaskState::Deferred))
                .filter_map(|s| s.next_attempt_at)
                .min();
            let wake_at = next_retry.map(|t| self.ex.clock.instant_at(t));
            let (external, handed) = (!self.external.is_empty(), !self.handed.is_empty());
            let poll = external || handed;
            // Timers live only in this select: none is pending while a commit waits on the
            // database, so a paused test clock jumps only to the executor's own deadlines.
            // The heartbeat also runs while the run only waits (a retry delay): it renews
            // the run's lease and notices when the run was taken from this process.
            let beat = tokio::time::sleep_until(next_beat);
            tokio::select! {
                _ = beat => {
                    next_beat = tokio::time::Instant::now() + self.ex.config.heartbeat;
                    self.heartbeat().await?;
                    if poll {
                        self.look_elsewhere().await?;
                    }
                }
                Some(res) = joins.join_next_with_id(), if self.running > 0 => {
                    self.finished(res, &mut spawned);
                    while let Some(res) = joins.try_join_next_with_id() {
                        self.finished(res, &mut spawned);
                    }
                }
                _ = tokio::time::sleep_until(wake_at.unwrap_or_else(tokio::time::Instant::now)),
                    if wake_at.is_some() => {}
                _ = tokio::time::sleep_until(
                        deadline.map_or_else(tokio::time::Instant::now, |(at, _)| self.ex.clock.instant_at(at))),
                    if deadline.is_some() => {}
                _ = self.ex.pools.freed.notified(), if blocked.pool => {}
                // In line for one of the DAG's task slots, given back by a try that ended.
                _ = self.dag_slots.wait(), if blocked.dag => {}
                // A claim a limit refused (`max_active_tasks`, `max_active_tis_per_dag`, a
                // pool) may win once a try of the DAG ends, here or in another process (the
                // store's signal); where the store sends none, look at it regularly.
                _ = freed.notified(), if external => {
                    self.look_elsewhere().await?;
                }
                _ = tokio::time::sleep(self.ex.wakes.fallback(EXTERNAL_POLL)), if external => {
                    self.look_elsewhere().await?;
                }
                // Handed tries: at once when a worker of this process recorded one, or one
                // of another process did (the store's signal), else look regularly.
                _ = self.inbox.wake.notified(), if handed => self.delivered(),
                _ = self.inbox.elsewhere.notified(), if handed => {
                    self.look_elsewhere().await?;
                }
                _ = tokio::time::sleep(self.ex.wakes.fallback(HANDED_POLL)), if handed => {
                    self.look_elsewhere().await?;
                }
                // A release between our claim attempt and this wait is not remembered by
                // `Notify`: look again shortly rather than wait for a wake-up that passed.
                _ = tokio::time::sleep(Duration::from_millis(50)), if blocked.pool => {}
            }
        }
    }

    /// When the run times out (`dagrun_timeout` after it started), and the timeout.
    fn deadline(&self) -> Option<(DateTime<Utc>, Duration)> {
        let limit = self.dag.dagrun_timeout?;
        let started = self.run.start_date.unwrap_or_else(|| self.ex.clock.now());
        Some((started + chrono::Duration::from_std(limit).ok()?, limit))
    }

    /// Fails the run for exceeding `dagrun_timeout`, as `dagctl runs mark failed` does:
    /// running tries are stopped (this process's are cancelled when the loop returns),
    /// tasks not started are skipped. Returns the error that ends this loop.
    async fn time_out(&mut self, limit: Duration) -> RunError {
        let why = format!(
            "the run exceeded its dagrun_timeout of {}",
            crate::duration::format_duration(limit)
        );
        tracing::warn!(dag = %self.dag.id, run = %self.run.run_id, "{why}");
        match self
            .ex
            .runs
            .mark(&self.run.key(), RunState::Failed, &why)
            .await
        {
            Ok(()) => RunError::TimedOut {
                dag_id: self.dag.id.clone(),
                run_id: self.run.run_id.clone(),
            },
            Err(crate::EngineError::Store(e)) => RunError::Store(e),
            Err(e) => {
                tracing::error!("cannot fail the run on its timeout: {e}");
                RunError::Lost {
                    dag_id: self.dag.id.clone(),
                    run_id: self.run.run_id.clone(),
                }
            }
        }
    }

    pub(super) fn run_event(&mut self, state: RunState) {
        self.events.push(Event::Run {
            dag_id: self.dag.id.clone(),
            run_id: self.run.run_id.clone(),
            state,
        });
    }

    /// Airflow's rule: a run fails if a leaf task failed or was upstream_failed.
    pub(super) fn final_state(&self) -> RunState {
        // A mapped task's slot holds what its instances came to.
        let failed = (0..self.dag.tasks.len())
            .filter(|&i| self.dag.graph.downstream(i).is_empty())
            .any(|i| {
                matches!(
                    self.slots[i].state,
                    TaskState::Failed | TaskState::UpstreamFailed
                )
            });
        if failed {
            RunState::Failed
        } else {
            RunState::Success
        }
    }

    pub(super) fn outcome(&self) -> RunOutcome {
        RunOutcome {
            dag_id: self.dag.id.clone(),
            run_id: self.run.run_id.clone(),
            state: self.run.state,
            tasks: self
                .dag
                .graph
                .topological_order()
                .iter()
                .flat_map(|&i| {
                    let children = self
                        .instances
                        .get(&i)
                        .map(Vec::as_slice)
                        .unwrap_or_default();
                    std::iter::once(i).chain(children.iter().copied())
                })
                .map(|i| TaskSummary {
                    task_id: self.slots[i].id.clone(),
                    state: self.slots[i].state,
                    tries: self.slots[i].try_number,
                    duration: self.slots[i].duration,
                    error: self.slots[i].error.clone(),
                })
                .collect(),
        }
    }
}
