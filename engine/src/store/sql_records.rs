//! Records of extensions (experiment runs, the model registry) in SQL: JSON documents by
//! collection and key, written all together or not at all with compare-and-swap versions.

use async_trait::async_trait;
use chrono::Utc;

use super::rows::{Cols, corrupt};
use super::sql::{RECORD_COLUMNS, SqlStore, db};
use super::{Expect, Record, RecordStore, RecordWrite, StoreError, to_micros};

#[async_trait]
impl RecordStore for SqlStore {
    async fn record(&self, collection: &str, key: &str) -> Result<Option<Record>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RECORD_COLUMNS} FROM records WHERE collection = $1 AND record_key = $2"
        )))
        .bind(collection)
        .bind(key)
        .fetch_optional(&self.pool)
        .await
        .map_err(db("reading a record"))?;
        row.as_ref().map(record_from_row).transpose()
    }

    async fn records(&self, collection: &str, prefix: &str) -> Result<Vec<Record>, StoreError> {
        // A prefix compare without LIKE, so `%` and `_` in keys mean themselves.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RECORD_COLUMNS} FROM records WHERE collection = $1 \
             AND substr(record_key, 1, CAST($2 AS INTEGER)) = $3 ORDER BY record_key"
        )))
        .bind(collection)
        .bind(prefix.chars().count() as i64)
        .bind(prefix)
        .fetch_all(&self.pool)
        .await
        .map_err(db("listing records"))?
        .iter()
        .map(record_from_row)
        .collect()
    }

    async fn write_records(&self, writes: &[RecordWrite]) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let now = to_micros(Utc::now());
        for w in writes {
            let value = serde_json::to_string(&w.value).map_err(|e| corrupt("record value", e))?;
            let done = match w.expect {
                Expect::Absent | Expect::Ensure => sqlx::query(
                    "INSERT INTO records (collection, record_key, version, value, updated_at) \
                     VALUES ($1, $2, 1, $3, $4) ON CONFLICT (collection, record_key) DO NOTHING",
                )
                .bind(&w.collection)
                .bind(&w.key)
                .bind(value)
                .bind(now),
                Expect::Version(v) => sqlx::query(
                    "UPDATE records SET value = $1, version = version + 1, updated_at = $2 \
                     WHERE collection = $3 AND record_key = $4 AND version = $5",
                )
                .bind(value)
                .bind(now)
                .bind(&w.collection)
                .bind(&w.key)
                .bind(v),
            }
            .execute(&mut *tx)
            .await
            .map_err(db("writing a record"))?
            .rows_affected();
            if done != 1 && w.expect != Expect::Ensure {
                // Dropping the transaction rolls back the writes before this one.
                return Err(w.conflict());
            }
        }
        tx.commit().await.map_err(db("committing records"))
    }
}

fn record_from_row(row: &sqlx::any::AnyRow) -> Result<Record, StoreError> {
    let c = Cols {
        row,
        what: "record",
    };
    let version = c.int("version")?;
    Ok(Record {
        collection: c.text("collection")?,
        key: c.text("record_key")?,
        version,
        value: serde_json::from_str(&c.text("value")?).map_err(|e| corrupt("record value", e))?,
        updated_at: c.time("updated_at")?,
    })
}
