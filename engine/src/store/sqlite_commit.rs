//! The SQLite commit path: every state transition of the executor goes through here, so it
//! runs on a connection of its own (rusqlite, the same SQLite library sqlx links) with its
//! statements prepared once and cached, and without a hop to another thread.
//!
//! sqlx runs each SQLite connection on a worker thread and sends it every command over a
//! channel; on a small machine that hop costs more than the write itself (≈ 60 µs for a
//! `SELECT 1`, against ≈ 30 µs for a whole transition here). The repeated reads have a
//! connection of their own likewise ([`super::sqlite_read`]).
//!
//! A commit first tries without waiting for the write lock, on the calling thread; if another
//! connection holds the lock it tries again on a blocking thread, waiting up to 30 s (as
//! the sqlx connections do), so an async thread never sleeps on a lock. Either way the
//! transaction runs to its end, so a caller dropped mid-commit leaves no half transaction.

use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};

use super::StoreError;
use super::statements::{Committed, PARAM_NAMES, Param, Role, Stmt, Tally};

/// How long a commit waits for another writer's lock before failing.
const LOCK_WAIT: Duration = Duration::from_secs(30);

/// The commit connection.
#[derive(Debug)]
pub(super) struct Committer {
    conn: Mutex<Connection>,
}

fn err(context: &str) -> impl FnOnce(rusqlite::Error) -> StoreError + '_ {
    move |e| {
        let hint = match e.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => {
                " (free space on the disk of the state store, then `dagctl runs resume`: \
                 nothing committed is lost)"
            }
            Some(ErrorCode::ReadOnly) => " (the database file or its disk is read-only)",
            _ => "",
        };
        StoreError::Sqlite {
            context: context.to_string(),
            message: format!("{e}{hint}"),
        }
    }
}

/// Whether SQLite said another connection holds the lock (a wait may help).
pub(super) fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// Why a statement on a rusqlite connection did not run: busy (try again, waiting) or not.
pub(super) enum Failure {
    /// Another connection holds the lock.
    Busy,
    /// Anything else.
    Other(StoreError),
}

