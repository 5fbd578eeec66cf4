//! The SQL of each [`Change`], written once with `$N` parameters and bound statement by
//! statement by both committers: sqlx for PostgreSQL, the prepared-statement cache of
//! [`super::sqlite_commit`] for SQLite.

mod counts;
mod fused;
mod order;
mod outside;

pub(in crate::store) use fused::{GATE, fuse_claim};
pub(in crate::store) use order::{Grouped, group, statements};

pub(in crate::store) use outside::{
    acquire_run, dag_lock, new_run, new_task_instances, pool_lock, register_dag, set_paused,
    set_variable,
};

use chrono::{DateTime, Utc};

use super::{Batch, Change, to_micros};

/// A parameter value.
#[derive(Clone)]
pub(super) enum Param {
    Text(String),
    Int(i64),
    /// NULL where text belongs.
    NoText,
    /// NULL where a number belongs.
    NoInt,
}

/// What the committer must do with a statement besides running it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::store) enum Role {
    Plain,
    /// The conditional update of a claim: one changed row means the claim won.
    ClaimUpdate,
    /// Runs only if the claim before it won (its try row, its counters); holds [`GATE`].
    ClaimInsert,
    /// Runs only if the claim before it lost (counts the refusal); holds [`GATE`].
    ClaimLost,
    /// Must change a row; if it does not (an insert that found its row there), the
    /// transaction is rolled back and the committer says so.
    Required,
    /// A `SELECT` that must find a row (PostgreSQL runs it `FOR UPDATE`, so the row stays
    /// as found until the commit; SQLite's writers are serialized already); if it finds
    /// none, the transaction is rolled back as for [`Role::Required`]. It reads instead of
    /// writing, which keeps the guard of every transition off the write path.
    Guard,
}

/// What a committed list of statements did.
#[derive(Debug)]
pub(super) struct Committed {
    /// For each claim, in order, whether it won.
    pub claims: Vec<bool>,
    /// The statement, [`Role::Required`] or [`Role::Guard`], that changed or found nothing:
    /// nothing was written.
    pub failed_at: Option<usize>,
}

impl Committed {
    /// Nothing written: statement `at` did not hold.
    pub(super) fn unchanged(at: usize) -> Committed {
        Committed {
            claims: Vec::new(),
            failed_at: Some(at),
        }
    }

    /// Whether a required row was not written (nothing was).
    pub(super) fn is_unchanged(&self) -> bool {
        self.failed_at.is_some()
    }
}

/// What both committers track while they run statements: claims won, and whether a
/// required row was not written.
#[derive(Default)]
pub(super) struct Tally {
    claims: Vec<bool>,
    won: bool,
}

impl Tally {
    /// Whether `stmt` runs: a claim's try row is inserted only if its update won.
    pub(super) fn runs(&self, stmt: &Stmt) -> bool {
        match stmt.role {
            Role::ClaimInsert => self.won,
            Role::ClaimLost => !self.won,
            _ => true,
        }
    }

    /// Records the rows a statement changed; `false` means stop and roll back (a required
    /// row was not written).
    pub(super) fn record(&mut self, role: Role, changed: u64) -> bool {
        match role {
            Role::ClaimUpdate => {
                self.won = changed == 1;
                self.claims.push(self.won);
                true
            }
            Role::Required | Role::Guard => changed > 0,
            Role::Plain | Role::ClaimInsert | Role::ClaimLost => true,
        }
    }

    /// The outcome; `failed_at` the statement where [`Tally::record`] said stop.
    pub(super) fn done(self, failed_at: Option<usize>) -> Committed {
        Committed {
            claims: self.claims,
            failed_at,
        }
    }
}

/// One statement with its parameters.
pub(super) struct Stmt {
    pub sql: &'static str,
    pub params: Vec<Param>,
    pub role: Role,
}

/// Text as stored: NUL, which SQL text cannot hold (SQLite ends the statement there,
/// PostgreSQL refuses it), becomes U+FFFD on every backend alike.
fn text(s: &str) -> Param {
    Param::Text(if s.contains('\0') {
        s.replace('\0', "\u{FFFD}")
    } else {
        s.to_string()
    })
}

fn opt_text(s: Option<&str>) -> Param {
    s.map_or(Param::NoText, text)
}

fn time(t: DateTime<Utc>) -> Param {
    Param::Int(to_micros(t))
}

fn opt_time(t: Option<DateTime<Utc>>) -> Param {
    t.map_or(Param::NoInt, time)
}

