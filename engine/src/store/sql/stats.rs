//! [`Store::stats`](crate::store::Store::stats) as aggregate queries: a handful of `GROUP BY`
//! scans however many runs the store holds, nothing read row by row into memory.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{SqlStore, db};
use crate::store::stats::{DURATION_BUCKETS, Histogram, StoreStats};
use crate::store::{StoreError, to_micros};

/// Histograms of `d` (microseconds) by `dag_id` over `source`, a subquery with both columns.
async fn histograms(
    store: &SqlStore,
    source: &str,
) -> Result<BTreeMap<String, Histogram>, StoreError> {
    // Bucket bounds are constants of ours, so they can be spliced into the SQL.
    let buckets: Vec<String> = DURATION_BUCKETS
        .iter()
        .map(|b| format!("SUM(CASE WHEN d <= {} THEN 1 ELSE 0 END)", (b * 1e6) as i64))
        .collect();
    let sql = format!(
        "SELECT dag_id, COUNT(*), CAST(SUM(d) AS DOUBLE PRECISION), {} FROM ({source}) s \
         GROUP BY dag_id",
        buckets.join(", ")
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(&store.pool)
        .await
        .map_err(db("summing durations"))?;
    let mut out = BTreeMap::new();
    for row in rows {
        let read = |i: usize| -> Result<u64, StoreError> {
            Ok(row
                .try_get::<i64, _>(i)
                .map_err(db("summing durations"))?
                .max(0) as u64)
        };
        let mut h = Histogram {
            count: read(1)?,
            sum: row
                .try_get::<Option<f64>, _>(2)
                .map_err(db("summing durations"))?
                .unwrap_or(0.0)
                .max(0.0)
                / 1e6,
            ..Histogram::default()
        };
        for i in 0..DURATION_BUCKETS.len() {
            h.buckets[i] = read(3 + i)?;
        }
        out.insert(string(&row, 0)?, h);
    }
    Ok(out)
}

fn string(row: &AnyRow, i: usize) -> Result<String, StoreError> {
    row.try_get::<String, _>(i)
        .map_err(db("reading statistics"))
}

/// Rows of (text, text, count) as a map; rows whose state is not one of ours are left out.
async fn counts<S: std::str::FromStr + Ord>(
    store: &SqlStore,
    sql: &'static str,
) -> Result<BTreeMap<(String, S), u64>, StoreError> {
    let rows = sqlx::query(sql)
        .fetch_all(&store.pool)
        .await
        .map_err(db("counting by state"))?;
    let mut out = BTreeMap::new();
    for row in rows {
        if let Ok(state) = string(&row, 1)?.parse::<S>() {
            let n: i64 = row.try_get(2).map_err(db("counting by state"))?;
            out.insert((string(&row, 0)?, state), n.max(0) as u64);
        }
    }
    Ok(out)
}

impl SqlStore {
    pub(super) async fn aggregate_stats(
        &self,
        now: DateTime<Utc>,
    ) -> Result<StoreStats, StoreError> {
        let mut s = StoreStats {
            runs: counts(
                self,
                "SELECT dag_id, state, COUNT(*) FROM dag_runs GROUP BY dag_id, state",
            )
            .await?,
            task_instances: counts(
                self,
                "SELECT dag_id, state, COUNT(*) FROM task_instances GROUP BY dag_id, state",
            )
            .await?,
            run_durations: histograms(
                self,
                "SELECT dag_id, end_date - start_date AS d FROM dag_runs \
                 WHERE state IN ('success', 'failed') AND start_date IS NOT NULL \
                 AND end_date IS NOT NULL",
            )
            .await?,
            try_durations: histograms(
                self,
                "SELECT dag_id, duration_us AS d FROM task_tries WHERE duration_us IS NOT NULL",
            )
            .await?,
            schedule_lag: histograms(
                self,
                "SELECT dag_id, start_date - data_interval_end AS d FROM dag_runs \
                 WHERE run_type = 'scheduled' AND start_date IS NOT NULL",
            )
            .await?,
            ..StoreStats::default()
        };
        let one = |row: AnyRow| -> Result<u64, StoreError> {
            Ok(row.try_get::<i64, _>(0).map_err(db("counting"))?.max(0) as u64)
        };
        s.queued_tries = one(sqlx::query(
            "SELECT COUNT(*) FROM task_tries WHERE state = 'queued'",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(db("counting queued tries"))?)?;
        s.workers_alive = one(sqlx::query(
            "SELECT COUNT(*) FROM (SELECT owner AS w FROM dag_runs \
                 WHERE owner IS NOT NULL AND owner_until > $1 UNION SELECT worker_id AS w \
                 FROM task_tries WHERE state = 'running' AND lease_until > $1) live",
        )
        .bind(to_micros(now))
        .fetch_one(&self.pool)
        .await
        .map_err(db("counting live workers"))?)?;
        let rows = sqlx::query(
            "SELECT pool, CAST(SUM(pool_slots) AS BIGINT) FROM task_instances \
             WHERE state IN ('queued', 'running') GROUP BY pool",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db("summing pool slots"))?;
        for row in rows {
            let n: i64 = row.try_get(1).map_err(db("summing pool slots"))?;
            s.pool_used.insert(string(&row, 0)?, n.max(0) as u64);
        }
        Ok(s)
    }
}