impl Committer {
    /// Opens the database file (which the sqlx pool has created and migrated).
    pub(super) fn open(path: &str) -> Result<Committer, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(err("opening the commit connection"))?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(err("setting up the commit connection"))?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(Committer {
            conn: Mutex::new(conn),
        })
    }

    /// Runs statements in one transaction (see [`super::statements::Role`] for claims and required rows).
    pub(super) async fn run(
        self: &std::sync::Arc<Self>,
        stmts: Vec<Stmt>,
    ) -> Result<Committed, StoreError> {
        // The fast path never waits, not even for the connection's mutex: a commit waiting
        // for the write lock on a blocking thread holds it, and an async thread blocked
        // behind it would stall the very tasks that must finish to release that lock (seen
        // as a 30 s stall of two runs on a two-core machine).
        let fast = match self.conn.try_lock() {
            Ok(mut conn) => Self::try_run(&mut conn, &stmts, Duration::ZERO),
            Err(std::sync::TryLockError::Poisoned(p)) => {
                Self::try_run(&mut p.into_inner(), &stmts, Duration::ZERO)
            }
            Err(std::sync::TryLockError::WouldBlock) => Err(Failure::Busy),
        };
        match fast {
            Ok(done) => Ok(done),
            Err(Failure::Other(e)) => Err(e),
            Err(Failure::Busy) => {
                let this = std::sync::Arc::clone(self);
                tokio::task::spawn_blocking(move || {
                    // A std mutex, locked on this blocking thread only.
                    let mut conn = this.conn.lock().unwrap_or_else(|p| p.into_inner());
                    Self::try_run(&mut conn, &stmts, LOCK_WAIT)
                })
                .await
                .map_err(|e| StoreError::Sqlite {
                    context: "committing a transition".into(),
                    message: e.to_string(),
                })?
                .map_err(|f| match f {
                    Failure::Other(e) => e,
                    Failure::Busy => StoreError::Sqlite {
                        context: "committing a transition".into(),
                        message: format!(
                            "the database stayed locked by another process for {}s",
                            LOCK_WAIT.as_secs()
                        ),
                    },
                })
            }
        }
    }

    fn try_run(
        conn: &mut Connection,
        stmts: &[Stmt],
        wait: Duration,
    ) -> Result<Committed, Failure> {
        let fail = |e: rusqlite::Error| {
            if is_busy(&e) {
                Failure::Busy
            } else {
                Failure::Other(err("committing a transition")(e))
            }
        };
        conn.busy_timeout(wait).map_err(fail)?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(fail)?;
        let mut tally = Tally::default();
        for stmt in stmts {
            if !tally.runs(stmt) {
                continue;
            }
            let mut st = tx.prepare_cached(stmt.sql).map_err(fail)?;
            debug_assert!(stmt.params.len() <= PARAM_NAMES.len(), "{}", stmt.sql);
            for (p, name) in stmt.params.iter().zip(PARAM_NAMES) {
                let Some(idx) = st.parameter_index(name).map_err(fail)? else {
                    continue;
                };
                match p {
                    Param::Text(s) => st.raw_bind_parameter(idx, s.as_str()),
                    Param::Int(n) => st.raw_bind_parameter(idx, *n),
                    Param::NoText | Param::NoInt => {
                        st.raw_bind_parameter(idx, rusqlite::types::Null)
                    }
                }
                .map_err(fail)?;
            }
            let changed = if stmt.role == Role::Guard {
                usize::from(st.raw_query().next().map_err(fail)?.is_some())
            } else {
                st.raw_execute().map_err(fail)?
            };
            if !tally.record(stmt.role, changed as u64) {
                // Dropping the transaction rolls it back.
                return Ok(tally.done(true));
            }
        }
        // Dropping the transaction on any error above rolls it back.
        tx.commit().map_err(fail)?;
        Ok(tally.done(false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::statements::Role;

    fn insert(n: i64) -> Stmt {
        Stmt {
            sql: "INSERT INTO t (n) VALUES ($1) ON CONFLICT (n) DO NOTHING",
            params: vec![Param::Int(n)],
            role: Role::Required,
        }
    }

    // One thread: were the lock awaited on it, the sleep below could not end.
    #[tokio::test(flavor = "current_thread")]
    async fn a_commit_waits_for_another_writer_and_required_rows_roll_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db").display().to_string();
        let other = Connection::open(&path).unwrap();
        other
            .execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (n INTEGER PRIMARY KEY);")
            .unwrap();
        let c = std::sync::Arc::new(Committer::open(&path).unwrap());
        // Another connection holds the write lock: the commit waits on a blocking thread
        // (not on the async one) and goes through once the lock is released.
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let pending = tokio::spawn({
            let c = std::sync::Arc::clone(&c);
            async move { c.run(vec![insert(1)]).await }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!pending.is_finished(), "it waits for the lock");
        // A second commit meanwhile finds the connection busy with the waiting one: it must
        // not block this (only) thread on it, or the release below could not happen before
        // both gave up.
        let second = tokio::spawn({
            let c = std::sync::Arc::clone(&c);
            async move { c.run(vec![insert(3)]).await }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        other.execute_batch("COMMIT").unwrap();
        let done = pending.await.unwrap().unwrap();
        assert!(!done.unchanged);
        assert!(!second.await.unwrap().unwrap().unchanged);
        other.execute_batch("DELETE FROM t WHERE n = 3").unwrap();
        // A required row that is there already: nothing of the list is written.
        let done = c.run(vec![insert(2), insert(1)]).await.unwrap();
        assert!(done.unchanged);
        let rows: i64 = other
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 1, "the insert of 2 was rolled back");
    }
}
