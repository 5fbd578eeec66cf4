//! Workers taking the tries that drivers handed off ([`Store::take_queued`]), in one
//! transaction: the oldest queued rows of the wanted DAGs and pools (their pool is kept on
//! them), which PostgreSQL picks `FOR UPDATE SKIP LOCKED` so that workers taking at once get
//! different tries instead of waiting for each other (SQLite's writers are serialized
//! already); then each is taken if its task instance still waits for it in a running run,
//! checked by primary key, or ended as stale.
//!
//! One query joining the three tables was tried first: on a new database (no statistics
//! yet) PostgreSQL planned it as a scan of every queued try with two lookups each, and
//! through the partial index of running instances — 11 to 300 ms per take with 4,000 queued
//! tries, against about 1 ms here.
//!
//! [`Store::take_queued`]: crate::store::Store::take_queued

use sqlx::Row;

use super::{Backend, SqlStore, db};
use crate::store::statements::literal;
use crate::store::{RunKey, StoreError, TakeQueued, TakenTry, from_micros, to_micros};

fn list(values: &[String]) -> String {
    values
        .iter()
        .map(|v| literal(v))
        .collect::<Vec<_>>()
        .join(", ")
}

impl SqlStore {
    pub(super) async fn take_queued_tries(
        &self,
        take: &TakeQueued,
    ) -> Result<Vec<TakenTry>, StoreError> {
        if take.limit == 0 || take.dag_ids.is_empty() {
            return Ok(Vec::new());
        }
        let pools = match &take.pools {
            Some(p) if p.is_empty() => return Ok(Vec::new()),
            Some(p) => format!("AND pool IN ({})", list(p)),
            None => String::new(),
        };
        let lock = match self.backend {
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let mut tx = self.begin().await?;
        let candidates = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT dag_id, run_id, task_id, try_number FROM task_tries \
             WHERE state = 'queued' AND dag_id IN ({dags}) {pools} \
             ORDER BY start_date LIMIT $1 {lock}",
            dags = list(&take.dag_ids),
        )))
        .bind(i64::from(take.limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(db("looking for queued tries"))?;
        let mut taken = Vec::with_capacity(candidates.len());
        for row in &candidates {
            let key = (|| {
                Ok::<_, sqlx::Error>((
                    row.try_get::<String, _>(0)?,
                    row.try_get::<String, _>(1)?,
                    row.try_get::<String, _>(2)?,
                    row.try_get::<i64, _>(3)?,
                ))
            })()
            .map_err(db("reading queued tries"))?;
            let (dag_id, run_id, task_id, try_number) = key;
            // Taken if its instance still waits for it in a running run; else it is stale
            // (cleared or marked meanwhile) and ended, so that it never comes back.
            let row = sqlx::query(
                "UPDATE task_tries SET state = 'running', worker_id = $5, lease_until = $6, \
                 start_date = $7 \
                 WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND try_number = $4 \
                 AND EXISTS (SELECT 1 FROM task_instances ti WHERE ti.dag_id = $1 \
                   AND ti.run_id = $2 AND ti.task_id = $3 AND ti.state = 'running' \
                   AND ti.try_number = $4) \
                 AND EXISTS (SELECT 1 FROM dag_runs r WHERE r.dag_id = $1 AND r.run_id = $2 \
                   AND r.state = 'running') \
                 RETURNING (SELECT ti.max_tries FROM task_instances ti WHERE ti.dag_id = $1 \
                   AND ti.run_id = $2 AND ti.task_id = $3) AS max_tries, \
                   (SELECT ti.start_date FROM task_instances ti WHERE ti.dag_id = $1 \
                   AND ti.run_id = $2 AND ti.task_id = $3) AS first_start, \
                   (SELECT ti.mapped_args FROM task_instances ti WHERE ti.dag_id = $1 \
                   AND ti.run_id = $2 AND ti.task_id = $3) AS mapped_args",
            )
            .bind(&dag_id)
            .bind(&run_id)
            .bind(&task_id)
            .bind(try_number)
            .bind(take.worker_id.as_str())
            .bind(to_micros(take.lease_until))
            .bind(to_micros(take.at))
            .fetch_optional(&mut *tx)
            .await
            .map_err(db("taking a queued try"))?;
            match row {
                Some(row) => {
                    let got = (|| {
                        Ok::<_, sqlx::Error>((
                            row.try_get::<i64, _>("max_tries")?,
                            row.try_get::<Option<i64>, _>("first_start")?,
                            row.try_get::<Option<String>, _>("mapped_args")?,
                        ))
                    })()
                    .map_err(db("reading a taken try"))?;
                    taken.push(TakenTry {
                        run: RunKey::new(dag_id, run_id),
                        task_id,
                        try_number: try_number.max(0) as u32,
                        max_tries: got.0.max(0) as u32,
                        first_start: got.1.map(from_micros),
                        mapped_args: match got.2 {
                            Some(text) => Some(serde_json::from_str(&text).map_err(|e| {
                                super::super::rows::corrupt("mapped instance's arguments", e)
                            })?),
                            None => None,
                        },
                    });
                }
                None => {
                    sqlx::query(
                        "UPDATE task_tries SET state = 'failed', end_date = $5, error = $6 \
                         WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 \
                         AND try_number = $4 AND state = 'queued'",
                    )
                    .bind(&dag_id)
                    .bind(&run_id)
                    .bind(&task_id)
                    .bind(try_number)
                    .bind(to_micros(take.at))
                    .bind(super::super::STALE_QUEUED)
                    .execute(&mut *tx)
                    .await
                    .map_err(db("ending a stale queued try"))?;
                }
            }
        }
        tx.commit().await.map_err(db("taking queued tries"))?;
        Ok(taken)
    }
}
