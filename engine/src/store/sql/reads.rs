//! The read queries of a [`SqlStore`]: runs, task instances, tries, logs, XCom and dataset
//! events, through [`SqlStore::fetch`]. Each method serves the
//! [`Store`](crate::store::Store) method of its name.

use chrono::{DateTime, Utc};

use super::SqlStore;
use crate::store::rows::{
    Cols, RowRead, corrupt, event_from_row, run_from_row, ti_from_row, try_from_row,
};
use crate::store::statements::Param;
use crate::store::{
    DagRun, DatasetEvent, RunFilter, RunKey, StoreError, TaskInstance, TryRecord, to_micros,
};

const RUN_COLUMNS: &str = "dag_id, run_id, run_type, logical_date, data_interval_start, \
     data_interval_end, conf, state, created_at, start_date, end_date, parent_dag_id, \
     parent_run_id, owner, owner_until";

fn text(s: &str) -> Param {
    Param::Text(s.to_string())
}

/// An XCom row: task, key and value.
fn xcom_row(row: &dyn RowRead) -> Result<(String, String, serde_json::Value), StoreError> {
    let c = Cols { row, what: "XCom" };
    Ok((
        c.text("task_id")?,
        c.text("key")?,
        serde_json::from_str(&c.text("value")?).map_err(|e| corrupt("XCom value", e))?,
    ))
}

impl SqlStore {
    pub(super) async fn read_unconsumed_events(
        &self,
        consumer: &str,
        dataset: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<DatasetEvent>, StoreError> {
        self.fetch(
            "SELECT e.dataset, e.created_at, e.seq, e.dag_id, e.run_id, e.task_id \
             FROM dataset_events AS e WHERE e.dataset = $1 AND e.created_at >= $2 \
             AND NOT EXISTS (SELECT 1 FROM dataset_consumptions AS c \
               WHERE c.consumer_dag_id = $3 AND c.dataset = e.dataset \
               AND c.created_at = e.created_at AND c.seq = e.seq AND c.dag_id = e.dag_id \
               AND c.run_id = e.run_id AND c.task_id = e.task_id) \
             ORDER BY e.created_at, e.seq",
            vec![text(dataset), Param::Int(to_micros(since)), text(consumer)],
            "reading dataset events",
            event_from_row,
        )
        .await
    }

    pub(super) async fn read_run(&self, run: &RunKey) -> Result<Option<DagRun>, StoreError> {
        self.fetch_one(
            format!("SELECT {RUN_COLUMNS} FROM dag_runs WHERE dag_id = $1 AND run_id = $2"),
            vec![text(&run.dag_id), text(&run.run_id)],
            "reading a DAG run",
            run_from_row,
        )
        .await
    }

    pub(super) async fn read_find_runs(&self, run_id: &str) -> Result<Vec<DagRun>, StoreError> {
        self.fetch(
            format!("SELECT {RUN_COLUMNS} FROM dag_runs WHERE run_id = $1 ORDER BY dag_id"),
            vec![text(run_id)],
            "finding a DAG run",
            run_from_row,
        )
        .await
    }

    pub(super) async fn read_list_runs(
        &self,
        filter: &RunFilter,
    ) -> Result<Vec<DagRun>, StoreError> {
        let mut params = vec![text(filter.dag_id.as_deref().unwrap_or_default())];
        if let Some(from) = filter.logical_from {
            params.push(Param::Int(to_micros(from)));
        }
        if let Some(before) = filter.logical_before {
            params.push(Param::Int(to_micros(before)));
        }
        self.fetch(
            list_runs_sql(filter),
            params,
            "listing DAG runs",
            run_from_row,
        )
        .await
    }

    pub(super) async fn read_task_instances(
        &self,
        run: &RunKey,
    ) -> Result<Vec<TaskInstance>, StoreError> {
        self.fetch(
            "SELECT task_id, state, try_number, max_tries, pool, pool_slots, next_attempt_at, \
             start_date, end_date, mapped_args, rendered_map_index FROM task_instances \
             WHERE dag_id = $1 AND run_id = $2",
            vec![text(&run.dag_id), text(&run.run_id)],
            "reading task instances",
            ti_from_row,
        )
        .await
    }

    pub(super) async fn read_tries(
        &self,
        run: &RunKey,
        task_id: Option<&str>,
    ) -> Result<Vec<TryRecord>, StoreError> {
        self.fetch(
            "SELECT task_id, try_number, state, worker_id, lease_until, start_date, end_date, \
             duration_us, error, handed, outcome, blamed FROM task_tries WHERE dag_id = $1 \
             AND run_id = $2 AND ($3 = '' OR task_id = $3) \
             ORDER BY start_date, task_id, try_number",
            vec![
                text(&run.dag_id),
                text(&run.run_id),
                text(task_id.unwrap_or_default()),
            ],
            "reading tries",
            try_from_row,
        )
        .await
    }

    pub(super) async fn read_log(
        &self,
        run: &RunKey,
        task_id: &str,
        try_number: u32,
    ) -> Result<String, StoreError> {
        let parts = self
            .fetch(
                "SELECT text FROM task_logs WHERE dag_id = $1 AND run_id = $2 \
                 AND task_id = $3 AND try_number = $4 ORDER BY seq",
                vec![
                    text(&run.dag_id),
                    text(&run.run_id),
                    text(task_id),
                    Param::Int(i64::from(try_number)),
                ],
                "reading a log",
                |row| Cols { row, what: "log" }.text("text"),
            )
            .await?;
        Ok(parts.concat())
    }

    pub(super) async fn read_xcom(
        &self,
        run: &RunKey,
        task_id: &str,
        key: &str,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        let value = self
            .fetch_one(
                "SELECT task_id, key, value FROM xcom WHERE dag_id = $1 AND run_id = $2 \
                 AND task_id = $3 AND key = $4",
                vec![
                    text(&run.dag_id),
                    text(&run.run_id),
                    text(task_id),
                    text(key),
                ],
                "reading an XCom",
                xcom_row,
            )
            .await?;
        Ok(value.map(|(_, _, v)| v))
    }

    pub(super) async fn read_xcoms(
        &self,
        run: &RunKey,
    ) -> Result<Vec<(String, String, serde_json::Value)>, StoreError> {
        self.fetch(
            "SELECT task_id, key, value FROM xcom WHERE dag_id = $1 AND run_id = $2 \
             ORDER BY task_id, key",
            vec![text(&run.dag_id), text(&run.run_id)],
            "reading XComs",
            xcom_row,
        )
        .await
    }

    pub(super) async fn read_dataset_events(
        &self,
        dataset: &str,
        after: Option<DateTime<Utc>>,
    ) -> Result<Vec<DatasetEvent>, StoreError> {
        self.fetch(
            "SELECT dataset, created_at, seq, dag_id, run_id, task_id FROM dataset_events \
             WHERE dataset = $1 AND created_at > $2 ORDER BY created_at, seq",
            vec![text(dataset), Param::Int(after.map_or(i64::MIN, to_micros))],
            "reading dataset events",
            event_from_row,
        )
        .await
    }
}

/// The SQL of a listing of runs: `$1` is the DAG (or `''` for all), `$2` the earliest
/// logical date when the filter has one.
fn list_runs_sql(filter: &RunFilter) -> String {
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
    let mut n = 1;
    if filter.logical_from.is_some() {
        n += 1;
        sql.push_str(&format!(" AND logical_date >= ${n}"));
    }
    if filter.logical_before.is_some() {
        n += 1;
        sql.push_str(&format!(" AND logical_date < ${n}"));
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
    sql
}
