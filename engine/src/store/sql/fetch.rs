//! One way to read rows, whatever the backend: SQLite's reader connection on the calling
//! thread (see [`crate::store::sqlite_read`]), or the sqlx pool (PostgreSQL).

use std::borrow::Cow;

use super::write::bind_all;
use super::{SqlStore, db};
use crate::store::StoreError;
use crate::store::sqlite_read::Decode;
use crate::store::statements::Param;

impl SqlStore {
    /// The rows of `sql` (parameters `$1`…) decoded by `decode`; `context` names the read
    /// in errors.
    pub(super) async fn fetch<T: Send + 'static>(
        &self,
        sql: impl Into<Cow<'static, str>>,
        params: Vec<Param>,
        context: &'static str,
        decode: Decode<T>,
    ) -> Result<Vec<T>, StoreError> {
        if let Some(reader) = &self.reader {
            return reader.fetch(sql, params, context, decode).await;
        }
        let sql: Cow<'static, str> = sql.into();
        let query = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql.into_owned())), params);
        query
            .fetch_all(&self.pool)
            .await
            .map_err(db(context))?
            .iter()
            .map(|row| decode(row))
            .collect()
    }

    /// The first row of [`SqlStore::fetch`], if any.
    pub(super) async fn fetch_one<T: Send + 'static>(
        &self,
        sql: impl Into<Cow<'static, str>>,
        params: Vec<Param>,
        context: &'static str,
        decode: Decode<T>,
    ) -> Result<Option<T>, StoreError> {
        Ok(self
            .fetch(sql, params, context, decode)
            .await?
            .into_iter()
            .next())
    }
}
