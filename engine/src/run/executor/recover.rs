//! A run's upkeep besides its turns: taking over the tries a dead driver left `running`,
//! heartbeats (leases, log flushes, noticing the run was taken from this process), following
//! claims lost to another worker, and letting go when the loop fails.

use chrono::{DateTime, Utc};

use crate::run::transitions::{MAX_ORPHANED, OrphanCause, TryEnd};
use crate::state::TaskState;
use crate::store::{Change, StoreError, TryRecord};

use super::RunError;
use super::run::{Handed, RunExec};

impl RunExec<'_> {
    /// Tries left `running` by the run's previous driver (it crashed or lost its lease: this
    /// executor acquired the run, so nobody else can end them) are recorded `orphaned` and
    /// their tasks run again at once, without using a retry (see [`RunExec::orphan`]). Tries the previous
    /// driver handed to workers are followed as they are when a worker holds them, has
    /// recorded their outcome, or (in a sharing process) may still take them.
    pub(super) async fn recover_orphans(&mut self) -> Result<(), RunError> {
        let now = self.ex.clock.now();
        // A mapped task that expanded is `running` while its instances run, without a try.
        let running: Vec<usize> = (0..self.slots.len())
            .filter(|&i| self.slots[i].state == TaskState::Running)
            .filter(|i| !self.instances.contains_key(i))
            .collect();
        if running.is_empty() {
            return Ok(());
        }
        let tries = self.ex.store.tries(&self.run.key(), None).await?;
        for idx in running {
            let task_id = self.slots[idx].id.clone();
            let live = tries
                .iter()
                .filter(|t| t.task_id == task_id)
                .filter(|t| matches!(t.state, TaskState::Running | TaskState::Queued))
                .max_by_key(|t| t.try_number);
            if let Some(t) = live
                && self.follows_handed(t, now)
            {
                self.handed.push(Handed {
                    idx,
                    try_number: t.try_number,
                    since: tokio::time::Instant::now(),
                    warned: false,
                });
                continue;
            }
            self.orphan(idx, live, &tries, now, None);
        }
        // Committed on its own: a claim in the next batch drops its task's `scheduled`
        // write, which must not leave the store's `running` in place.
        self.commit().await?;
        Ok(())
    }

    /// Records try `t` of task `idx` orphaned (its worker is gone; `None`: no try row) and
    /// decides what follows through `transitions::after_try`: the task runs again at once without using
    /// a retry, alone in a process of its own where the engine can start one
    /// ([`super::Isolation`]); elsewhere an orphan of unknown cause is blamed on the task and
    /// the [`MAX_ORPHANED`]-th since its last clear (counted in `tries`, the run's tries)
    /// fails it. `cause`: why its executor cut the try, when it did (never the task's fault).
    pub(super) fn orphan(
        &mut self,
        idx: usize,
        t: Option<&TryRecord>,
        tries: &[TryRecord],
        now: DateTime<Utc>,
        cause: Option<&str>,
    ) {
        let task_id = self.slots[idx].id.clone();
        let orphaned_before = tries
            .iter()
            .filter(|t| t.task_id == task_id && t.blamed)
            .count();
        let means = self.means();
        let blamed = !means.isolation && cause.is_none();
        let end = TryEnd::Orphaned(cause.map(|_| OrphanCause::ExecutorStopped));
        let next = self.decide(idx, end, orphaned_before, now);
        if let Some(t) = t {
            let who = match cause {
                Some(cause) => cause.to_string(),
                None if t.worker_id.is_empty() => "no worker took it".to_string(),
                None => format!("worker {} stopped", t.worker_id),
            };
            let then = if next.orphaned_out {
                format!(
                    "{} of at most {MAX_ORPHANED}: the task fails",
                    orphaned_before + 1
                )
            } else if blamed {
                format!(
                    "{} of at most {MAX_ORPHANED}; it runs again and uses no retry",
                    orphaned_before + 1
                )
            } else if next.isolate {
                "it runs again, in a process of its own, and uses no retry".to_string()
            } else {
                "it runs again and uses no retry".to_string()
            };
            let error = format!("orphaned: {who} before try {} ended; {then}", t.try_number);
            tracing::warn!(task = %task_id, "{error}");
            self.changes.push(Change::EndTry {
                task_id: task_id.clone(),
                try_number: t.try_number,
                state: TaskState::Orphaned,
                at: now,
                duration: (now - t.start_date).to_std().unwrap_or_default(),
                error: Some(error),
            });
            if blamed {
                self.changes.push(Change::Blame {
                    task_id,
                    try_number: t.try_number,
                });
            }
        }
        if next.orphaned_out {
            self.slots[idx].error = Some(format!(
                "orphaned {} times: its worker died each time (does the task kill it, e.g. by \
                 running out of memory?)",
                orphaned_before + 1
            ));
        }
        self.apply(idx, next, now);
    }

    /// Renews the leases of this worker's runs and running tries and flushes their logs, so
    /// that a crash loses at most one heartbeat of output. A store failure is logged, never
    /// fatal; a run taken from this process ends the loop.
    pub(super) async fn heartbeat(&mut self) -> Result<(), RunError> {
        let until = self.ex.clock.now()
            + chrono::Duration::from_std(self.ex.config.lease).unwrap_or_default();
        self.ex.renew_tries().await;
        let chunks: Vec<Change> = self
            .logs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter_map(|(&idx, (try_number, log))| {
                log.take().map(|(seq, text)| Change::Log {
                    task_id: self.slots[idx].id.clone(),
                    try_number: *try_number,
                    seq,
                    text,
                })
            })
            .collect();
        let mut changes = vec![Change::Renew {
            worker_id: self.ex.worker.as_str().to_string(),
            until,
        }];
        changes.extend(chunks);
        match self.ex.store.commit(&self.owned_batch(changes)).await {
            Err(e @ StoreError::NotOwner { .. }) => Err(e.into()),
            Err(e) => {
                tracing::warn!("cannot flush task logs: {e}");
                Ok(())
            }
            Ok(_) => Ok(()),
        }
    }

    pub(super) async fn poll_external(&mut self) -> Result<(), RunError> {
        let tis = self.ex.store.task_instances(&self.run.key()).await?;
        self.external.retain(|&idx| {
            let Some(ti) = tis.iter().find(|t| t.task_id == self.slots[idx].id) else {
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

    /// Gives back what a try of task `idx` running here holds: its pool slots and, in a
    /// process sharing tries, its try slot.
    pub(super) fn release_slot(&self, idx: usize) {
        let policy = &self.task(idx).policy;
        self.ex.pools.release(&policy.pool, policy.pool_slots);
        if let Some(s) = self.ex.sharing.get() {
            s.release_slot();
        }
    }

    /// Gives back the pool slots of this executor's running tries (their futures are gone
    /// with the loop); returns those tries.
    pub(super) fn release_slots(&mut self) -> Vec<usize> {
        let running: Vec<usize> = (0..self.slots.len())
            .filter(|&i| {
                self.slots[i].state == TaskState::Running
                    && !self.instances.contains_key(&i)
                    && !self.external.contains(&i)
                    && !self.handed.iter().any(|h| h.idx == i)
            })
            .collect();
        for &idx in &running {
            self.release_slot(idx);
        }
        running
    }

    /// After the loop failed (its running tries were aborted with it): give back their pool
    /// slots and, if the store answers again, record them as orphaned — cut by this
    /// executor's failure, not their task's, so they run again without using a retry (the
    /// store failing under a run must not fail its tasks) — and let go of the run, so that
    /// nothing is left `running` under this live worker.
    pub(super) async fn abandon(&mut self, why: &RunError) {
        let now = self.ex.clock.now();
        let running = self.release_slots();
        self.changes.clear();
        self.events.clear();
        if !running.is_empty() {
            let tries = match self.ex.store.tries(&self.run.key(), None).await {
                Ok(tries) => tries,
                Err(e) => {
                    tracing::warn!("cannot record the abandoned tries (they will be orphans): {e}");
                    return;
                }
            };
            let cause = format!("the executor stopped ({why})");
            for idx in running {
                let task_id = &self.slots[idx].id;
                let try_number = self.slots[idx].try_number;
                let t = tries
                    .iter()
                    .find(|t| &t.task_id == task_id && t.try_number == try_number)
                    .cloned();
                self.orphan(idx, t.as_ref(), &tries, now, Some(&cause));
            }
        }
        self.changes.push(Change::Release {
            worker_id: Some(self.ex.worker.as_str().to_string()),
        });
        if let Err(e) = self.commit().await {
            tracing::warn!("cannot record the abandoned tries (they will be orphans): {e}");
        }
    }
}
