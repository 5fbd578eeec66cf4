//! The driver's side of tries handed to other workers (see [`super::sharing`]): following
//! them until their worker records an outcome (applied like the end of one of this
//! process's tries) or dies (the try is orphaned and runs again without using a retry).

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::state::TaskState;
use crate::store::TryRecord;
use crate::worker::is_orphan;

use super::RunError;
use super::run::RunExec;
use super::sharing::decode;
use super::try_end::TryDone;

/// How long a try may wait for a worker before the driver warns that none takes it.
const UNTAKEN_WARNING: Duration = Duration::from_secs(60);

impl RunExec<'_> {
    /// Whether the live try `t` found at the start of a drive is followed as handed rather
    /// than orphaned: a worker holds it, or recorded its outcome, or (in a process that
    /// shares tries) it still waits to be taken.
    pub(super) fn follows_handed(&self, t: &TryRecord, now: DateTime<Utc>) -> bool {
        if !t.handed {
            return false;
        }
        t.outcome.is_some()
            || match t.state {
                TaskState::Queued => self.ex.sharing.get().is_some(),
                TaskState::Running => !is_orphan(&t.worker_id, t.lease_until, now),
                _ => false,
            }
    }

    /// Looks at the tasks followed elsewhere: claims lost to another worker, tries handed
    /// off.
    pub(super) async fn look_elsewhere(&mut self) -> Result<(), RunError> {
        if !self.external.is_empty() {
            self.poll_external().await?;
        }
        if !self.handed.is_empty() {
            self.poll_handed().await?;
        }
        Ok(())
    }

    /// Applies the outcomes workers of this process recorded (no store read needed).
    pub(super) fn delivered(&mut self) {
        for (task_id, try_number, outcome) in self.inbox.take() {
            let Some(pos) = self
                .handed
                .iter()
                .position(|h| h.try_number == try_number && self.slots[h.idx].id == task_id)
            else {
                continue;
            };
            let h = self.handed.swap_remove(pos);
            let (result, pending, duration) = decode(&outcome);
            self.try_done(TryDone {
                idx: h.idx,
                try_number,
                result,
                pending,
                duration,
            });
        }
    }

    async fn poll_handed(&mut self) -> Result<(), RunError> {
        // What was delivered is applied first: the store says the same.
        self.delivered();
        let tries = self.ex.store.tries(&self.run.key(), None).await?;
        let now = self.ex.clock.now();
        let dag = self.dag;
        let mut orphaned_any = false;
        for mut h in std::mem::take(&mut self.handed) {
            let id = self.slots[h.idx].id.clone();
            let mine = || tries.iter().filter(|t| t.task_id == id);
            match mine().find(|t| t.try_number == h.try_number) {
                Some(t) if t.outcome.is_some() => {
                    let (result, pending, duration) =
                        decode(t.outcome.as_ref().unwrap_or(&serde_json::Value::Null));
                    self.try_done(TryDone {
                        idx: h.idx,
                        try_number: h.try_number,
                        result,
                        pending,
                        duration,
                    });
                }
                Some(t) if t.state == TaskState::Running && !self.follows_handed(t, now) => {
                    self.orphan(h.idx, Some(t), &tries, now, None);
                    orphaned_any = true;
                }
                Some(t) if matches!(t.state, TaskState::Running | TaskState::Queued) => {
                    if t.state == TaskState::Queued
                        && !h.warned
                        && h.since.elapsed() >= UNTAKEN_WARNING
                    {
                        h.warned = true;
                        tracing::warn!(
                            dag = %dag.id, run = %self.run.run_id, task = %id,
                            "try {} has waited {}s for a worker serving pool `{}` and none \
                             took it: start one (`dagctl worker --pools {}`)",
                            h.try_number,
                            h.since.elapsed().as_secs(),
                            self.task(h.idx).policy.pool,
                            self.task(h.idx).policy.pool
                        );
                    }
                    self.handed.push(h);
                }
                // Ended or cleared by someone else: the task instance says what follows.
                _ => self.external.push(h.idx),
            }
        }
        if orphaned_any {
            // Committed on its own, as in `recover_orphans`: a claim in the next batch drops
            // its task's `scheduled` write, which must not leave the store's `running`.
            self.commit().await?;
        }
        // The ends and retries go out with the next claims.
        Ok(())
    }
}
