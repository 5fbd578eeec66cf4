//! The statements that add what a batch counts to its metric counters
//! ([`crate::store::metric_counts`]), in the batch's transaction.

use std::collections::BTreeMap;

use super::{Param, Role, Stmt, text, time};
use crate::store::metric_counts::{self as mc, Counted};
use crate::store::{Batch, Change};

/// What a batch counts, gathered change by change.
pub(super) struct Counts<'a> {
    batch: &'a Batch,
    shard: Param,
    /// (name, label) → (count, microseconds).
    adds: BTreeMap<(&'static str, String), (i64, i64)>,
    /// Whether the run ended (its duration is counted from its row).
    run_ended: bool,
}

impl<'a> Counts<'a> {
    pub(super) fn new(batch: &'a Batch) -> Self {
        Counts {
            batch,
            shard: Param::Int(mc::next_shard()),
            adds: BTreeMap::new(),
            run_ended: false,
        }
    }

    /// A statement of the batch's run whose parameters are its DAG (`$1`), run (`$2`) and shard
    /// (`$3`), then `rest`.
    fn of_run(&self, sql: &'static str, rest: Vec<Param>, role: Role) -> Stmt {
        let mut params = vec![
            text(&self.batch.dag_id),
            text(&self.batch.run_id),
            self.shard.clone(),
        ];
        params.extend(rest);
        Stmt { sql, params, role }
    }

    /// After the statements of a claim: its lag statement, which must follow the claim's try
    /// row (it runs only if the claim won), its slot wait's (likewise) and its refusal's (only
    /// if it lost). Other changes are counted by [`Counts::tally`].
    pub(super) fn after_claim(&mut self, change: &Change, out: &mut Vec<Stmt>) {
        let Some(counted) = mc::counted(change) else {
            return;
        };
        if let Counted::Claimed {
            task_id,
            try_number,
            at,
            waited,
        } = counted
        {
            if let Some(w) = waited {
                out.push(self.of_run(
                    mc::ADD_SLOT_WAIT.as_str(),
                    vec![
                        text(task_id),
                        text(&mc::bucket(w.as_secs_f64()).to_string()),
                        Param::Int(w.as_micros() as i64),
                    ],
                    Role::ClaimInsert,
                ));
            }
            out.push(self.of_run(
                mc::ADD_LAG.as_str(),
                vec![time(at), text(task_id), Param::Int(i64::from(try_number))],
                Role::ClaimInsert,
            ));
            out.push(self.of_run(
                mc::ADD_REFUSED.as_str(),
                vec![text(task_id)],
                Role::ClaimLost,
            ));
        }
    }

    /// Adds what `change` (not a claim) counts to the batch's counters.
    pub(super) fn tally(&mut self, change: &Change) {
        let Some(counted) = mc::counted(change) else {
            return;
        };
        self.run_ended |= matches!(counted, Counted::RunEnded(_));
        let Some((name, label, total)) = counted.row() else {
            return;
        };
        let micros = total.as_micros() as i64;
        let a = self.adds.entry((name, label)).or_default();
        a.0 += 1;
        a.1 += micros;
    }

    /// The counters, one statement per row, in one order for every transaction: two batches
    /// of runs in one shard then lock the same rows in the same order (PostgreSQL would
    /// otherwise find them deadlocked).
    pub(super) fn adds(&mut self, out: &mut Vec<Stmt>) {
        let dag = || text(&self.batch.dag_id);
        for ((name, label), (n, micros)) in std::mem::take(&mut self.adds) {
            out.push(Stmt {
                sql: mc::ADD.as_str(),
                params: vec![
                    dag(),
                    text(&label),
                    self.shard.clone(),
                    Param::Int(micros),
                    text(name),
                    Param::Int(n),
                ],
                role: Role::Plain,
            });
        }
    }

    /// The ended run's duration, read from its row (after the statement that ends it).
    pub(super) fn run_seconds(&mut self, out: &mut Vec<Stmt>) {
        if std::mem::take(&mut self.run_ended) {
            out.push(Stmt {
                sql: mc::ADD_RUN_SECONDS.as_str(),
                params: vec![
                    text(&self.batch.dag_id),
                    text(&self.batch.run_id),
                    self.shard.clone(),
                ],
                role: Role::Plain,
            });
        }
    }
}
