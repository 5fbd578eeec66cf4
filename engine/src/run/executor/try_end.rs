//! What a try's end changes: its record, XCom, Variables and dataset events, the task's next
//! state (success, retry, deferral, skip, branch, short-circuit), and the callbacks it fires;
//! and how a try is started.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::context::{LogBuffer, Pending, TaskContext, TaskError, TaskOutcome};
use crate::run::transitions::TryEnd;
use crate::state::TaskState;
use crate::store::Change;

use super::isolated::run_isolated;
use super::run::RunExec;
use super::tries::{ctx_rendered, execute_try, run_try};

/// The callbacks a task (all three) or a run (success, failure) fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Callback {
    Success,
    Failure,
    Retry,
}

impl Callback {
    /// As a DAG file names it.
    fn name(self) -> &'static str {
        match self {
            Callback::Success => "on_success",
            Callback::Failure => "on_failure",
            Callback::Retry => "on_retry",
        }
    }
}

/// What a spawned try reports back.
pub(super) struct TryDone {
    pub(super) idx: usize,
    pub(super) try_number: u32,
    pub(super) result: Result<TaskOutcome, TaskError>,
    pub(super) pending: Pending,
    pub(super) duration: Duration,
}

impl RunExec<'_> {
    /// The context of a try of task `idx` (or of the run itself, for DAG-level callbacks).
    pub(super) fn context(
        &self,
        idx: Option<usize>,
        try_number: u32,
        args: serde_json::Value,
        log: LogBuffer,
    ) -> TaskContext {
        self.ex.context(
            self.dag,
            &self.run,
            idx.map(|i| (self.slots[i].task, self.slots[i].id.as_str())),
            try_number,
            idx.map_or(1, |i| self.slots[i].max_tries),
            idx.and_then(|i| self.slots[i].start_date),
            args,
            log,
        )
    }

    /// Starts the callbacks of an event (`on_failure`, …) of task `idx` or of the run once
    /// the decision that fired them is committed ([`RunExec::commit`]). A callback's failure
    /// is logged and changes nothing.
    pub(super) fn fire(&mut self, callback: Callback, idx: Option<usize>) {
        let event = callback.name();
        let callbacks = match (idx, callback) {
            (Some(i), Callback::Failure) => &self.task(i).policy.on_failure_callback,
            (Some(i), Callback::Success) => &self.task(i).policy.on_success_callback,
            (Some(i), Callback::Retry) => &self.task(i).policy.on_retry_callback,
            (None, Callback::Failure) => &self.dag.on_failure_callback,
            (None, Callback::Success) => &self.dag.on_success_callback,
            // A run is not retried: there is no run-level retry callback.
            (None, Callback::Retry) => return,
        };
        if callbacks.is_empty() {
            return;
        }
        let who = idx.map_or_else(
            || format!("run {} of {}", self.run.run_id, self.dag.id),
            |i| format!("task {} of {}", self.slots[i].id, self.run.run_id),
        );
        let try_number = idx.map_or(0, |i| self.slots[i].try_number);
        for cb in callbacks.clone() {
            let log = LogBuffer::masked(Arc::clone(&self.masker));
            let ctx = self.context(idx, try_number, cb.args.clone(), log.clone());
            let operator = self.ex.registry.get(&cb.operator).cloned();
            let renderer = Arc::clone(&self.ex.renderer);
            let run_type = self.run.run_type.as_str();
            let who = who.clone();
            let masker = Arc::clone(&self.masker);
            let fired = self.fired.get_mut().unwrap_or_else(|e| e.into_inner());
            fired.push(Box::pin(async move {
                let result = match operator {
                    None => Err(TaskError::fatal("operator is not registered")),
                    Some(op) => {
                        let ctx = ctx_rendered(&renderer, ctx, run_type, op.shell_args()).await;
                        run_try(op.as_ref(), ctx, Some(Duration::from_secs(600)))
                            .await
                            .0
                    }
                };
                let output = log.take().map(|(_, t)| t).unwrap_or_default();
                match result {
                    Ok(_) => tracing::info!("{event} callback of {who} ran: {}", output.trim()),
                    Err(e) => tracing::warn!(
                        "{event} callback of {who} failed: {}",
                        masker.mask(&e.message)
                    ),
                }
            }));
        }
    }

    pub(super) fn spawn_try(
        &mut self,
        joins: &mut JoinSet<TryDone>,
        idx: usize,
        try_number: u32,
    ) -> tokio::task::Id {
        let task = self.task(idx);
        let log = LogBuffer::masked(Arc::clone(&self.masker));
        self.logs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(idx, (try_number, log.clone()));
        self.event(idx, TaskState::Running);
        let args =
            crate::dag::mapping::instance_args(&task.args, self.slots[idx].mapped_args.as_ref());
        let ctx = self.context(Some(idx), try_number, args, log);
        let operator = self.ex.registry.get(&task.operator).cloned();
        let renderer = Arc::clone(&self.ex.renderer);
        let run_type = self.run.run_type.as_str();
        let timeout = task.policy.execution_timeout;
        let masker = Arc::clone(&self.masker);
        let span = tracing::info_span!("try", task = %self.slots[idx].id, try_number);
        let alone = self.ex.isolation.get().filter(|_| self.slots[idx].isolate);
        let alone = alone.map(|iso| (iso.clone(), self.run.key(), self.slots[idx].id.clone()));
        let handle = joins.spawn(
            async move {
                let (result, pending, duration) = match alone {
                    Some((iso, run, task)) => {
                        let log = ctx.log.clone();
                        run_isolated(&iso, &run, &task, try_number, &log).await
                    }
                    None => execute_try(operator, &renderer, ctx, run_type, timeout, &masker).await,
                };
                TryDone {
                    idx,
                    try_number,
                    result,
                    pending,
                    duration,
                }
            }
            .instrument(span),
        );
        handle.id()
    }

    /// Records a finished try (or a panicked one).
    pub(super) fn finished(
        &mut self,
        res: Result<(tokio::task::Id, TryDone), tokio::task::JoinError>,
        spawned: &mut HashMap<tokio::task::Id, (usize, u32)>,
    ) {
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
        self.running -= 1;
        self.release_slot(done.idx);
        self.try_done(done);
    }

    /// Records what a try came to, one of this process's or one a worker took (its log is
    /// in the store already then): its end, XCom, Variables, dataset events, the task's
    /// next state and the callbacks it fires.
    pub(super) fn try_done(&mut self, done: TryDone) {
        let now = self.ex.clock.now();
        let idx = done.idx;
        let task_id = self.slots[idx].id.clone();
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
        if let Some((seq, text)) = log.and_then(|l| l.finish()) {
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
            Err(e) => (
                TaskState::Failed,
                Some(self.masker.mask(&e.message).into_owned()),
            ),
        };
        self.slots[idx].error = error.clone();
        let policy = &self.task(idx).policy;
        self.ends_limited |= policy.max_active_tis_per_dag.is_some()
            || self.ex.pools.declared(&policy.pool).is_some();
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
                    for dataset in &self.task(idx).outlets {
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
                        self.end_as(idx, TryEnd::Succeeded, now);
                        self.fire(Callback::Success, Some(idx));
                    }
                    TaskOutcome::Defer { until } => {
                        // The slot is free until then; the next try costs no retry.
                        self.end_as(idx, TryEnd::Deferred(until), now);
                    }
                    TaskOutcome::Skipped(reason) => {
                        tracing::info!(task = %task_id, "skipped: {reason}");
                        self.end_as(idx, TryEnd::Skipped, now);
                    }
                    TaskOutcome::Branch(chosen) => {
                        self.end_as(idx, TryEnd::Succeeded, now);
                        self.fire(Callback::Success, Some(idx));
                        for d in self.dag.graph.downstream(self.slots[idx].task) {
                            if !chosen.contains(&self.dag.tasks[d].id) {
                                self.force_skip(d, now);
                            }
                        }
                    }
                    TaskOutcome::ShortCircuit {
                        skip_all_downstream,
                    } => {
                        self.end_as(idx, TryEnd::Succeeded, now);
                        self.fire(Callback::Success, Some(idx));
                        let targets: Vec<usize> = if skip_all_downstream {
                            self.dag
                                .graph
                                .descendants(self.slots[idx].task)
                                .into_iter()
                                .collect()
                        } else {
                            self.dag.graph.downstream(self.slots[idx].task)
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
                    self.fire(Callback::Retry, Some(idx));
                } else {
                    self.fire(Callback::Failure, Some(idx));
                }
            }
        }
    }

    /// The task's next state after its try ended as `end`, decided and carried out.
    fn end_as(&mut self, idx: usize, end: TryEnd, now: DateTime<Utc>) {
        let next = self.decide(idx, end, 0, now);
        self.apply(idx, next, now);
    }

    pub(super) fn force_skip(&mut self, idx: usize, now: DateTime<Utc>) {
        if self.slots[idx].state == TaskState::None {
            self.set_state(idx, TaskState::Skipped, now);
        }
    }
}
