//! A worker's side of shared tries (see [`super::sharing`]): taking the tries drivers
//! handed off, running them with the same try body as a driver's own, flushing their logs
//! and recording their outcome under the worker's lease.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::context::{LogBuffer, Pending, TaskError, TaskOutcome};
use crate::store::{Batch, Change, RunKey, StoreError, TakeQueued, TakenTry};

use super::Executor;
use super::pool_slots::Acquire;
use super::sharing::{Sharing, encode};
use super::tries::execute_try;

/// The first wait between two looks for queued tries while idle; it doubles up to the
/// sharing's `poll`.
const FIRST_WAIT: Duration = Duration::from_millis(20);

/// How many runs [`Served::runs`] keeps before it starts again.
const RUN_CACHE: usize = 1024;

/// A taken try being run here.
struct Running {
    taken: TakenTry,
    log: LogBuffer,
    pool: String,
    pool_slots: u32,
    abort: tokio::task::AbortHandle,
}

type Ran = (Result<TaskOutcome, TaskError>, Pending, Duration);

/// The tries this process took and runs.
#[derive(Default)]
struct Served {
    joins: JoinSet<Ran>,
    running: HashMap<tokio::task::Id, Running>,
    /// The runs of taken tries, read once (what a try sees of its run does not change).
    runs: HashMap<RunKey, crate::store::DagRun>,
    /// Batches not written yet because the store failed (an outcome, a hand-back): tried
    /// again at every turn, or the worker would renew a try it no longer runs forever.
    unwritten: Vec<Batch>,
}

fn held(t: &TakenTry, worker_id: &str, changes: Vec<Change>) -> Batch {
    let mut all = vec![Change::Held {
        task_id: t.task_id.clone(),
        try_number: t.try_number,
        worker_id: worker_id.to_string(),
    }];
    all.extend(changes);
    Batch {
        dag_id: t.run.dag_id.clone(),
        run_id: t.run.run_id.clone(),
        changes: all,
    }
}

