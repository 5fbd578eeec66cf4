//! The read queries of a [`SqlStore`](super::SqlStore) on its pool: runs, task instances, tries, logs, XCom and
//! dataset events. Each function serves the [`Store`](crate::store::Store) method of its name.

use chrono::{DateTime, Utc};
use sqlx::{AnyPool, Row};

use super::db;
use crate::store::rows::{corrupt, event_from_row, run_from_row, ti_from_row, try_from_row};
use crate::store::{
    DagRun, DatasetEvent, RunFilter, RunKey, StoreError, TaskInstance, TryRecord, to_micros,
};

const RUN_COLUMNS: &str = "dag_id, run_id, run_type, logical_date, data_interval_start, \
     data_interval_end, conf, state, created_at, start_date, end_date, parent_dag_id, \
     parent_run_id, owner, owner_until";

pub(super) async fn unconsumed_events(
    pool: &AnyPool,
    consumer: &str,
    dataset: &str,
    since: DateTime<Utc>,
) -> Result<Vec<DatasetEvent>, StoreError> {
    sqlx::query(
        "SELECT e.dataset, e.created_at, e.seq, e.dag_id, e.run_id, e.task_id \
         FROM dataset_events AS e WHERE e.dataset = $1 AND e.created_at >= $2 \
         AND NOT EXISTS (SELECT 1 FROM dataset_consumptions AS c \
           WHERE c.consumer_dag_id = $3 AND c.dataset = e.dataset \
           AND c.created_at = e.created_at AND c.seq = e.seq AND c.dag_id = e.dag_id \
           AND c.run_id = e.run_id AND c.task_id = e.task_id) \
         ORDER BY e.created_at, e.seq",
    )
    .bind(dataset)
    .bind(to_micros(since))
    .bind(consumer)
    .fetch_all(pool)
    .await
    .map_err(db("reading dataset events"))?
    .iter()
    .map(event_from_row)
    .collect()
}

pub(super) async fn run(pool: &AnyPool, run: &RunKey) -> Result<Option<DagRun>, StoreError> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM dag_runs WHERE dag_id = $1 AND run_id = $2");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&run.dag_id)
        .bind(&run.run_id)
        .fetch_optional(pool)
        .await
        .map_err(db("reading a DAG run"))?
        .as_ref()
        .map(run_from_row)
        .transpose()
}

pub(super) async fn find_runs(pool: &AnyPool, run_id: &str) -> Result<Vec<DagRun>, StoreError> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM dag_runs WHERE run_id = $1 ORDER BY dag_id");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(run_id)
        .fetch_all(pool)
        .await
        .map_err(db("finding a DAG run"))?
        .iter()
        .map(run_from_row)
        .collect()
}

pub(super) async fn list_runs(
    pool: &AnyPool,
    filter: &RunFilter,
) -> Result<Vec<DagRun>, StoreError> {
    // States and the limit go into the SQL as literals: state names are fixed words and
    // the limit a number, so nothing from outside is spliced in.
    // Two forms, so that the index on (dag_id, created_at) serves a DAG's newest runs.
    let mut sql = if filter.dag_id.is_some() {
        format!("SELECT {RUN_COLUMNS} FROM dag_runs WHERE dag_id = $1")
    } else {
        format!("SELECT {RUN_COLUMNS} FROM dag_runs WHERE $1 = ''")
    };
    let words = |column: &str, names: Vec<&str>| -> String {
        if names.is_empty() {
            return String::new();
        }
        let quoted: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
        // One value as `=`: a partial index on that value then serves the query.
        match quoted.as_slice() {
            [one] => format!(" AND {column} = {one}"),
            _ => format!(" AND {column} IN ({})", quoted.join(", ")),
        }
    };
    sql.push_str(&words(
        "state",
        filter.states.iter().map(|s| s.as_str()).collect(),
    ));
    sql.push_str(&words(
        "run_type",
        filter.run_types.iter().map(|t| t.as_str()).collect(),
    ));
    if filter.logical_from.is_some() {
        sql.push_str(" AND logical_date >= $2");
    }
    sql.push_str(if filter.oldest_first {
        " ORDER BY logical_date, created_at, run_id"
    } else if filter.by_logical_date {
        " ORDER BY logical_date DESC, run_id DESC"
    } else {
        " ORDER BY created_at DESC, run_id DESC"
    });
    match (filter.limit, filter.offset) {
        (Some(l), o) => sql.push_str(&format!(" LIMIT {l} OFFSET {}", o.unwrap_or(0))),
        // PostgreSQL takes OFFSET alone; SQLite needs a LIMIT, where -1 is none.
        (None, Some(o)) if o > 0 => sql.push_str(&format!(" LIMIT 9223372036854775807 OFFSET {o}")),
        (None, _) => {}
    }
    let mut query =
        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(filter.dag_id.clone().unwrap_or_default());
    if let Some(from) = filter.logical_from {
        query = query.bind(to_micros(from));
    }
    query
        .fetch_all(pool)
        .await
        .map_err(db("listing DAG runs"))?
        .iter()
        .map(run_from_row)
        .collect()
}

