//! [`Store::stats`](crate::store::Store::stats) from the counters the commits keep
//! (`metric_counts`, one small `GROUP BY`) and, for what is now, indexes of what is not over
//! (queued and running runs and their task instances, queued and running tries): a scrape
//! reads no finished row, however many the store holds.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{SqlStore, db};
use crate::store::metric_counts::{CountRow, fold};
use crate::store::stats::StoreStats;
use crate::store::{StoreError, to_micros};

fn string(row: &AnyRow, i: usize) -> Result<String, StoreError> {
    row.try_get::<String, _>(i)
        .map_err(db("reading statistics"))
}

fn count(row: &AnyRow, i: usize) -> Result<u64, StoreError> {
    Ok(row.try_get::<i64, _>(i).map_err(db("counting"))?.max(0) as u64)
}

/// Rows of (text, state, count) as a map; rows whose state is not one of ours are left out.
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
            out.insert((string(&row, 0)?, state), count(&row, 2)?);
        }
    }
    Ok(out)
}

impl SqlStore {
    pub(super) async fn aggregate_stats(
        &self,
        now: DateTime<Utc>,
    ) -> Result<StoreStats, StoreError> {
        let rows = sqlx::query(
            "SELECT dag_id, name, label, CAST(SUM(n) AS BIGINT), \
             CAST(SUM(total) AS DOUBLE PRECISION) FROM metric_counts \
             GROUP BY dag_id, name, label",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db("reading the metric counters"))?;
        let mut folded: Vec<CountRow> = Vec::with_capacity(rows.len());
        for row in rows {
            folded.push((
                string(&row, 0)?,
                string(&row, 1)?,
                string(&row, 2)?,
                count(&row, 3)?,
                row.try_get::<Option<f64>, _>(4)
                    .map_err(db("reading the metric counters"))?
                    .unwrap_or(0.0),
            ));
        }
        let mut s = StoreStats {
            // Served by the indexes of runs by state and of task instances by run.
            active_runs: counts(
                self,
                "SELECT dag_id, 'queued', COUNT(*) FROM dag_runs WHERE state = 'queued' \
                 GROUP BY dag_id UNION ALL SELECT dag_id, 'running', COUNT(*) FROM dag_runs \
                 WHERE state = 'running' GROUP BY dag_id",
            )
            .await?,
            active_task_instances: counts(
                self,
                "SELECT ti.dag_id, ti.state, COUNT(*) FROM dag_runs r JOIN task_instances ti \
                 ON ti.dag_id = r.dag_id AND ti.run_id = r.run_id \
                 WHERE r.state IN ('queued', 'running') \
                 AND ti.state NOT IN ('success', 'failed', 'skipped', 'upstream_failed', 'removed') \
                 GROUP BY ti.dag_id, ti.state",
            )
            .await?,
            ..StoreStats::default()
        };
        fold(folded, &mut s);
        let one = |row: AnyRow| count(&row, 0);
        s.queued_tries = one(sqlx::query(
            "SELECT COUNT(*) FROM task_tries WHERE state = 'queued'",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(db("counting queued tries"))?)?;
        s.workers_alive = one(sqlx::query(
            "SELECT COUNT(*) FROM (SELECT owner AS w FROM dag_runs \
                 WHERE state = 'running' AND owner IS NOT NULL AND owner_until > $1 \
                 UNION SELECT worker_id AS w FROM task_tries \
                 WHERE state = 'running' AND lease_until > $1) live",
        )
        .bind(to_micros(now))
        .fetch_one(&self.pool)
        .await
        .map_err(db("counting live workers"))?)?;
        let rows = sqlx::query(
            "SELECT ti.pool, CAST(SUM(ti.pool_slots) AS BIGINT) FROM dag_runs r \
             JOIN task_instances ti ON ti.dag_id = r.dag_id AND ti.run_id = r.run_id \
             WHERE r.state = 'running' AND ti.state IN ('queued', 'running') GROUP BY ti.pool",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db("summing pool slots"))?;
        for row in rows {
            s.pool_used.insert(string(&row, 0)?, count(&row, 1)?);
        }
        Ok(s)
    }
}
