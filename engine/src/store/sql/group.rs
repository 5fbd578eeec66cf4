//! PostgreSQL: the batches of one DAG that claim task instances, committed together.
//!
//! A claim takes its DAG's lock (the limits are counted under it) and holds it to the
//! commit, so every process's claims of a DAG take turns. Each turn used to be one run's
//! batch: the lock, its claims and the commit, three round trips or more while the others
//! wait. Here the batches of a DAG that arrive while one of its groups commits wait for the
//! next group, and a group is one transaction: every batch's other changes, the counters
//! merged, the signals in one statement, then the DAG's lock once and all the claims — one
//! turn for many runs.
//!
//! A group runs on a task of its own (a caller dropped mid-commit leaves nobody waiting
//! forever). A batch whose guard fails (its run is no longer this process's, its try no
//! longer its worker's) is told so and the group commits again without it; a statement that
//! fails makes each batch commit alone, so each caller hears its own error. A transaction
//! PostgreSQL aborted to break a deadlock runs again (up to [`DEADLOCK_RETRIES`] times).

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::oneshot;

use super::{SqlStore, listen};
use crate::store::statements::{self, Committed, Grouped};
use crate::store::{Batch, Change, Signal, StoreError};

/// The most batches one group commits.
const MAX_GROUP: usize = 64;

/// How many times a transaction PostgreSQL aborted to break a deadlock (or for a
/// serialization failure) runs again before the error is its caller's: nothing of it was
/// written, and running it again is what PostgreSQL's documentation advises.
const DEADLOCK_RETRIES: u32 = 3;

/// Whether PostgreSQL aborted the transaction to break a deadlock or for a serialization
/// failure (running it again may succeed).
fn is_deadlock(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::Database { source: sqlx::Error::Database(d), .. }
            if matches!(d.code().as_deref(), Some("40P01" | "40001"))
    )
}

/// The batches waiting for their DAG's next group.
#[derive(Debug, Default)]
pub(super) struct Groups {
    dags: Mutex<HashMap<String, Vec<Waiting>>>,
}

/// A batch waiting for its group, and where its outcome goes.
#[derive(Debug)]
struct Waiting {
    batch: Batch,
    done: oneshot::Sender<Result<Committed, StoreError>>,
}

impl SqlStore {
    /// Commits a batch with claims in the next group of its DAG.
    pub(super) async fn commit_in_group(&self, batch: Batch) -> Result<Committed, StoreError> {
        let (done, outcome) = oneshot::channel();
        let dag = batch.dag_id.clone();
        let lead = {
            let mut dags = self.groups.dags.lock().unwrap_or_else(|e| e.into_inner());
            let lead = !dags.contains_key(&dag);
            dags.entry(dag.clone())
                .or_default()
                .push(Waiting { batch, done });
            lead
        };
        if lead {
            let store = self.clone();
            tokio::spawn(async move { store.lead(&dag).await });
        }
        outcome.await.map_err(|_| StoreError::Database {
            context: "committing a transition".into(),
            source: sqlx::Error::WorkerCrashed,
        })?
    }

