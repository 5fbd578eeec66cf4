//! Retention (`dagctl db clean`): finished runs that ended before a date go, with their task
//! instances, tries, logs and XCom, in one transaction, children first. Dataset events and
//! their consumptions stay (an old event must not start a run again), and so do registry
//! records.

use sqlx::Row;

use super::{SqlStore, db};
use crate::store::{CleanReport, EventConsumer, EventsCleaned, PINNED_RUNS, StoreError, to_micros};

/// The finished runs that ended before the cut (`$1`: the cut-off, `$2`: one DAG or '').
const ENDED: &str = "FROM dag_runs r WHERE r.state IN ('success', 'failed') \
                     AND r.end_date < $1 AND ($2 = '' OR r.dag_id = $2)";

/// The condition of a pinned run ([`PINNED_RUNS`], keys `dag_id/run_id`).
fn pinned() -> String {
    format!(
        "EXISTS (SELECT 1 FROM records p WHERE p.collection = '{PINNED_RUNS}' \
         AND p.record_key = r.dag_id || '/' || r.run_id)"
    )
}

/// The tables of a run's children, in the order they are emptied.
const CHILDREN: [&str; 4] = ["task_logs", "xcom", "task_tries", "task_instances"];

impl SqlStore {
    /// Gives the space of removed rows back: SQLite rewrites the file smaller (`VACUUM`,
    /// then the write-ahead log truncated), PostgreSQL marks it reusable and refreshes the
    /// planner's statistics (`VACUUM (ANALYZE)` of the run tables). SQLite's holds the write
    /// lock while it runs: other writers wait for it.
    ///
    /// # Errors
    /// A store failure; on SQLite, too little free disk for the copy it writes.
    pub async fn reclaim(&self) -> Result<(), StoreError> {
        let sql = match self.backend {
            super::Backend::Sqlite => "VACUUM; PRAGMA wal_checkpoint(TRUNCATE);",
            super::Backend::Postgres => {
                "VACUUM (ANALYZE) dag_runs, task_instances, task_tries, task_logs, xcom"
            }
        };
        sqlx::raw_sql(sql)
            .execute(&self.pool)
            .await
            .map_err(db("giving the removed rows' space back (VACUUM)"))?;
        Ok(())
    }