pub(super) async fn task_instances(
    pool: &AnyPool,
    run: &RunKey,
) -> Result<Vec<TaskInstance>, StoreError> {
    sqlx::query(
        "SELECT task_id, state, try_number, max_tries, pool, pool_slots, next_attempt_at, \
         start_date, end_date, mapped_args, rendered_map_index FROM task_instances \
         WHERE dag_id = $1 AND run_id = $2",
    )
    .bind(&run.dag_id)
    .bind(&run.run_id)
    .fetch_all(pool)
    .await
    .map_err(db("reading task instances"))?
    .iter()
    .map(ti_from_row)
    .collect()
}

pub(super) async fn tries(
    pool: &AnyPool,
    run: &RunKey,
    task_id: Option<&str>,
) -> Result<Vec<TryRecord>, StoreError> {
    sqlx::query(
        "SELECT task_id, try_number, state, worker_id, lease_until, start_date, end_date, \
         duration_us, error, handed, outcome FROM task_tries WHERE dag_id = $1 AND run_id = $2 \
         AND ($3 = '' OR task_id = $3) ORDER BY start_date, task_id, try_number",
    )
    .bind(&run.dag_id)
    .bind(&run.run_id)
    .bind(task_id.unwrap_or_default())
    .fetch_all(pool)
    .await
    .map_err(db("reading tries"))?
    .iter()
    .map(try_from_row)
    .collect()
}

pub(super) async fn log(
    pool: &AnyPool,
    run: &RunKey,
    task_id: &str,
    try_number: u32,
) -> Result<String, StoreError> {
    let rows = sqlx::query(
        "SELECT text FROM task_logs WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 \
         AND try_number = $4 ORDER BY seq",
    )
    .bind(&run.dag_id)
    .bind(&run.run_id)
    .bind(task_id)
    .bind(i64::from(try_number))
    .fetch_all(pool)
    .await
    .map_err(db("reading a log"))?;
    let mut out = String::new();
    for r in rows {
        out.push_str(&r.try_get::<String, _>(0).map_err(db("reading a log"))?);
    }
    Ok(out)
}

pub(super) async fn xcom(
    pool: &AnyPool,
    run: &RunKey,
    task_id: &str,
    key: &str,
) -> Result<Option<serde_json::Value>, StoreError> {
    let row = sqlx::query(
        "SELECT value FROM xcom WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND key = $4",
    )
    .bind(&run.dag_id)
    .bind(&run.run_id)
    .bind(task_id)
    .bind(key)
    .fetch_optional(pool)
    .await
    .map_err(db("reading an XCom"))?;
    match row {
        None => Ok(None),
        Some(r) => {
            let text: String = r.try_get(0).map_err(db("reading an XCom"))?;
            serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| corrupt("XCom value", e))
        }
    }
}

pub(super) async fn xcoms(
    pool: &AnyPool,
    run: &RunKey,
) -> Result<Vec<(String, String, serde_json::Value)>, StoreError> {
    let rows = sqlx::query(
        "SELECT task_id, key, value FROM xcom WHERE dag_id = $1 AND run_id = $2 \
         ORDER BY task_id, key",
    )
    .bind(&run.dag_id)
    .bind(&run.run_id)
    .fetch_all(pool)
    .await
    .map_err(db("reading XComs"))?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let get = |e| db("reading XComs")(e);
        let text: String = r.try_get(2).map_err(get)?;
        out.push((
            r.try_get(0).map_err(get)?,
            r.try_get(1).map_err(get)?,
            serde_json::from_str(&text).map_err(|e| corrupt("XCom value", e))?,
        ));
    }
    Ok(out)
}

pub(super) async fn dataset_events(
    pool: &AnyPool,
    dataset: &str,
    after: Option<DateTime<Utc>>,
) -> Result<Vec<DatasetEvent>, StoreError> {
    sqlx::query(
        "SELECT dataset, created_at, seq, dag_id, run_id, task_id FROM dataset_events \
         WHERE dataset = $1 AND created_at > $2 ORDER BY created_at, seq",
    )
    .bind(dataset)
    .bind(after.map_or(i64::MIN, to_micros))
    .fetch_all(pool)
    .await
    .map_err(db("reading dataset events"))?
    .iter()
    .map(event_from_row)
    .collect()
}
