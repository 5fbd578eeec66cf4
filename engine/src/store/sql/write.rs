//! The write path of a [`SqlStore`]: statements run on SQLite's committer, or bound one by
//! one in a single PostgreSQL transaction, where a claim and the statements that follow it
//! go as one ([`fuse_claim`]).

use sqlx::Row;

use super::{SqlStore, db};
use crate::store::StoreError;
use crate::store::statements::{Committed, Param, Role, Stmt, Tally, fuse_claim};

impl SqlStore {
    /// Statements bound one by one in one transaction (PostgreSQL; SQLite goes through
    /// its committer).
    pub(super) async fn execute_statements(
        &self,
        stmts: Vec<Stmt>,
    ) -> Result<Committed, StoreError> {
        let mut tally = Tally::default();
        let mut tx = self.begin().await?;
        let mut stmts = stmts.into_iter().enumerate().peekable();
        while let Some((i, stmt)) = stmts.next() {
            if !tally.runs(&stmt) {
                continue;
            }
            let role = stmt.role;
            let changed = if role == Role::ClaimUpdate {
                // The claim with the statements that follow it, in one round trip.
                let mut members = Vec::new();
                while let Some((_, m)) =
                    stmts.next_if(|(_, s)| matches!(s.role, Role::ClaimInsert | Role::ClaimLost))
                {
                    members.push(m);
                }
                let fused = fuse_claim(stmt, members);
                let row = bind_all(sqlx::query(sqlx::AssertSqlSafe(fused.sql)), fused.params)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db("committing a transition"))?;
                let won: i64 = row.try_get(0).map_err(db("committing a transition"))?;
                u64::try_from(won).unwrap_or(0)
            } else if role == Role::Guard {
                let found = bind_all(
                    sqlx::query(sqlx::AssertSqlSafe(format!("{} FOR UPDATE", stmt.sql))),
                    stmt.params,
                )
                .fetch_optional(&mut *tx)
                .await
                .map_err(db("committing a transition"))?;
                u64::from(found.is_some())
            } else {
                bound(stmt)
                    .execute(&mut *tx)
                    .await
                    .map_err(db("committing a transition"))?
                    .rows_affected()
            };
            if !tally.record(role, changed) {
                // Dropping the transaction rolls it back.
                return Ok(tally.done(Some(i)));
            }
        }
        tx.commit().await.map_err(db("committing a transition"))?;
        Ok(tally.done(None))
    }

    /// Runs statements on the committer (SQLite) or bound on the pool.
    pub(super) async fn write(&self, stmts: Vec<Stmt>) -> Result<Committed, StoreError> {
        match &self.committer {
            Some(c) => c.run(stmts).await,
            None => self.execute_statements(stmts).await,
        }
    }
}

/// A statement with its parameters bound, for sqlx.
fn bound(stmt: Stmt) -> sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments> {
    bind_all(sqlx::query(sqlx::AssertSqlSafe(stmt.sql)), stmt.params)
}

/// `q` with `params` bound in order.
pub(super) fn bind_all(
    mut q: sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments>,
    params: Vec<Param>,
) -> sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments> {
    for p in params {
        q = match p {
            Param::Text(t) => q.bind(t),
            Param::Int(i) => q.bind(i),
            Param::NoText => q.bind(None::<String>),
            Param::NoInt => q.bind(None::<i64>),
        };
    }
    q
}