    /// Commits the DAG's groups until none waits.
    async fn lead(&self, dag: &str) {
        // Should this task end before the DAG's queue is empty (a panic, the runtime shutting
        // down), the batches still waiting hear so (their senders dropped) and the DAG's next
        // batch leads anew, instead of waiting for a leader that is gone.
        struct Abandoned<'a> {
            groups: &'a Groups,
            dag: &'a str,
            done: bool,
        }
        impl Drop for Abandoned<'_> {
            fn drop(&mut self) {
                if !self.done {
                    self.groups
                        .dags
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(self.dag);
                }
            }
        }
        let mut abandoned = Abandoned {
            groups: &self.groups,
            dag,
            done: false,
        };
        loop {
            let group: Vec<Waiting> = {
                let mut dags = self.groups.dags.lock().unwrap_or_else(|e| e.into_inner());
                let Some(waiting) = dags.get_mut(dag) else {
                    abandoned.done = true;
                    return;
                };
                if waiting.is_empty() {
                    // The next batch of the DAG leads a group of its own.
                    dags.remove(dag);
                    abandoned.done = true;
                    return;
                }
                // At most one batch of a run (its batches keep their order).
                let mut group: Vec<Waiting> = Vec::new();
                let mut rest = Vec::new();
                for w in waiting.drain(..) {
                    if group.len() < MAX_GROUP
                        && !group.iter().any(|g| g.batch.run_id == w.batch.run_id)
                    {
                        group.push(w);
                    } else {
                        rest.push(w);
                    }
                }
                *waiting = rest;
                group
            };
            self.commit_group(group).await;
        }
    }

    /// Commits one group and tells each batch its outcome.
    async fn commit_group(&self, mut group: Vec<Waiting>) {
        while !group.is_empty() {
            let batches: Vec<&Batch> = group.iter().map(|w| &w.batch).collect();
            match self.execute(&batches).await {
                // A guard did not hold: that batch is told, the others go again.
                (
                    of,
                    Ok(Committed {
                        failed_at: Some(at),
                        ..
                    }),
                ) => {
                    let w = group.remove(of[at]);
                    let _ = w.done.send(Ok(Committed::unchanged(at)));
                }
                // Claims come batch by batch, in the batches' order.
                (_, Ok(done)) => {
                    let mut won = done.claims.into_iter();
                    for w in group.drain(..) {
                        let n = w
                            .batch
                            .changes
                            .iter()
                            .filter(|c| matches!(c, Change::Claim { .. }))
                            .count();
                        let claims = won.by_ref().take(n).collect();
                        let _ = w.done.send(Ok(Committed {
                            claims,
                            failed_at: None,
                        }));
                    }
                }
                (_, Err(e)) if group.len() == 1 => {
                    let _ = group.remove(0).done.send(Err(e));
                }
                // Each alone, so that each hears its own error.
                (_, Err(_)) => {
                    for w in group.drain(..) {
                        let _ = w.done.send(self.commit_alone(&w.batch).await);
                    }
                }
            }
        }
    }

    /// Commits one batch in a transaction of its own.
    pub(super) async fn commit_alone(&self, batch: &Batch) -> Result<Committed, StoreError> {
        self.execute(&[batch]).await.1
    }

    /// Runs the statements of `batches` in one transaction, again if PostgreSQL aborted it
    /// to break a deadlock; with the outcome, the batch of each statement.
    async fn execute(&self, batches: &[&Batch]) -> (Vec<usize>, Result<Committed, StoreError>) {
        let mut retries = 0;
        loop {
            let Grouped { stmts, of } = self.pg_statements(batches);
            match self.execute_statements(stmts).await {
                Err(e) if is_deadlock(&e) && retries < DEADLOCK_RETRIES => {
                    tracing::debug!("a transaction of {} batches ran again: {e}", batches.len());
                    retries += 1;
                }
                done => return (of, done),
            }
        }
    }

    /// PostgreSQL's statements of batches (of one DAG) committed together: those of
    /// [`statements::group`], with, before the first claim, the signals (sent at the commit)
    /// and the locks that serialize the claims' counts per DAG and pool (the DAG's first, then
    /// the pools by name, in every transaction alike, as `acquire_run` does for runs), held
    /// for the claims and the commit only (see [`statements::group`]).
    fn pg_statements(&self, batches: &[&Batch]) -> Grouped {
        let mut grouped = statements::group(batches);
        let first_claim = grouped
            .stmts
            .iter()
            .position(|s| s.role == statements::Role::ClaimUpdate)
            .unwrap_or(grouped.stmts.len());
        let mut signals: Vec<Signal> = Vec::new();
        if self.listener.is_some() {
            for s in batches.iter().flat_map(|b| Signal::of_batch(b)) {
                if !signals.contains(&s) {
                    signals.push(s);
                }
            }
        }
        let before: Vec<_> = listen::notify(&signals)
            .into_iter()
            .chain(claim_locks(batches))
            .collect();
        let n = before.len();
        grouped.stmts.splice(first_claim..first_claim, before);
        grouped
            .of
            .splice(first_claim..first_claim, std::iter::repeat_n(0, n));
        grouped
    }
}

/// The advisory locks the claims of batches (of one DAG) take on PostgreSQL: their DAG's,
/// then their pools' by name (none without claims).
fn claim_locks(batches: &[&Batch]) -> Vec<statements::Stmt> {
    let mut dag = None;
    let mut pools = std::collections::BTreeSet::new();
    for batch in batches {
        for change in &batch.changes {
            if let Change::Claim { pool, .. } = change {
                dag = Some(batch.dag_id.as_str());
                pools.extend(pool.as_ref().map(|(p, _)| p.as_str()));
            }
        }
    }
    let Some(dag) = dag else {
        return Vec::new();
    };
    std::iter::once(statements::dag_lock(dag))
        .chain(pools.into_iter().map(statements::pool_lock))
        .collect()
}
