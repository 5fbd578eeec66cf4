//! The order of a transaction's statements: those of one batch, or of batches of one DAG
//! committed together (PostgreSQL's groups, [`crate::store::SqlStore`]).

use super::{Stmt, counts, statements_of};
use crate::store::{Batch, Change};

/// The statements of batches committed in one transaction, in order.
///
/// First, batch by batch, each batch's changes before its first claim (a batch's guard,
/// `Owned` or `Held`, is its first change); then the counters of everything but the claims,
/// merged over the batches, one statement per counter row; then, batch by batch, each
/// batch's changes from its first claim on, a claim being an update followed by what runs
/// only if it won (its try row, its counters) or only if it lost; last the durations of the
/// runs ended, read from their rows. Each batch's own order is kept; batches of one
/// transaction are of different runs.
///
/// The counters come before the first claim: on PostgreSQL the claims take the locks that
/// serialize the limits' counts ([`super::dag_lock`], [`super::pool_lock`]) just before the first claim
/// and hold them to the commit, so the fewer statements after them the better — and no two
/// transactions then wait for each other: the counter rows written before a lock are written
/// by every transaction before its lock (or by transactions that take none), in one order;
/// after it come only the claims' own rows and their lag, refusal and slot-wait counters,
/// which only holders of the same DAG's lock write. (When a batch counted something after its
/// claims, its counters once followed the lock, and two workers deadlocked on a counter row,
/// one holding it and waiting for the lock, the other holding the lock and waiting for the
/// row.)
pub(in crate::store) fn group(batches: &[&Batch]) -> Grouped {
    let mut g = Grouped {
        stmts: Vec::with_capacity(batches.iter().map(|b| b.changes.len() + 2).sum()),
        of: Vec::new(),
    };
    let mut counts = counts::Counts::new();
    let is_claim = |c: &Change| matches!(c, Change::Claim { .. });
    let first_claims: Vec<usize> = batches
        .iter()
        .map(|b| {
            b.changes
                .iter()
                .position(is_claim)
                .unwrap_or(b.changes.len())
        })
        .collect();
    for (i, batch) in batches.iter().enumerate() {
        for change in &batch.changes[..first_claims[i]] {
            counts.tally(batch, change);
            statements_of(batch, change, &mut g.stmts);
        }
        g.of.resize(g.stmts.len(), i);
    }
    for (i, batch) in batches.iter().enumerate() {
        for change in batch.changes[first_claims[i]..]
            .iter()
            .filter(|c| !is_claim(c))
        {
            counts.tally(batch, change);
        }
    }
    counts.adds(&mut g.stmts);
    g.of.resize(g.stmts.len(), 0);
    for (i, batch) in batches.iter().enumerate() {
        for change in &batch.changes[first_claims[i]..] {
            statements_of(batch, change, &mut g.stmts);
            counts.after_claim(batch, change, &mut g.stmts);
        }
        g.of.resize(g.stmts.len(), i);
    }
    counts.run_seconds(&mut g.stmts);
    g.of.resize(g.stmts.len(), 0);
    g
}

/// The statements of one batch, in the order of [`group`].
pub(in crate::store) fn statements(batch: &Batch) -> Vec<Stmt> {
    group(&[batch]).stmts
}

/// The statements of a group of batches ([`group`]) and the batch each belongs to.
pub(in crate::store) struct Grouped {
    pub stmts: Vec<Stmt>,
    /// For each statement, the index of its batch (a merged counter's is 0: it never fails).
    pub of: Vec<usize>,
}