/// The statements of one change of `batch`.
pub(super) fn statements_of(batch: &Batch, change: &Change, out: &mut Vec<Stmt>) {
    let (d, r) = (|| text(&batch.dag_id), || text(&batch.run_id));
    let plain = |sql: &'static str, params: Vec<Param>| Stmt {
        sql,
        params,
        role: Role::Plain,
    };
    {
        match change {
            Change::Claim {
                task_id,
                try_number,
                worker_id,
                max_active_tasks,
                max_active_tis_per_dag,
                pool,
                waited: _,
                lease_until,
                at,
                queued,
            } => {
                let mut params = vec![
                    d(),
                    r(),
                    Param::Int(i64::from(*try_number)),
                    time(*at),
                    text(task_id),
                    Param::Int(i64::from(*try_number) - 1),
                    Param::Int(i64::from(*max_active_tasks)),
                ];
                if let Some(cap) = max_active_tis_per_dag {
                    // A mapped instance (`task[i]`) counts with its task's others.
                    let task = crate::dag::mapping::task_of_instance(task_id);
                    params.push(Param::Int(i64::from(*cap)));
                    params.push(text(task));
                    params.push(text(&format!("{task}[")));
                    params.push(Param::Int(task.len() as i64 + 1));
                }
                if let Some((_, size)) = pool {
                    params.push(Param::Int(i64::from(*size)));
                }
                let sql = claim_update(max_active_tis_per_dag.is_some(), pool.is_some());
                out.push(Stmt {
                    sql,
                    params,
                    role: Role::ClaimUpdate,
                });
                out.push(Stmt {
                    sql: "INSERT INTO task_tries (dag_id, run_id, task_id, try_number, state, \
                         worker_id, lease_until, start_date, handed, pool) \
                         SELECT $1, $2, $3, $4, $8, $5, $6, $7, $9, CASE WHEN $9 = 1 THEN \
                         (SELECT pool FROM task_instances \
                          WHERE dag_id = $1 AND run_id = $2 AND task_id = $3) END \
                         WHERE 1 = 1 /*gate*/",
                    params: vec![
                        d(),
                        r(),
                        text(task_id),
                        Param::Int(i64::from(*try_number)),
                        text(if *queued { "" } else { worker_id }),
                        if *queued {
                            Param::NoInt
                        } else {
                            time(*lease_until)
                        },
                        time(*at),
                        text(if *queued { "queued" } else { "running" }),
                        Param::Int(i64::from(*queued)),
                    ],
                    role: Role::ClaimInsert,
                });
            }
            Change::Held {
                task_id,
                try_number,
                worker_id,
            } => out.push(Stmt {
                sql: "SELECT 1 FROM task_tries WHERE dag_id = $1 AND run_id = $2 \
                      AND task_id = $3 AND try_number = $4 AND worker_id = $5 \
                      AND state = 'running' AND outcome IS NULL",
                params: vec![
                    d(),
                    r(),
                    text(task_id),
                    Param::Int(i64::from(*try_number)),
                    text(worker_id),
                ],
                role: Role::Guard,
            }),
            Change::Outcome {
                task_id,
                try_number,
                outcome,
                at,
            } => out.push(plain(
                "UPDATE task_tries SET outcome = $5, end_date = $6 \
                 WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND try_number = $4",
                vec![
                    d(),
                    r(),
                    text(task_id),
                    Param::Int(i64::from(*try_number)),
                    text(&outcome.to_string()),
                    time(*at),
                ],
            )),
            Change::Requeue {
                task_id,
                try_number,
            } => out.push(plain(
                "UPDATE task_tries SET state = 'queued', worker_id = '', lease_until = NULL \
                 WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND try_number = $4",
                vec![d(), r(), text(task_id), Param::Int(i64::from(*try_number))],
            )),
            Change::EndTry {
                task_id,
                try_number,
                state,
                at,
                duration,
                error,
            } => out.push(plain(
                "UPDATE task_tries SET state = $3, end_date = $4, duration_us = $5, error = $6, \
                 lease_until = NULL \
                 WHERE dag_id = $1 AND run_id = $2 AND task_id = $7 AND try_number = $8",
                vec![
                    d(),
                    r(),
                    text(state.as_str()),
                    time(*at),
                    Param::Int(duration.as_micros() as i64),
                    opt_text(error.as_deref()),
                    text(task_id),
                    Param::Int(i64::from(*try_number)),
                ],
            )),
            Change::SetTask {
                task_id,
                state,
                next_attempt_at,
                end_date,
            } => out.push(plain(
                "UPDATE task_instances SET state = $3, next_attempt_at = $4, end_date = $5 \
                 WHERE dag_id = $1 AND run_id = $2 AND task_id = $6",
                vec![
                    d(),
                    r(),
                    text(state.as_str()),
                    opt_time(*next_attempt_at),
                    opt_time(*end_date),
                    text(task_id),
                ],
            )),
            Change::Xcom {
                task_id,
                key,
                value,
            } => out.push(plain(
                "INSERT INTO xcom (dag_id, run_id, task_id, key, value) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (dag_id, run_id, task_id, key) \
                 DO UPDATE SET value = excluded.value",
                vec![
                    d(),
                    r(),
                    text(task_id),
                    text(key),
                    Param::Text(value.to_string()),
                ],
            )),
            Change::Log {
                task_id,
                try_number,
                seq,
                text: chunk,
            } => out.push(plain(
                "INSERT INTO task_logs (dag_id, run_id, task_id, try_number, seq, text) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
                vec![
                    d(),
                    r(),
                    text(task_id),
                    Param::Int(i64::from(*try_number)),
                    Param::Int(i64::from(*seq)),
                    text(chunk),
                ],
            )),
            Change::SetVariable { key, value } => out.push(set_variable(key, value)),
            Change::Blame {
                task_id,
                try_number,
            } => out.push(plain(
                "UPDATE task_tries SET blamed = 1 \
                 WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND try_number = $4",
                vec![d(), r(), text(task_id), Param::Int(i64::from(*try_number))],
            )),
            Change::GrantTry { task_id } => out.push(plain(
                "UPDATE task_instances SET max_tries = max_tries + 1 \
                 WHERE dag_id = $1 AND run_id = $2 AND task_id = $3",
                vec![d(), r(), text(task_id)],
            )),
            Change::DatasetEvent {
                dataset,
                task_id,
                at,
            } => out.push(plain(
                "INSERT INTO dataset_events (dataset, created_at, seq, dag_id, run_id, task_id) \
                 VALUES ($3, $4, (SELECT COUNT(*) FROM dataset_events \
                 WHERE dataset = $3 AND created_at = $4), $1, $2, $5)",
                vec![d(), r(), text(dataset), time(*at), text(task_id)],
            )),
            Change::MapInstance {
                task_id,
                mapped_args,
                max_tries,
                pool,
                pool_slots,
                rendered_map_index,
            } => out.push(plain(
                "INSERT INTO task_instances (dag_id, run_id, task_id, state, try_number, \
                 max_tries, pool, pool_slots, mapped_args, rendered_map_index) \
                 VALUES ($1, $2, $3, 'none', 0, $4, $5, $6, $7, $8) \
                 ON CONFLICT (dag_id, run_id, task_id) DO UPDATE SET \
                 mapped_args = excluded.mapped_args, \
                 rendered_map_index = excluded.rendered_map_index",
                vec![
                    d(),
                    r(),
                    text(task_id),
                    Param::Int(i64::from(*max_tries)),
                    text(pool),
                    Param::Int(i64::from(*pool_slots)),
                    Param::Text(mapped_args.to_string()),
                    opt_text(rendered_map_index.as_deref()),
                ],
            )),
            Change::ResetTask { task_id, max_tries } => {
                out.push(plain(
                    "UPDATE task_instances SET state = 'none', next_attempt_at = NULL, \
                     start_date = NULL, end_date = NULL, max_tries = $3 \
                     WHERE dag_id = $1 AND run_id = $2 AND task_id = $4",
                    vec![d(), r(), Param::Int(i64::from(*max_tries)), text(task_id)],
                ));
                // A clear forgives the task's earlier orphans: a fresh orphan limit with the
                // fresh retries.
                out.push(plain(
                    "UPDATE task_tries SET blamed = 0 \
                     WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND blamed = 1",
                    vec![d(), r(), text(task_id)],
                ));
            }
            Change::Owned { worker_id } => out.push(Stmt {
                sql: "SELECT 1 FROM dag_runs WHERE dag_id = $1 AND run_id = $2 AND owner = $3",
                params: vec![d(), r(), text(worker_id)],
                role: Role::Guard,
            }),
            Change::Renew { worker_id, until } => out.push(plain(
                "UPDATE dag_runs SET owner_until = $4 \
                 WHERE dag_id = $1 AND run_id = $2 AND owner = $3",
                vec![d(), r(), text(worker_id), time(*until)],
            )),
            Change::Release { worker_id: Some(w) } => out.push(plain(
                "UPDATE dag_runs SET owner = NULL, owner_until = NULL \
                 WHERE dag_id = $1 AND run_id = $2 AND owner = $3",
                vec![d(), r(), text(w)],
            )),
            Change::Release { worker_id: None } => out.push(plain(
                "UPDATE dag_runs SET owner = NULL, owner_until = NULL \
                 WHERE dag_id = $1 AND run_id = $2",
                vec![d(), r()],
            )),
            Change::SlotsFreed => {}
            Change::SetParent { parent } => out.push(plain(
                "UPDATE dag_runs SET parent_dag_id = $3, parent_run_id = $4 \
                 WHERE dag_id = $1 AND run_id = $2",
                vec![
                    d(),
                    r(),
                    opt_text(parent.as_ref().map(|p| p.dag_id.as_str())),
                    opt_text(parent.as_ref().map(|p| p.run_id.as_str())),
                ],
            )),
            Change::SetRun {
                state,
                start_date,
                end_date,
            } => out.push(plain(
                "UPDATE dag_runs SET state = $3, end_date = $5, start_date = \
                 CASE WHEN $3 = 'queued' THEN NULL ELSE COALESCE($4, start_date) END \
                 WHERE dag_id = $1 AND run_id = $2",
                vec![
                    d(),
                    r(),
                    text(state.as_str()),
                    opt_time(*start_date),
                    opt_time(*end_date),
                ],
            )),
        }
    }
}

