//! A run's decisions each turn: which waiting tasks (or mapped instances) their trigger
//! rules let run, which scheduled ones to claim within `max_active_tasks` and the pools, and
//! what a claim not written gives back.

use chrono::{DateTime, Utc};

use crate::state::TaskState;
use crate::store::Change;
use crate::trigger_rule::{Decision, UpstreamStates};

use super::Acquire;
use super::run::{Blocked, Claimed, RunExec};

impl RunExec<'_> {
    /// The slots to consider for claims, in the DAG's topological order: a mapped task that
    /// expanded by its instances.
    fn claim_order(&self) -> Vec<usize> {
        let mut order = Vec::with_capacity(self.slots.len());
        for &idx in self.dag.graph.topological_order() {
            match self.instances.get(&idx) {
                Some(children) => order.extend_from_slice(children),
                None => order.push(idx),
            }
        }
        order
    }

    /// Applies trigger rules to waiting tasks and wakes retries that are due.
    pub(super) fn schedule(&mut self, now: DateTime<Utc>) {
        for k in 0..self.dag.graph.topological_order().len() {
            let idx = self.dag.graph.topological_order()[k];
            if self.instances.contains_key(&idx) {
                self.schedule_instances(idx, now);
                continue;
            }
            self.schedule_one(idx, now);
        }
    }

    /// A mapped task's instances wake like tasks, and the task shows what they come to.
    fn schedule_instances(&mut self, idx: usize, now: DateTime<Utc>) {
        let children = self.instances.get(&idx).cloned().unwrap_or_default();
        for &c in &children {
            if self.slots[c].state == TaskState::None {
                // Expanded means its trigger rule said run.
                self.set_state(c, TaskState::Scheduled, now);
            } else {
                self.schedule_one(c, now);
            }
        }
        let state = super::expand::aggregate(children.iter().map(|&c| self.slots[c].state));
        if self.slots[idx].state != state {
            self.set_state(idx, state, now);
        }
    }

    /// Applies the trigger rule of a waiting task (or instance), or wakes its retry.
    fn schedule_one(&mut self, idx: usize, now: DateTime<Utc>) {
        match self.slots[idx].state {
            TaskState::None => {
                let decision = self
                    .task(idx)
                    .policy
                    .trigger_rule
                    .evaluate(self.upstream_states(idx));
                match decision {
                    Decision::Wait => {}
                    Decision::Run if self.task(idx).mapping.is_some() => {
                        if !self.to_expand.contains(&idx) {
                            self.to_expand.push(idx);
                        }
                    }
                    Decision::Run => self.set_state(idx, TaskState::Scheduled, now),
                    Decision::Skip => self.set_state(idx, TaskState::Skipped, now),
                    Decision::UpstreamFailed => self.set_state(idx, TaskState::UpstreamFailed, now),
                }
            }
            TaskState::UpForRetry if self.slots[idx].next_attempt_at.is_none_or(|t| t <= now) => {
                self.set_state(idx, TaskState::Scheduled, now);
            }
            TaskState::Deferred if self.slots[idx].next_attempt_at.is_none_or(|t| t <= now) => {
                self.set_state(idx, TaskState::Scheduled, now);
            }
            _ => {}
        }
    }

    /// The states of a task's upstreams for its trigger rule: each instance of a mapped
    /// upstream that expanded counts, as in Airflow.
    pub(super) fn upstream_states(&self, idx: usize) -> UpstreamStates {
        let mut up = UpstreamStates::default();
        let mut count = |state: TaskState| {
            up.total += 1;
            match state {
                TaskState::Success => up.success += 1,
                TaskState::Failed => up.failed += 1,
                TaskState::UpstreamFailed => up.upstream_failed += 1,
                TaskState::Skipped => up.skipped += 1,
                _ => {}
            }
        };
        for u in self.dag.graph.upstream(self.slots[idx].task) {
            match self.instances.get(&u) {
                Some(children) => children.iter().for_each(|&c| count(self.slots[c].state)),
                None => count(self.slots[u].state),
            }
        }
        up
    }

    /// Picks scheduled tasks to start within `max_active_tasks` and pool slots, and adds
    /// their claims to the batch. Returns them, and whether one waits for a pool slot. A
    /// process sharing tries hands off (claims `queued`) the tasks whose pool it does not
    /// serve, or for which it has no try slot free.
    pub(super) fn claim(&mut self, now: DateTime<Utc>) -> (Vec<Claimed>, Blocked) {
        let mut claims: Vec<Claimed> = Vec::new();
        let mut blocked = Blocked::default();
        let lease_until =
            now + chrono::Duration::from_std(self.ex.config.lease).unwrap_or_default();
        let sharing = self.ex.sharing.get();
        for idx in self.claim_order() {
            if self.slots[idx].state != TaskState::Scheduled {
                continue;
            }
            debug_assert!(self.slots[idx].try_number < u32::MAX);
            if self.running + self.handed.len() + claims.len() >= self.dag.max_active_tasks as usize
                || (self.probing && !claims.is_empty())
            {
                break;
            }
            if !self
                .dag_slots
                .take(self.running + self.handed.len() + claims.len())
            {
                blocked.dag = true;
                break;
            }
            let policy = &self.task(idx).policy;
            let local = sharing.is_none_or(|s| s.serves(&policy.pool) && s.take_slot());
            let queued = if local {
                match self.ex.pools.try_acquire(&policy.pool, policy.pool_slots) {
                    Acquire::Ok => false,
                    Acquire::Busy => {
                        // Pools hold per process: the task waits for a slot here.
                        sharing.inspect(|s| s.release_slot());
                        blocked.pool = true;
                        continue;
                    }
                    Acquire::TooBig(size) => {
                        sharing.inspect(|s| s.release_slot());
                        let message = format!(
                            "task needs {} slots of pool `{}`, which has {size}",
                            policy.pool_slots, policy.pool
                        );
                        tracing::error!(task = %self.slots[idx].id, "{message}");
                        self.set_state(idx, TaskState::Failed, now);
                        continue;
                    }
                }
            } else {
                true
            };
            let try_number = self.slots[idx].try_number + 1;
            // Ready since it was scheduled here, or (found ready in the store) since now.
            let ready_since = *self.slots[idx].ready_since.get_or_insert(now);
            self.changes.push(Change::Claim {
                task_id: self.slots[idx].id.clone(),
                try_number,
                worker_id: self.ex.worker.as_str().to_string(),
                max_active_tasks: self.dag.max_active_tasks,
                max_active_tis_per_dag: policy.max_active_tis_per_dag,
                // Declared pools hold across every process sharing the store, as the
                // DAG's limits do.
                pool: self
                    .ex
                    .pools
                    .declared(&policy.pool)
                    .map(|size| (policy.pool.clone(), size)),
                waited: (now - ready_since).to_std().ok(),
                lease_until,
                at: now,
                queued,
            });
            claims.push(Claimed {
                idx,
                try_number,
                queued,
            });
        }
        if !claims.is_empty() {
            // A task claimed in this batch needs no separate `scheduled` write: the claim
            // moves it to `running` (one statement less per task on the hot path).
            let claimed: std::collections::HashSet<&str> = claims
                .iter()
                .map(|c| self.slots[c.idx].id.as_str())
                .collect();
            self.changes.retain(|c| {
                !matches!(c, Change::SetTask { task_id, state: TaskState::Scheduled, .. }
                    if claimed.contains(task_id.as_str()))
            });
        }
        (claims, blocked)
    }

    /// Gives back what a claim took when it was not written: a try to start here holds a
    /// pool slot and a try slot; a handed-off one holds nothing here.
    pub(super) fn unclaim(&self, c: Claimed) {
        if !c.queued {
            self.release_slot(c.idx);
        }
    }
}

/// Whether a batch's `ended` tries free slots that a run waiting elsewhere may take: more
/// ends than the batch's `claimed` tries, which take the DAG's slots again, or the end of a
/// task `limited` by its `max_active_tis_per_dag` or a declared pool, whose slots a claim
/// of another task does not take.
pub(super) fn frees_slots(ended: usize, claimed: usize, limited: bool) -> bool {
    ended > 0 && (ended > claimed || limited)
}

#[cfg(test)]
mod tests {
    use super::frees_slots;

    #[test]
    fn only_slots_not_taken_again_are_freed() {
        assert!(!frees_slots(0, 0, false));
        assert!(!frees_slots(0, 0, true), "nothing ended");
        assert!(frees_slots(1, 0, false));
        assert!(
            !frees_slots(1, 1, false),
            "the next claim takes the slot again"
        );
        assert!(frees_slots(2, 1, false));
        assert!(
            frees_slots(1, 1, true),
            "a task's cap or a pool's slot is freed"
        );
    }
}
