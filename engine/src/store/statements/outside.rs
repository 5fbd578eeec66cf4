//! The statements of the store's writes that are not a batch's changes: creating a run with
//! its task instances, acquiring a run, registering and pausing DAGs, setting a Variable.

use chrono::{DateTime, Utc};

use super::{Param, Role, Stmt, opt_text, opt_time, text, time};
use crate::store::{DagRun, DatasetEvent, RunClaim, TaskInstance};

/// A new run with its task instances and the dataset events it consumes; the run's insert
/// and each consumption are [`Role::Required`], so an existing run, or an event consumed
/// already, leaves everything as it was.
pub(in crate::store) fn new_run(
    run: &DagRun,
    tasks: &[TaskInstance],
    consumes: &[DatasetEvent],
) -> Vec<Stmt> {
    let parent = run.triggered_by.as_ref();
    let mut out = vec![Stmt {
        sql: "INSERT INTO dag_runs (dag_id, run_id, run_type, logical_date, data_interval_start, \
              data_interval_end, conf, state, created_at, start_date, end_date, \
              parent_dag_id, parent_run_id) \
              VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
              ON CONFLICT (dag_id, run_id) DO NOTHING",
        params: vec![
            text(&run.dag_id),
            text(&run.run_id),
            text(run.run_type.as_str()),
            time(run.logical_date),
            time(run.data_interval_start),
            time(run.data_interval_end),
            Param::Text(run.conf.to_string()),
            text(run.state.as_str()),
            time(run.created_at),
            opt_time(run.start_date),
            opt_time(run.end_date),
            opt_text(parent.map(|p| p.dag_id.as_str())),
            opt_text(parent.map(|p| p.run_id.as_str())),
        ],
        role: Role::Required,
    }];
    out.extend(new_task_instances(&run.dag_id, &run.run_id, tasks));
    out.extend(consumes.iter().map(|e| Stmt {
        sql: "INSERT INTO dataset_consumptions (consumer_dag_id, dataset, created_at, seq, \
              dag_id, run_id, task_id, consumer_run_id) \
              VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
        params: vec![
            text(&run.dag_id),
            text(&e.dataset),
            time(e.created_at),
            Param::Int(e.seq),
            text(&e.dag_id),
            text(&e.run_id),
            text(&e.task_id),
            text(&run.run_id),
        ],
        role: Role::Required,
    }));
    out
}

/// Makes a worker the driver of a run (see [`super::Store::acquire_run`]); one changed row
/// means it was acquired.
pub(in crate::store) fn acquire_run(claim: &RunClaim) -> Stmt {
    Stmt {
        sql: "UPDATE dag_runs SET owner = $3, owner_until = $4, state = 'running', \
              start_date = COALESCE(start_date, $5), end_date = NULL \
              WHERE dag_id = $1 AND run_id = $2 AND state IN ('queued', 'running') \
              AND (owner IS NULL OR owner = $6) \
              AND (state = 'running' OR (SELECT COUNT(*) FROM dag_runs AS r \
                   WHERE r.dag_id = $1 AND r.state = 'running') < $7)",
        params: vec![
            text(&claim.key.dag_id),
            text(&claim.key.run_id),
            text(&claim.worker_id),
            time(claim.until),
            time(claim.now),
            opt_text(claim.take_from.as_deref()),
            Param::Int(i64::from(claim.max_active_runs)),
        ],
        role: Role::ClaimUpdate,
    }
}

/// Creates or replaces a Variable.
pub(in crate::store) fn set_variable(key: &str, value: &str) -> Stmt {
    Stmt {
        sql: "INSERT INTO variables (key, value, updated_at) VALUES ($1, $2, $3) \
              ON CONFLICT (key) DO UPDATE SET value = excluded.value, \
              updated_at = excluded.updated_at",
        params: vec![text(key), text(value), time(Utc::now())],
        role: Role::Plain,
    }
}

/// Inserts of task instances; one that exists already is kept as it is.
pub(in crate::store) fn new_task_instances(
    dag_id: &str,
    run_id: &str,
    tasks: &[TaskInstance],
) -> Vec<Stmt> {
    tasks
        .iter()
        .map(|t| Stmt {
            sql: "INSERT INTO task_instances (dag_id, run_id, task_id, state, try_number, \
                  max_tries, pool, pool_slots, next_attempt_at, start_date, end_date, \
                  mapped_args) \
                  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                  ON CONFLICT (dag_id, run_id, task_id) DO NOTHING",
            params: vec![
                text(dag_id),
                text(run_id),
                text(&t.task_id),
                text(t.state.as_str()),
                Param::Int(i64::from(t.try_number)),
                Param::Int(i64::from(t.max_tries)),
                text(&t.pool),
                Param::Int(i64::from(t.pool_slots)),
                opt_time(t.next_attempt_at),
                opt_time(t.start_date),
                opt_time(t.end_date),
                t.mapped_args
                    .as_ref()
                    .map_or(Param::NoText, |a| Param::Text(a.to_string())),
            ],
            role: Role::Plain,
        })
        .collect()
}

/// Takes a transaction-scoped PostgreSQL lock on a DAG's run limit.
pub(in crate::store) fn dag_lock(dag_id: &str) -> Stmt {
    Stmt {
        sql: "SELECT pg_advisory_xact_lock(hashtext($1))",
        params: vec![text(dag_id)],
        role: Role::Plain,
    }
}

/// Serializes the claims that count a pool's running instances (PostgreSQL).
pub(in crate::store) fn pool_lock(pool: &str) -> Stmt {
    Stmt {
        sql: "SELECT pg_advisory_xact_lock(hashtext($1))",
        params: vec![text(&format!("pool\u{1f}{pool}"))],
        role: Role::Plain,
    }
}

/// Records a DAG the first time an engine sees it.
pub(in crate::store) fn register_dag(dag_id: &str, paused: bool, now: DateTime<Utc>) -> Stmt {
    Stmt {
        sql: "INSERT INTO dags (dag_id, paused, first_seen) VALUES ($1, $3, $2) \
              ON CONFLICT (dag_id) DO NOTHING",
        params: vec![text(dag_id), time(now), Param::Int(i64::from(paused))],
        role: Role::Plain,
    }
}

/// Pauses or unpauses a DAG.
pub(in crate::store) fn set_paused(dag_id: &str, paused: bool) -> Stmt {
    Stmt {
        sql: "UPDATE dags SET paused = $2 WHERE dag_id = $1",
        params: vec![text(dag_id), Param::Int(i64::from(paused))],
        role: Role::Plain,
    }
}
