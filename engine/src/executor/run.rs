//! The execution of one run: the in-memory copy of its task states, the turns of its loop
//! (decide, claim, commit, start, wait), and what each finished try changes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::context::{LogBuffer, Pending, TaskContext, TaskError, TaskOutcome};
use crate::dag::Dag;
use crate::events::Event;
use crate::state::{RunState, TaskState};
use crate::store::{Batch, Change, DagRun, StoreError};
use crate::trigger_rule::{Decision, UpstreamStates};

use super::tries::{ctx_rendered, run_try};
use super::{Acquire, Executor, RunError, RunOutcome, TaskSummary, retry_delay};

/// How many times a task's worker may die under it before the task fails.
pub(crate) const MAX_ORPHANED: usize = 3;

pub(super) struct Slot {
    pub(super) state: TaskState,
    pub(super) try_number: u32,
    pub(super) max_tries: u32,
    pub(super) next_attempt_at: Option<DateTime<Utc>>,
    pub(super) duration: Option<Duration>,
    pub(super) error: Option<String>,
    /// When the first try started.
    pub(super) start_date: Option<DateTime<Utc>>,
}

/// What a spawned try reports back.
struct TryDone {
    idx: usize,
    try_number: u32,
    result: Result<TaskOutcome, TaskError>,
    pending: Pending,
    duration: Duration,
}

pub(super) type RunningLogs = Arc<Mutex<HashMap<usize, (u32, LogBuffer)>>>;

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
    /// Callbacks running; awaited before the run's outcome is returned.
    pub(super) callbacks: JoinSet<()>,
}