    pub(super) async fn clean_dataset_events(
        &self,
        before: chrono::DateTime<chrono::Utc>,
        consumers: &[EventConsumer],
        dry_run: bool,
    ) -> Result<EventsCleaned, StoreError> {
        let cut = to_micros(before);
        let mut tx = self.begin().await?;
        let datasets: Vec<String> =
            sqlx::query("SELECT DISTINCT dataset FROM dataset_events WHERE created_at < $1")
                .bind(cut)
                .fetch_all(&mut *tx)
                .await
                .map_err(db("finding old dataset events"))?
                .iter()
                .map(|r| r.try_get::<String, _>(0))
                .collect::<Result<_, _>>()
                .map_err(db("finding old dataset events"))?;
        let mut done = EventsCleaned::default();
        for dataset in datasets {
            // Each consumer of the dataset: the event came before it, or it consumed it.
            let mut sql =
                String::from("FROM dataset_events e WHERE e.dataset = $1 AND e.created_at < $2");
            let mine: Vec<&EventConsumer> =
                consumers.iter().filter(|c| c.dataset == dataset).collect();
            for i in 0..mine.len() {
                let (dag, since) = (3 + 2 * i, 4 + 2 * i);
                sql.push_str(&format!(
                    " AND (e.created_at < ${since} OR EXISTS (SELECT 1 FROM \
                     dataset_consumptions c WHERE c.consumer_dag_id = ${dag} \
                     AND c.dataset = e.dataset AND c.created_at = e.created_at \
                     AND c.seq = e.seq AND c.dag_id = e.dag_id AND c.run_id = e.run_id \
                     AND c.task_id = e.task_id))"
                ));
            }
            // A DELETE names no alias on SQLite: the rows go by their key.
            let sql = format!(
                "DELETE FROM dataset_events WHERE (dataset, created_at, seq, dag_id, run_id, \
                 task_id) IN (SELECT e.dataset, e.created_at, e.seq, e.dag_id, e.run_id, \
                 e.task_id {sql})"
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(dataset.clone())
                .bind(cut);
            for c in mine {
                q = q.bind(c.dag_id.clone()).bind(to_micros(c.since));
            }
            done.events += q
                .execute(&mut *tx)
                .await
                .map_err(db("removing old dataset events"))?
                .rows_affected();
        }
        // Then the consumptions of the events gone: none of a remaining event.
        done.consumptions = sqlx::query(
            "DELETE FROM dataset_consumptions WHERE created_at < $1 AND NOT EXISTS \
             (SELECT 1 FROM dataset_events e WHERE e.dataset = dataset_consumptions.dataset \
             AND e.created_at = dataset_consumptions.created_at \
             AND e.seq = dataset_consumptions.seq AND e.dag_id = dataset_consumptions.dag_id \
             AND e.run_id = dataset_consumptions.run_id \
             AND e.task_id = dataset_consumptions.task_id)",
        )
        .bind(cut)
        .execute(&mut *tx)
        .await
        .map_err(db("removing old dataset consumptions"))?
        .rows_affected();
        // A dry run counted by doing it, and takes it back.
        if dry_run {
            tx.rollback()
                .await
                .map_err(db("counting old dataset events"))?;
            return Ok(done);
        }
        tx.commit()
            .await
            .map_err(db("removing old dataset events"))?;
        Ok(done)
    }

    pub(super) async fn clean_runs(
        &self,
        before: chrono::DateTime<chrono::Utc>,
        dag_id: Option<&str>,
        dry_run: bool,
    ) -> Result<CleanReport, StoreError> {
        let (cut, dag) = (to_micros(before), dag_id.unwrap_or_default());
        // The runs a clean removes: those ended before the cut that nothing pinned.
        let scope = format!("SELECT r.dag_id, r.run_id {ENDED} AND NOT {}", pinned());
        let scope = scope.as_str();
        let mut tx = self.begin().await?;
        let pinned = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) {ENDED} AND {}",
            pinned()
        )))
        .bind(cut)
        .bind(dag)
        .fetch_one(&mut *tx)
        .await
        .map_err(db("counting pinned runs"))?
        .try_get::<i64, _>(0)
        .map_err(db("counting pinned runs"))?
        .max(0) as u64;
        // The references to values kept in the data location, before their rows go.
        let mut spilled = Vec::new();
        let refs = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT value FROM xcom WHERE (dag_id, run_id) IN ({scope}) \
             AND value LIKE '%__dagctl_xcom_ref__%'"
        )))
        .bind(cut)
        .bind(dag)
        .fetch_all(&mut *tx)
        .await
        .map_err(db("finding XCom values kept in the data location"))?;
        for row in refs {
            let text: String = row
                .try_get(0)
                .map_err(db("finding XCom values kept in the data location"))?;
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
                && let Some(p) = crate::xcom_spill::spilled_path(&v)
            {
                spilled.push(p.to_string());
            }
        }
        let mut counts = [0u64; 5];
        for (i, table) in CHILDREN.iter().chain(["dag_runs"].iter()).enumerate() {
            let rows = if *table == "dag_runs" {
                format!("FROM dag_runs WHERE (dag_id, run_id) IN ({scope})")
            } else {
                format!("FROM {table} WHERE (dag_id, run_id) IN ({scope})")
            };
            counts[i] = if dry_run {
                let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) {rows}")))
                    .bind(cut)
                    .bind(dag)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db("counting what a clean removes"))?;
                row.try_get::<i64, _>(0)
                    .map_err(db("counting what a clean removes"))?
                    .max(0) as u64
            } else {
                sqlx::query(sqlx::AssertSqlSafe(format!("DELETE {rows}")))
                    .bind(cut)
                    .bind(dag)
                    .execute(&mut *tx)
                    .await
                    .map_err(db("removing old runs"))?
                    .rows_affected()
            };
        }
        tx.commit().await.map_err(db("removing old runs"))?;
        let [log_chunks, xcoms, tries, task_instances, runs] = counts;
        Ok(CleanReport {
            runs,
            task_instances,
            tries,
            log_chunks,
            xcoms,
            spilled,
            pinned,
        })
    }
}
