//! The statements that add what a transaction counts to its metric counters
//! ([`crate::store::metric_counts`]).

use std::collections::BTreeMap;

use super::{Param, Role, Stmt, text, time};
use crate::store::metric_counts::{self as mc, Counted};
use crate::store::{Batch, Change};

/// What the batches of one transaction count, gathered change by change.
pub(super) struct Counts {
    shard: Param,
    /// (DAG, name, label) → (count, microseconds).
    adds: BTreeMap<(String, &'static str, String), (i64, i64)>,
    /// The runs that ended, as (DAG, run): their durations are counted from their rows.
    runs_ended: Vec<(String, String)>,
}

impl Counts {
    pub(super) fn new() -> Self {
        Counts {
            shard: Param::Int(mc::next_shard()),
            adds: BTreeMap::new(),
            runs_ended: Vec::new(),
        }
    }

    /// A statement of `batch`'s run whose parameters are its DAG (`$1`), run (`$2`) and shard
    /// (`$3`), then `rest`.
    fn of_run(&self, batch: &Batch, sql: &'static str, rest: Vec<Param>, role: Role) -> Stmt {
        let mut params = vec![text(&batch.dag_id), text(&batch.run_id), self.shard.clone()];
        params.extend(rest);
        Stmt { sql, params, role }
    }

    /// After the statements of a claim of `batch`: its slot wait's and its lag's (only if
    /// it won), its refusal's (only if it lost). Other changes are counted by
    /// [`Counts::tally`].
    pub(super) fn after_claim(&self, batch: &Batch, change: &Change, out: &mut Vec<Stmt>) {
        let Some(Counted::Claimed {
            task_id,
            try_number,
            at,
            waited,
        }) = mc::counted(change)
        else {
            return;
        };
        if let Some(w) = waited {
            out.push(self.of_run(
                batch,
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
            batch,
            mc::ADD_LAG.as_str(),
            vec![time(at), text(task_id), Param::Int(i64::from(try_number))],
            Role::ClaimInsert,
        ));
        out.push(self.of_run(
            batch,
            mc::ADD_REFUSED.as_str(),
            vec![text(task_id)],
            Role::ClaimLost,
        ));
    }

    /// Adds what `change` of `batch` (not a claim) counts.
    pub(super) fn tally(&mut self, batch: &Batch, change: &Change) {
        let Some(counted) = mc::counted(change) else {
            return;
        };
        let run = (batch.dag_id.clone(), batch.run_id.clone());
        if matches!(counted, Counted::RunEnded(_)) && !self.runs_ended.contains(&run) {
            self.runs_ended.push(run);
        }
        let Some((name, label, total)) = counted.row() else {
            return;
        };
        let a = self
            .adds
            .entry((batch.dag_id.clone(), name, label))
            .or_default();
        a.0 += 1;
        a.1 += total.as_micros() as i64;
    }

    /// The counters, one statement per row, in one order for every transaction: two
    /// transactions on one shard then lock the same rows in the same order (PostgreSQL would
    /// otherwise find them deadlocked).
    pub(super) fn adds(&mut self, out: &mut Vec<Stmt>) {
        for ((dag, name, label), (n, micros)) in std::mem::take(&mut self.adds) {
            out.push(Stmt {
                sql: mc::ADD.as_str(),
                params: vec![
                    text(&dag),
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

    /// The ended runs' durations, read from their rows (after the statements that end them).
    pub(super) fn run_seconds(&mut self, out: &mut Vec<Stmt>) {
        for (dag, run) in std::mem::take(&mut self.runs_ended) {
            out.push(Stmt {
                sql: mc::ADD_RUN_SECONDS.as_str(),
                params: vec![text(&dag), text(&run), self.shard.clone()],
                role: Role::Plain,
            });
        }
    }
}