impl RunExec<'_> {
    fn set_state(&mut self, idx: usize, state: TaskState, now: DateTime<Utc>) {
        let slot = &mut self.slots[idx];
        slot.state = state;
        if !matches!(state, TaskState::UpForRetry | TaskState::Deferred) {
            slot.next_attempt_at = None;
        }
        self.changes.push(Change::SetTask {
            task_id: self.dag.tasks[idx].id.clone(),
            state,
            next_attempt_at: slot.next_attempt_at,
            end_date: state.is_finished().then_some(now),
        });
        self.event(idx, state);
    }

    fn event(&mut self, idx: usize, state: TaskState) {
        self.events.push(Event::Task {
            dag_id: self.dag.id.clone(),
            run_id: self.run.run_id.clone(),
            task_id: self.dag.tasks[idx].id.clone(),
            try_number: self.slots[idx].try_number,
            state,
        });
    }

    /// Tries left `running` by the run's previous driver (it crashed or lost its lease: this
    /// executor acquired the run, so nobody else can end them) are recorded `orphaned` and
    /// their tasks run again at once, without using a retry. A task orphaned
    /// [`MAX_ORPHANED`] times fails: it may be what kills its worker.
    pub(super) async fn recover_orphans(&mut self) -> Result<(), RunError> {
        let now = self.ex.clock.now();
        let running: Vec<usize> = (0..self.slots.len())
            .filter(|&i| self.slots[i].state == TaskState::Running)
            .collect();
        if running.is_empty() {
            return Ok(());
        }
        let tries = self
            .ex
            .store
            .tries(&self.dag.id, &self.run.run_id, None)
            .await?;
        for idx in running {
            let task_id = self.dag.tasks[idx].id.clone();
            let mine = || tries.iter().filter(|t| t.task_id == task_id);
            let orphaned = mine().filter(|t| t.state == TaskState::Orphaned).count() + 1;
            let live = mine()
                .filter(|t| t.state == TaskState::Running)
                .max_by_key(|t| t.try_number);
            if let Some(t) = live {
                let error = format!(
                    "orphaned: worker {} stopped before try {} ended ({orphaned} of at most \
                     {MAX_ORPHANED}); it runs again and uses no retry",
                    t.worker_id, t.try_number
                );
                tracing::warn!(task = %task_id, "{error}");
                self.changes.push(Change::EndTry {
                    task_id: task_id.clone(),
                    try_number: t.try_number,
                    state: TaskState::Orphaned,
                    at: now,
                    duration: (now - t.start_date).to_std().unwrap_or_default(),
                    error: Some(error),
                });
            }
            if orphaned >= MAX_ORPHANED {
                self.slots[idx].error = Some(format!(
                    "orphaned {orphaned} times: its worker died each time (does the task kill \
                     it, e.g. by running out of memory?)"
                ));
                self.set_state(idx, TaskState::Failed, now);
            } else {
                self.changes.push(Change::GrantTry {
                    task_id: task_id.clone(),
                });
                self.slots[idx].max_tries += 1;
                self.set_state(idx, TaskState::Scheduled, now);
            }
        }
        // Committed on its own: a claim in the next batch drops its task's `scheduled`
        // write, which must not leave the store's `running` in place.
        self.commit().await?;
        Ok(())
    }

    /// After a failed try: up_for_retry if allowed and tries remain, else failed.
    fn fail_try(&mut self, idx: usize, retryable: bool, now: DateTime<Utc>) {
        let slot = &self.slots[idx];
        if retryable && slot.try_number < slot.max_tries {
            let delay = retry_delay(&self.dag.tasks[idx].policy, slot.try_number.max(1));
            // Delays are bounded when a DAG is loaded; a sum past the calendar waits forever
            // rather than panicking.
            self.slots[idx].next_attempt_at = chrono::Duration::from_std(delay)
                .ok()
                .and_then(|d| now.checked_add_signed(d))
                .or(Some(DateTime::<Utc>::MAX_UTC));
            self.set_state(idx, TaskState::UpForRetry, now);
        } else {
            self.set_state(idx, TaskState::Failed, now);
        }
    }

    /// Applies trigger rules to waiting tasks and wakes retries that are due.
    fn schedule(&mut self, now: DateTime<Utc>) {
        for k in 0..self.dag.graph.topological_order().len() {
            let idx = self.dag.graph.topological_order()[k];
            match self.slots[idx].state {
                TaskState::None => {
                    let decision = self.dag.tasks[idx]
                        .policy
                        .trigger_rule
                        .evaluate(self.upstream_states(idx));
                    match decision {
                        Decision::Wait => {}
                        Decision::Run => self.set_state(idx, TaskState::Scheduled, now),
                        Decision::Skip => self.set_state(idx, TaskState::Skipped, now),
                        Decision::UpstreamFailed => {
                            self.set_state(idx, TaskState::UpstreamFailed, now)
                        }
                    }
                }
                TaskState::UpForRetry
                    if self.slots[idx].next_attempt_at.is_none_or(|t| t <= now) =>
                {
                    self.set_state(idx, TaskState::Scheduled, now);
                }
                TaskState::Deferred if self.slots[idx].next_attempt_at.is_none_or(|t| t <= now) => {
                    self.set_state(idx, TaskState::Scheduled, now);
                }
                _ => {}
            }
        }
    }

    fn upstream_states(&self, idx: usize) -> UpstreamStates {
        let mut up = UpstreamStates::default();
        for u in self.dag.graph.upstream(idx) {
            up.total += 1;
            match self.slots[u].state {
                TaskState::Success => up.success += 1,
                TaskState::Failed => up.failed += 1,
                TaskState::UpstreamFailed => up.upstream_failed += 1,
                TaskState::Skipped => up.skipped += 1,
                _ => {}
            }
        }
        up
    }

    /// Picks scheduled tasks to start within `max_active_tasks` and pool slots, and adds
    /// their claims to the batch. Returns them, and whether one waits for a pool slot.
    fn claim(&mut self, now: DateTime<Utc>) -> (Vec<(usize, u32)>, bool) {
        let mut claims = Vec::new();
        let mut pool_blocked = false;
        let lease_until =
            now + chrono::Duration::from_std(self.ex.config.lease).unwrap_or_default();
        for k in 0..self.dag.graph.topological_order().len() {
            let idx = self.dag.graph.topological_order()[k];
            if self.slots[idx].state != TaskState::Scheduled {
                continue;
            }
            debug_assert!(self.slots[idx].try_number < u32::MAX);
            if self.running + claims.len() >= self.dag.max_active_tasks as usize {
                break;
            }
            let policy = &self.dag.tasks[idx].policy;
            match self.ex.pools.try_acquire(&policy.pool, policy.pool_slots) {
                Acquire::Ok => {}
                Acquire::Busy => {
                    pool_blocked = true;
                    continue;
                }
                Acquire::TooBig(size) => {
                    let message = format!(
                        "task needs {} slots of pool `{}`, which has {size}",
                        policy.pool_slots, policy.pool
                    );
                    tracing::error!(task = %self.dag.tasks[idx].id, "{message}");
                    self.set_state(idx, TaskState::Failed, now);
                    continue;
                }
            }
            let try_number = self.slots[idx].try_number + 1;
            self.changes.push(Change::Claim {
                task_id: self.dag.tasks[idx].id.clone(),
                try_number,
                worker_id: self.ex.worker.as_str().to_string(),
                lease_until,
                at: now,
            });
            claims.push((idx, try_number));
        }
        if !claims.is_empty() {
            // A task claimed in this batch needs no separate `scheduled` write: the claim
            // moves it to `running` (one statement less per task on the hot path).
            let claimed: std::collections::HashSet<&str> = claims
                .iter()
                .map(|&(i, _)| self.dag.tasks[i].id.as_str())
                .collect();
            self.changes.retain(|c| {
                !matches!(c, Change::SetTask { task_id, state: TaskState::Scheduled, .. }
                    if claimed.contains(task_id.as_str()))
            });
        }
        (claims, pool_blocked)
    }

    async fn commit(&mut self) -> Result<Vec<bool>, RunError> {
        if self.changes.is_empty() {
            return Ok(Vec::new());
        }
        let changes = std::mem::take(&mut self.changes);
        let batch = self.owned_batch(changes);
        let won = self.ex.store.commit(&batch).await?;
        for e in self.events.drain(..) {
            let _ = self.ex.events.send(e);
        }
        Ok(won)
    }

    /// A batch of this run's changes, written only while this executor drives the run.
    fn owned_batch(&self, changes: Vec<Change>) -> Batch {
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
        loop {
            let now = self.ex.clock.now();
            self.schedule(now);
            let (claims, pool_blocked) = self.claim(now);
            let done = self.running == 0
                && claims.is_empty()
                && self.external.is_empty()
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
            let won = self.commit().await?;
            for ((idx, try_number), won) in claims.into_iter().zip(won) {
                if won {
                    self.slots[idx].try_number = try_number;
                    self.slots[idx].state = TaskState::Running;
                    self.slots[idx].start_date.get_or_insert(now);
                    self.running += 1;
                    let id = self.spawn_try(&mut joins, idx, try_number);
                    spawned.insert(id, (idx, try_number));
                } else {
                    let policy = &self.dag.tasks[idx].policy;
                    self.ex.pools.release(&policy.pool, policy.pool_slots);
                    tracing::warn!(task = %self.dag.tasks[idx].id, "claimed by another worker");
                    self.slots[idx].state = TaskState::Running;
                    self.external.push(idx);
                }
            }
            // Events of spawned tries (running) go out now.
            for e in self.events.drain(..) {
                let _ = self.ex.events.send(e);
            }
            if done {
                self.fire(
                    if self.run.state == RunState::Success {
                        "on_success"
                    } else {
                        "on_failure"
                    },
                    None,
                );
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
            let poll = !self.external.is_empty();
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
                        self.poll_external().await?;
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
                _ = self.ex.pools.freed.notified(), if pool_blocked => {}
                // A release between our claim attempt and this wait is not remembered by
                // `Notify`: look again shortly rather than wait for a wake-up that passed.
                _ = tokio::time::sleep(Duration::from_millis(50)), if pool_blocked => {}
            }
        }
    }

    /// Renews the leases of this worker's runs and running tries and flushes their logs, so
    /// that a crash loses at most one heartbeat of output. A store failure is logged, never
    /// fatal; a run taken from this process ends the loop.
    async fn heartbeat(&mut self) -> Result<(), RunError> {
        let until = self.ex.clock.now()
            + chrono::Duration::from_std(self.ex.config.lease).unwrap_or_default();
        if let Err(e) = self
            .ex
            .store
            .renew_leases(self.ex.worker.as_str(), until)
            .await
        {
            tracing::warn!("cannot renew leases: {e}");
        }
        let chunks: Vec<Change> = self
            .logs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter_map(|(&idx, (try_number, log))| {
                log.take().map(|(seq, text)| Change::Log {
                    task_id: self.dag.tasks[idx].id.clone(),
                    try_number: *try_number,
                    seq,
                    text,
                })
            })
            .collect();
        match self.ex.store.commit(&self.owned_batch(chunks)).await {
            Err(e @ StoreError::NotOwner { .. }) => Err(e.into()),
            Err(e) => {
                tracing::warn!("cannot flush task logs: {e}");
                Ok(())
            }
            Ok(_) => Ok(()),
        }
    }

    async fn poll_external(&mut self) -> Result<(), RunError> {
        let tis = self
            .ex
            .store
            .task_instances(&self.dag.id, &self.run.run_id)
            .await?;
        let dag = self.dag;
        self.external.retain(|&idx| {
            let Some(ti) = tis.iter().find(|t| t.task_id == dag.tasks[idx].id) else {
                return false;
            };
            // Whatever the other worker made of it (success, a retry, a deferral) is ours to
            // continue from; a claimable state is claimed again on the next turn.
            self.slots[idx].state = ti.state;
            self.slots[idx].try_number = ti.try_number;
            self.slots[idx].max_tries = ti.max_tries;
            self.slots[idx].next_attempt_at = ti.next_attempt_at;
            ti.state == TaskState::Running
        });
        Ok(())
    }

    /// After the loop failed (its running tries were aborted with it): give back their pool
    /// slots and, if the store still answers, record them as failed tries (retried if retries
    /// remain) so that nothing is left `running` under this live worker.
    pub(super) async fn abandon(&mut self, why: &RunError) {
        let now = self.ex.clock.now();
        let running: Vec<usize> = (0..self.slots.len())
            .filter(|&i| self.slots[i].state == TaskState::Running && !self.external.contains(&i))
            .collect();
        self.changes.clear();
        self.events.clear();
        for idx in running {
            let policy = &self.dag.tasks[idx].policy;
            self.ex.pools.release(&policy.pool, policy.pool_slots);
            self.changes.push(Change::EndTry {
                task_id: self.dag.tasks[idx].id.clone(),
                try_number: self.slots[idx].try_number,
                state: TaskState::Failed,
                at: now,
                duration: Duration::ZERO,
                error: Some(format!("abandoned: the executor stopped ({why})")),
            });
            self.fail_try(idx, true, now);
        }
        self.changes.push(Change::Release {
            worker_id: Some(self.ex.worker.as_str().to_string()),
        });
        if let Err(e) = self.commit().await {
            tracing::warn!("cannot record the abandoned tries (they will be orphans): {e}");
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
    fn final_state(&self) -> RunState {
        let failed = (0..self.slots.len())
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
                .topological_order()
                .map(|t| {
                    let i = self.dag.graph.index_of(&t.id).unwrap_or_default();
                    TaskSummary {
                        task_id: t.id.clone(),
                        state: self.slots[i].state,
                        tries: self.slots[i].try_number,
                        duration: self.slots[i].duration,
                        error: self.slots[i].error.clone(),
                    }
                })
                .collect(),
        }
    }

    /// The context of a try of task `idx` (or of the run itself, for DAG-level callbacks).
    fn context(
        &self,
        idx: Option<usize>,
        try_number: u32,
        args: serde_json::Value,
        log: LogBuffer,
    ) -> TaskContext {
        self.ex.context(
            self.dag,
            &self.run,
            idx,
            try_number,
            idx.map_or(1, |i| self.slots[i].max_tries),
            idx.and_then(|i| self.slots[i].start_date),
            args,
            log,
        )
    }

    /// Starts the callbacks of an event (`on_failure`, …) of task `idx` or of the run.
    /// A callback's failure is logged and changes nothing.
    fn fire(&mut self, event: &'static str, idx: Option<usize>) {
        let callbacks = match (idx, event) {
            (Some(i), "on_failure") => &self.dag.tasks[i].policy.on_failure_callback,
            (Some(i), "on_success") => &self.dag.tasks[i].policy.on_success_callback,
            (Some(i), _) => &self.dag.tasks[i].policy.on_retry_callback,
            (None, "on_failure") => &self.dag.on_failure_callback,
            (None, _) => &self.dag.on_success_callback,
        };
        if callbacks.is_empty() {
            return;
        }
        let who = idx.map_or_else(
            || format!("run {} of {}", self.run.run_id, self.dag.id),
            |i| format!("task {} of {}", self.dag.tasks[i].id, self.run.run_id),
        );
        let try_number = idx.map_or(0, |i| self.slots[i].try_number);
        for cb in callbacks.clone() {
            let log = LogBuffer::default();
            let ctx = self.context(idx, try_number, cb.args.clone(), log.clone());
            let operator = self.ex.registry.get(&cb.operator).cloned();
            let renderer = Arc::clone(&self.ex.renderer);
            let run_type = self.run.run_type.as_str();
            let who = who.clone();
            self.callbacks.spawn(async move {
                let result = match operator {
                    None => Err(TaskError::fatal("operator is not registered")),
                    Some(op) => {
                        let ctx = ctx_rendered(&renderer, ctx, run_type).await;
                        run_try(op.as_ref(), ctx, Some(Duration::from_secs(600)))
                            .await
                            .0
                    }
                };
                let output = log.take().map(|(_, t)| t).unwrap_or_default();
                match result {
                    Ok(_) => tracing::info!("{event} callback of {who} ran: {}", output.trim()),
                    Err(e) => tracing::warn!("{event} callback of {who} failed: {e}"),
                }
            });
        }
    }

    fn spawn_try(
        &mut self,
        joins: &mut JoinSet<TryDone>,
        idx: usize,
        try_number: u32,
    ) -> tokio::task::Id {
        let task = &self.dag.tasks[idx];
        let log = LogBuffer::default();
        self.logs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(idx, (try_number, log.clone()));
        self.event(idx, TaskState::Running);
        let ctx = self.context(Some(idx), try_number, task.args.clone(), log);
        let operator = self.ex.registry.get(&task.operator).cloned();
        let renderer = Arc::clone(&self.ex.renderer);
        let run_type = self.run.run_type.as_str();
        let timeout = task.policy.execution_timeout;
        let span = tracing::info_span!("try", task = %task.id, try_number);
        let handle = joins.spawn(
            async move {
                let start = tokio::time::Instant::now();
                let (result, pending) = match operator {
                    None => (
                        Err(TaskError::fatal(
                            "operator is not registered in this engine",
                        )),
                        Pending::default(),
                    ),
                    Some(op) => {
                        let ctx = ctx_rendered(&renderer, ctx, run_type).await;
                        run_try(op.as_ref(), ctx, timeout).await
                    }
                };
                TryDone {
                    idx,
                    try_number,
                    result,
                    pending,
                    duration: start.elapsed(),
                }
            }
            .instrument(span),
        );
        handle.id()
    }

    /// Records a finished try (or a panicked one).
    fn finished(
        &mut self,
        res: Result<(tokio::task::Id, TryDone), tokio::task::JoinError>,
        spawned: &mut HashMap<tokio::task::Id, (usize, u32)>,
    ) {
        let now = self.ex.clock.now();
        let done = match res {
            Ok((id, done)) => {
                spawned.remove(&id);
                done
            }
            Err(e) => {
                let Some((idx, try_number)) = spawned.remove(&e.id()) else {
                    return;
                };
                TryDone {
                    idx,
                    try_number,
                    result: Err(TaskError::retryable(format!("operator panicked: {e}"))),
                    pending: Pending::default(),
                    duration: Duration::ZERO,
                }
            }
        };
        let idx = done.idx;
        let task_id = self.dag.tasks[idx].id.clone();
        self.running -= 1;
        let policy = &self.dag.tasks[idx].policy;
        self.ex.pools.release(&policy.pool, policy.pool_slots);
        self.slots[idx].duration = Some(done.duration);
        let log = self
            .logs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&idx)
            .map(|(_, l)| l);
        if let (Err(e), Some(log)) = (&done.result, &log) {
            log.line(&format!("ERROR: {e}"));
        }
        if let Some((seq, text)) = log.and_then(|l| l.take()) {
            self.changes.push(Change::Log {
                task_id: task_id.clone(),
                try_number: done.try_number,
                seq,
                text,
            });
        }
        let (try_state, error) = match &done.result {
            Ok(TaskOutcome::Skipped(_)) => (TaskState::Skipped, None),
            Ok(TaskOutcome::Defer { .. }) => (TaskState::Deferred, None),
            Ok(_) => (TaskState::Success, None),
            Err(e) => (TaskState::Failed, Some(e.message.clone())),
        };
        self.slots[idx].error = error.clone();
        self.changes.push(Change::EndTry {
            task_id: task_id.clone(),
            try_number: done.try_number,
            state: try_state,
            at: now,
            duration: done.duration,
            error,
        });
        match done.result {
            Ok(outcome) => {
                // A deferred try is not a success: nothing of it is kept.
                let pending = if matches!(outcome, TaskOutcome::Defer { .. }) {
                    Pending::default()
                } else {
                    done.pending
                };
                for (key, value) in pending.xcom {
                    self.changes.push(Change::Xcom {
                        task_id: task_id.clone(),
                        key,
                        value,
                    });
                }
                for (key, value) in pending.variables {
                    self.changes.push(Change::SetVariable { key, value });
                }
                if !matches!(outcome, TaskOutcome::Skipped(_) | TaskOutcome::Defer { .. }) {
                    for dataset in &self.dag.tasks[idx].outlets {
                        self.changes.push(Change::DatasetEvent {
                            dataset: dataset.clone(),
                            task_id: task_id.clone(),
                            at: now,
                        });
                    }
                }
                match outcome {
                    TaskOutcome::Success(value) => {
                        if let Some(value) = value {
                            self.changes.push(Change::Xcom {
                                task_id: task_id.clone(),
                                key: "return_value".into(),
                                value,
                            });
                        }
                        self.set_state(idx, TaskState::Success, now);
                        self.fire("on_success", Some(idx));
                    }
                    TaskOutcome::Defer { until } => {
                        // The slot is free until then; the next try costs no retry.
                        self.changes.push(Change::GrantTry {
                            task_id: task_id.clone(),
                        });
                        self.slots[idx].max_tries += 1;
                        self.slots[idx].next_attempt_at = Some(until);
                        self.set_state(idx, TaskState::Deferred, now);
                    }
                    TaskOutcome::Skipped(reason) => {
                        tracing::info!(task = %task_id, "skipped: {reason}");
                        self.set_state(idx, TaskState::Skipped, now);
                    }
                    TaskOutcome::Branch(chosen) => {
                        self.set_state(idx, TaskState::Success, now);
                        self.fire("on_success", Some(idx));
                        for d in self.dag.graph.downstream(idx) {
                            if !chosen.contains(&self.dag.tasks[d].id) {
                                self.force_skip(d, now);
                            }
                        }
                    }
                    TaskOutcome::ShortCircuit {
                        skip_all_downstream,
                    } => {
                        self.set_state(idx, TaskState::Success, now);
                        self.fire("on_success", Some(idx));
                        let targets: Vec<usize> = if skip_all_downstream {
                            self.dag.graph.descendants(idx).into_iter().collect()
                        } else {
                            self.dag.graph.downstream(idx)
                        };
                        for d in targets {
                            self.force_skip(d, now);
                        }
                    }
                }
            }
            Err(e) => {
                tracing::info!(task = %task_id, try_number = done.try_number, "try failed: {e}");
                self.fail_try(idx, e.retryable, now);
                if self.slots[idx].state == TaskState::UpForRetry {
                    self.fire("on_retry", Some(idx));
                } else {
                    self.fire("on_failure", Some(idx));
                }
            }
        }
    }

    fn force_skip(&mut self, idx: usize, now: DateTime<Utc>) {
        if self.slots[idx].state == TaskState::None {
            self.set_state(idx, TaskState::Skipped, now);
        }
    }
}