/// The conditional update of a claim: the DAG's running instances (`$7`: `max_active_tasks`),
/// with a task cap (`max_active_tis_per_dag`, `$8`) the task's running instances too (`$9`,
/// and its mapped instances `$9[…`: `$10`, `$11` characters long), with a pool the slots its
/// running instances hold (the pool's size is the next parameter). Each of the four forms is
/// built once, as the claimable states come from [`crate::state::TaskState::CLAIMABLE`]; the
/// counts read only the index of running rows, the task cap's the rows too.
fn claim_update(task_cap: bool, pool: bool) -> &'static str {
    static FORMS: [std::sync::LazyLock<String>; 4] = [
        std::sync::LazyLock::new(|| claim_update_sql(false, false)),
        std::sync::LazyLock::new(|| claim_update_sql(true, false)),
        std::sync::LazyLock::new(|| claim_update_sql(false, true)),
        std::sync::LazyLock::new(|| claim_update_sql(true, true)),
    ];
    FORMS[usize::from(task_cap) + 2 * usize::from(pool)].as_str()
}

fn claim_update_sql(task_cap: bool, pool: bool) -> String {
    let mut sql = format!(
        "UPDATE task_instances SET state = 'running', try_number = $3, \
         start_date = COALESCE(start_date, $4), next_attempt_at = NULL \
         WHERE dag_id = $1 AND run_id = $2 AND task_id = $5 AND try_number = $6 \
         AND state IN ({}) \
         AND (SELECT COUNT(*) FROM task_instances \
              WHERE dag_id = $1 AND state = 'running' AND try_number > 0) < $7",
        claimable_states()
    );
    if task_cap {
        sql.push_str(
            " AND (SELECT COUNT(*) FROM task_instances \
             WHERE dag_id = $1 AND (task_id = $9 OR substr(task_id, 1, CAST($11 AS INTEGER)) = $10) \
             AND state = 'running' AND try_number > 0) < $8",
        );
    }
    if pool {
        let size = if task_cap { "$12" } else { "$8" };
        sql.push_str(&format!(
            " AND (SELECT COALESCE(SUM(p.pool_slots), 0) FROM task_instances p \
             WHERE p.pool = task_instances.pool AND p.state = 'running' AND p.try_number > 0) \
             + task_instances.pool_slots <= {size}"
        ));
    }
    sql
}

/// `$1`, `$2`, …: the parameter names of the statements, to bind by name without formatting.
pub(super) const PARAM_NAMES: [&str; 16] = [
    "$1", "$2", "$3", "$4", "$5", "$6", "$7", "$8", "$9", "$10", "$11", "$12", "$13", "$14", "$15",
    "$16",
];

/// `'none', 'scheduled', …`: the claimable states as an SQL list.
fn claimable_states() -> String {
    crate::state::TaskState::CLAIMABLE
        .iter()
        .map(|s| literal(s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A SQL string literal: quotes doubled, NUL (which ends SQL text) replaced.
pub(super) fn literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for ch in s.chars() {
        match ch {
            '\'' => out.push_str("''"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests;