impl Executor {
    /// Takes the tries other drivers handed to workers and runs them, within this
    /// process's try slots and pools (see [`Executor::share_tries`]), until `shutdown`;
    /// then lets running tries finish within `grace` and returns how many it cut (their
    /// drivers run them again once this process is gone). Returns at once if this process
    /// does not share tries.
    pub async fn serve_tries(&self, shutdown: CancellationToken, grace: Duration) -> usize {
        let Some(sharing) = self.sharing.get() else {
            return 0;
        };
        let mut served = Served::default();
        let mut wait = FIRST_WAIT;
        self.wakes.listen(self.store.as_ref());
        let mut next_beat = tokio::time::Instant::now() + self.config.heartbeat;
        loop {
            self.write_unwritten(&mut served).await;
            let took = if shutdown.is_cancelled() {
                break;
            } else {
                self.take_some(sharing, &mut served).await
            };
            wait = if took > 0 {
                FIRST_WAIT
            } else {
                (wait * 2).min(self.wakes.fallback(sharing.config.poll.max(FIRST_WAIT)))
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                Some(joined) = served.joins.join_next_with_id(), if !served.running.is_empty() => {
                    self.finish(sharing, &mut served, joined).await;
                    // Every try that ended meanwhile too, then one take for all their slots.
                    while let Some(joined) = served.joins.try_join_next_with_id() {
                        self.finish(sharing, &mut served, joined).await;
                    }
                    wait = FIRST_WAIT;
                }
                _ = tokio::time::sleep_until(next_beat) => {
                    next_beat = tokio::time::Instant::now() + self.config.heartbeat;
                    self.renew_tries().await;
                    self.flush_logs(&mut served).await;
                }
                _ = sharing.wake.notified(), if sharing.free() > 0 => {}
                // Another process handed a try off (the store's signal).
                _ = self.wakes.queued.notified(), if sharing.free() > 0 => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
        let deadline = tokio::time::Instant::now() + grace;
        while !served.running.is_empty() {
            tokio::select! {
                Some(joined) = served.joins.join_next_with_id() => {
                    self.finish(sharing, &mut served, joined).await;
                }
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        self.write_unwritten(&mut served).await;
        let cut = served.running.len();
        served.joins.abort_all();
        cut
    }

    /// Takes as many queued tries as there are free try slots, pool by pool within each
    /// pool's free slots, and starts them; how many.
    async fn take_some(&self, sharing: &Sharing, served: &mut Served) -> usize {
        let dag_ids = self.runs.dag_ids();
        let mut n = 0;
        for (pool, room) in self.pools.rooms() {
            let free = sharing.free().min(room as usize);
            if free == 0 || !sharing.serves(&pool) {
                continue;
            }
            let now = self.clock.now();
            let take = TakeQueued {
                worker_id: self.worker.as_str().to_string(),
                dag_ids: dag_ids.clone(),
                pools: Some(vec![pool]),
                limit: free as u32,
                lease_until: now
                    + chrono::Duration::from_std(self.config.lease).unwrap_or_default(),
                at: now,
            };
            let taken = match self.store.take_queued(&take).await {
                Ok(taken) => taken,
                Err(e) => {
                    tracing::warn!("cannot take queued tries (trying again): {e}");
                    return n;
                }
            };
            n += taken.len();
            for t in taken {
                self.start(sharing, served, t).await;
            }
        }
        n
    }

    /// Starts a taken try, or gives it back (no slot free here after all) or records why it
    /// cannot run here.
    async fn start(&self, sharing: &Sharing, served: &mut Served, t: TakenTry) {
        let me = self.worker.as_str();
        let dag = self.runs.dag(&t.run.dag_id).ok();
        let run = match served.runs.get(&t.run) {
            Some(run) => Ok(Some(run.clone())),
            None => self.store.run(&t.run).await,
        };
        let run = match run {
            Ok(run) => run,
            Err(e) => {
                tracing::warn!(
                    "cannot start try {} of {} in {}: {e}",
                    t.try_number,
                    t.task_id,
                    t.run
                );
                let back = vec![Change::Requeue {
                    task_id: t.task_id.clone(),
                    try_number: t.try_number,
                }];
                served.unwritten.push(held(&t, me, back));
                return;
            }
        };
        if let Some(run) = &run {
            if served.runs.len() >= RUN_CACHE {
                served.runs.clear();
            }
            served.runs.insert(t.run.clone(), run.clone());
        }
        let found = dag.as_ref().zip(run.as_ref()).and_then(|(dag, run)| {
            let task = crate::dag::mapping::task_of_instance(&t.task_id);
            let idx = dag.graph.index_of(task)?;
            Some((Arc::clone(dag), run.clone(), idx))
        });
        let Some((dag, run, idx)) = found else {
            let error = format!(
                "task `{}` is not in DAG `{}` as worker {me} loaded it (is the DAG folder the \
                 same on every worker?)",
                t.task_id, t.run.dag_id
            );
            let outcome = encode(
                &Err(TaskError::fatal(error)),
                &Pending::default(),
                Duration::ZERO,
            );
            let at = self.clock.now();
            let changes = vec![Change::Outcome {
                task_id: t.task_id.clone(),
                try_number: t.try_number,
                outcome,
                at,
            }];
            served.unwritten.push(held(&t, me, changes));
            return;
        };
        let task = &dag.tasks[idx];
        // A mapped instance's arguments are its task's with those its expansion gave it.
        let args = crate::dag::mapping::instance_args(&task.args, t.mapped_args.as_ref());
        let policy = &task.policy;
        let pooled = match self.pools.try_acquire(&policy.pool, policy.pool_slots) {
            Acquire::Ok => {
                sharing.take_slot() || {
                    self.pools.release(&policy.pool, policy.pool_slots);
                    false
                }
            }
            // Its driver failed it already when too big; give it back for a worker with room.
            Acquire::Busy | Acquire::TooBig(_) => false,
        };
        if !pooled {
            let back = vec![Change::Requeue {
                task_id: t.task_id.clone(),
                try_number: t.try_number,
            }];
            served.unwritten.push(held(&t, me, back));
            return;
        }
        let masker = Arc::new(self.masker().await.with_conf(&run.conf));
        let log = LogBuffer::masked(Arc::clone(&masker));
        let ctx = self.context(
            &dag,
            &run,
            Some((idx, t.task_id.as_str())),
            t.try_number,
            t.max_tries,
            t.first_start,
            args,
            log.clone(),
        );
        let operator = self.registry.get(&task.operator).cloned();
        let renderer = Arc::clone(&self.renderer);
        let run_type = run.run_type.as_str();
        let timeout = policy.execution_timeout;
        let span = tracing::info_span!("try", dag = %dag.id, run = %run.run_id, task = %task.id,
            try_number = t.try_number);
        let handle = served.joins.spawn(
            async move { execute_try(operator, &renderer, ctx, run_type, timeout, &masker).await }
                .instrument(span),
        );
        served.running.insert(
            handle.id(),
            Running {
                taken: t,
                log,
                pool: policy.pool.clone(),
                pool_slots: policy.pool_slots,
                abort: handle,
            },
        );
    }

    /// Records a taken try's outcome and log tail for its driver, and frees its slots.
    async fn finish(
        &self,
        sharing: &Sharing,
        served: &mut Served,
        joined: Result<(tokio::task::Id, Ran), tokio::task::JoinError>,
    ) {
        let (id, (result, pending, duration)) = match joined {
            Ok(j) => j,
            Err(e) => (
                e.id(),
                (
                    Err(TaskError::retryable(format!("operator panicked: {e}"))),
                    Pending::default(),
                    Duration::ZERO,
                ),
            ),
        };
        let Some(r) = served.running.remove(&id) else {
            return;
        };
        self.pools.release(&r.pool, r.pool_slots);
        sharing.release_slot();
        if let Err(e) = &result {
            r.log.line(&format!("ERROR: {e}"));
        }
        let t = &r.taken;
        let mut changes = Vec::new();
        if let Some((seq, text)) = r.log.finish() {
            changes.push(Change::Log {
                task_id: t.task_id.clone(),
                try_number: t.try_number,
                seq,
                text,
            });
        }
        changes.push(Change::Outcome {
            task_id: t.task_id.clone(),
            try_number: t.try_number,
            outcome: encode(&result, &pending, duration),
            at: self.clock.now(),
        });
        served
            .unwritten
            .push(held(t, self.worker.as_str(), changes));
        self.write_unwritten(served).await;
    }

    /// Writes what waits to be written; a try lost meanwhile is dropped with a warning.
    async fn write_unwritten(&self, served: &mut Served) {
        for batch in std::mem::take(&mut served.unwritten) {
            match self.store.commit(&batch).await {
                Ok(_) => {
                    // A driver of this process may be waiting for that outcome.
                    for c in &batch.changes {
                        if let Change::Outcome {
                            task_id,
                            try_number,
                            outcome,
                            ..
                        } = c
                        {
                            let run = RunKey::new(&batch.dag_id, &batch.run_id);
                            self.deliver(&run, (task_id.clone(), *try_number, outcome.clone()));
                        }
                    }
                }
                Err(e @ StoreError::TryLost { .. }) => tracing::warn!("{e}"),
                Err(e) => {
                    tracing::warn!("cannot record a taken try (trying again): {e}");
                    served.unwritten.push(batch);
                }
            }
        }
    }

    /// Flushes the logs of the running taken tries (a crash loses at most one heartbeat of
    /// output); a try lost meanwhile (its lease expired and its driver moved on) is stopped.
    async fn flush_logs(&self, served: &mut Served) {
        let me = self.worker.as_str();
        let mut lost = Vec::new();
        for (id, r) in &served.running {
            let Some((seq, text)) = r.log.take() else {
                continue;
            };
            let t = &r.taken;
            let batch = held(
                t,
                me,
                vec![Change::Log {
                    task_id: t.task_id.clone(),
                    try_number: t.try_number,
                    seq,
                    text,
                }],
            );
            match self.store.commit(&batch).await {
                Ok(_) => {}
                Err(e @ StoreError::TryLost { .. }) => {
                    tracing::warn!("{e}; stopping it");
                    lost.push(*id);
                }
                Err(e) => tracing::warn!("cannot flush a try's log: {e}"),
            }
        }
        for id in lost {
            if let Some(r) = served.running.remove(&id) {
                r.abort.abort();
                self.pools.release(&r.pool, r.pool_slots);
                if let Some(s) = self.sharing.get() {
                    s.release_slot();
                }
            }
        }
    }
}
