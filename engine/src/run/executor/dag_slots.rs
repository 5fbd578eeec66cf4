//! `max_active_tasks` held in this process before a claim goes to the store: a fair
//! semaphore per DAG, so that runs waiting for one of their DAG's task slots wait in line and
//! a try that ends wakes one of them, not all.
//!
//! The store's claim still checks the limit (it counts the tries of every process); this gate
//! only keeps the runs of one process from asking the store for slots it cannot have. Without
//! it, a backfill of 1,000 runs under the default limit of 16 sent, for every try that ended,
//! a read and a refused claim from each waiting run.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The task slots of each DAG in this process.
#[derive(Debug, Default)]
pub(super) struct DagSlots {
    gates: Mutex<HashMap<String, (u32, Arc<Semaphore>)>>,
}

impl DagSlots {
    /// The gate of `dag_id` with `max_active_tasks` slots. A DAG reloaded with another limit
    /// gets a new gate; runs started before keep the old one until they end (the store's
    /// check holds the new limit meanwhile).
    pub(super) fn gate(&self, dag_id: &str, max_active_tasks: u32) -> Arc<Semaphore> {
        let mut gates = self.gates.lock().unwrap_or_else(|e| e.into_inner());
        match gates.get(dag_id) {
            Some((size, gate)) if *size == max_active_tasks => Arc::clone(gate),
            _ => {
                let gate = Arc::new(Semaphore::new(max_active_tasks as usize));
                gates.insert(dag_id.to_string(), (max_active_tasks, Arc::clone(&gate)));
                gate
            }
        }
    }
}

/// The task slots one run holds: one per try it runs or handed off, plus at most what it
/// waited for and has not used yet.
#[derive(Debug)]
pub(super) struct HeldSlots {
    gate: Arc<Semaphore>,
    held: Vec<OwnedSemaphorePermit>,
}

impl HeldSlots {
    pub(super) fn new(gate: Arc<Semaphore>) -> Self {
        HeldSlots {
            gate,
            held: Vec::new(),
        }
    }

    /// Takes a slot for a new claim when `active` tries hold theirs: a spare one already
    /// held, else a free one of the DAG. `false` when none is free.
    pub(super) fn take(&mut self, active: usize) -> bool {
        if self.held.len() > active {
            return true;
        }
        match Arc::clone(&self.gate).try_acquire_owned() {
            Ok(p) => {
                self.held.push(p);
                true
            }
            Err(_) => false,
        }
    }

    /// Gives back what `active` tries do not hold.
    pub(super) fn fit(&mut self, active: usize) {
        self.held.truncate(active);
    }

    /// Waits in line for a slot, then holds it (to be used by the next claim).
    pub(super) async fn wait(&mut self) {
        if let Ok(p) = Arc::clone(&self.gate).acquire_owned().await {
            self.held.push(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn slots_are_shared_by_the_runs_of_a_dag_and_given_back_in_line() {
        let slots = DagSlots::default();
        let mut a = HeldSlots::new(slots.gate("d", 2));
        let mut b = HeldSlots::new(slots.gate("d", 2));
        let mut other = HeldSlots::new(slots.gate("e", 2));
        assert!(a.take(0));
        assert!(a.take(1));
        assert!(!b.take(0), "the DAG's two slots are held by a");
        assert!(other.take(0), "another DAG has slots of its own");
        // b waits in line; a's first try ends: the slot goes to b, not back to a.
        let waiting = tokio::spawn(async move {
            b.wait().await;
            b
        });
        tokio::task::yield_now().await;
        a.fit(1);
        let mut b = waiting.await.unwrap();
        assert!(!a.take(1), "the freed slot went to the run in line");
        assert!(b.take(0), "the slot b waited for is used by its claim");
        b.fit(0);
        assert!(a.take(1));
        // A limit changed by a reload: a new gate.
        let mut c = HeldSlots::new(slots.gate("d", 3));
        assert!(c.take(0) && c.take(1) && c.take(2) && !c.take(3));
    }
}
