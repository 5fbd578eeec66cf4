//! The SQLite read path: the reads the executor, the scheduler and the CLI repeat (a run, its
//! task instances, tries, XCom, Variables, connections, pools) run on a connection of their
//! own (rusqlite, the library sqlx links) with cached prepared statements, on the calling
//! thread — no hop to sqlx's connection thread, no pool connection opened for them.
//!
//! In WAL mode a reader never waits for a writer, so a read runs at once; in the rare cases
//! SQLite still says busy (another process recovering the WAL after a crash), it is tried
//! again on a blocking thread, waiting up to 30 s like the other connections, so an async
//! thread never sleeps on a lock.

use std::borrow::Cow;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::StoreError;
use super::rows::{RowRead, SqliteRow};
use super::sqlite_commit::{Failure, is_busy};
use super::statements::{PARAM_NAMES, Param};

/// How long a read waits for a lock it cannot get at once.
const LOCK_WAIT: Duration = Duration::from_secs(30);

/// Turns one row into a record.
pub(super) type Decode<T> = fn(&dyn RowRead) -> Result<T, StoreError>;

/// The read connection.
#[derive(Debug)]
pub(super) struct Reader {
    conn: Mutex<Connection>,
}

fn err(context: &str, e: &rusqlite::Error) -> StoreError {
    StoreError::Sqlite {
        context: context.to_string(),
        message: e.to_string(),
    }
}

/// One read: its SQL, parameters (`$1`…), what it reads (for errors) and how rows decode.
struct Query<T> {
    sql: Cow<'static, str>,
    params: Vec<Param>,
    context: &'static str,
    decode: Decode<T>,
}

impl Reader {
    /// Opens the database file (which the sqlx pool has created and migrated) for reading.
    pub(super) fn open(path: &str) -> Result<Reader, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| err("opening the read connection", &e))?;
        // This connection never writes, whatever a caller passes it.
        conn.pragma_update(None, "query_only", true)
            .map_err(|e| err("setting up the read connection", &e))?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(Reader {
            conn: Mutex::new(conn),
        })
    }

    /// The newest migration applied to the file, when it is a dagctl database in WAL mode
    /// (`None` for a new, empty or foreign file, or one in another journal mode).
    pub(super) fn migrated_to(&self) -> Option<i64> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .ok()?;
        if !mode.eq_ignore_ascii_case("wal") {
            return None;
        }
        conn.query_row("SELECT max(version) FROM dagctl_migrations", [], |r| {
            r.get::<_, Option<i64>>(0)
        })
        .ok()?
    }

    /// The rows of `sql` with `params`, each decoded.
    pub(super) async fn fetch<T: Send + 'static>(
        self: &Arc<Self>,
        sql: impl Into<Cow<'static, str>>,
        params: Vec<Param>,
        context: &'static str,
        decode: Decode<T>,
    ) -> Result<Vec<T>, StoreError> {
        let q = Query {
            sql: sql.into(),
            params,
            context,
            decode,
        };
        // Never wait for the connection's mutex on an async thread: a read waiting for a
        // lock on the blocking thread holds it.
        let fast = match self.conn.try_lock() {
            Ok(conn) => run(&conn, &q, Duration::ZERO),
            Err(std::sync::TryLockError::Poisoned(p)) => run(&p.into_inner(), &q, Duration::ZERO),
            Err(std::sync::TryLockError::WouldBlock) => Err(Failure::Busy),
        };
        match fast {
            Ok(rows) => Ok(rows),
            Err(Failure::Other(e)) => Err(e),
            Err(Failure::Busy) => {
                let this = Arc::clone(self);
                let context = q.context;
                tokio::task::spawn_blocking(move || {
                    let conn = this.conn.lock().unwrap_or_else(|p| p.into_inner());
                    run(&conn, &q, LOCK_WAIT)
                })
                .await
                .map_err(|e| StoreError::Sqlite {
                    context: context.into(),
                    message: e.to_string(),
                })?
                .map_err(|f| match f {
                    Failure::Other(e) => e,
                    Failure::Busy => StoreError::Sqlite {
                        context: context.into(),
                        message: format!(
                            "the database stayed locked by another process for {}s",
                            LOCK_WAIT.as_secs()
                        ),
                    },
                })
            }
        }
    }
}

fn run<T>(conn: &Connection, q: &Query<T>, wait: Duration) -> Result<Vec<T>, Failure> {
    let fail = |e: rusqlite::Error| {
        if is_busy(&e) {
            Failure::Busy
        } else {
            Failure::Other(err(q.context, &e))
        }
    };
    conn.busy_timeout(wait).map_err(fail)?;
    let mut st = conn.prepare_cached(&q.sql).map_err(fail)?;
    debug_assert!(q.params.len() <= PARAM_NAMES.len(), "{}", q.sql);
    for (p, name) in q.params.iter().zip(PARAM_NAMES) {
        let Some(idx) = st.parameter_index(name).map_err(fail)? else {
            continue;
        };
        match p {
            Param::Text(s) => st.raw_bind_parameter(idx, s.as_str()),
            Param::Int(n) => st.raw_bind_parameter(idx, *n),
            Param::NoText | Param::NoInt => st.raw_bind_parameter(idx, rusqlite::types::Null),
        }
        .map_err(fail)?;
    }
    let names: Vec<String> = st.column_names().into_iter().map(String::from).collect();
    let mut rows = st.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(fail)? {
        let row = SqliteRow { row, names: &names };
        out.push((q.decode)(&row).map_err(Failure::Other)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(row: &dyn RowRead) -> Result<(i64, Option<String>), StoreError> {
        let c = crate::store::rows::Cols { row, what: "t" };
        Ok((c.int("n")?, c.opt_text("s")?))
    }

    // One thread: were the lock awaited on it, the read could not go on.
    #[tokio::test(flavor = "current_thread")]
    async fn reads_rows_and_waits_for_a_busy_connection_off_the_async_thread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db").display().to_string();
        let other = Connection::open(&path).unwrap();
        other
            .execute_batch(
                "PRAGMA journal_mode = WAL; CREATE TABLE t (n INTEGER, s TEXT); \
                 INSERT INTO t VALUES (1, 'a'), (2, NULL);",
            )
            .unwrap();
        let r = Arc::new(Reader::open(&path).unwrap());
        let rows = r
            .fetch(
                "SELECT n, s FROM t WHERE n >= $1 ORDER BY n",
                vec![Param::Int(1)],
                "reading t",
                pair,
            )
            .await
            .unwrap();
        assert_eq!(rows, vec![(1, Some("a".into())), (2, None)]);
        // The read connection refuses to write.
        let e = r
            .fetch("DELETE FROM t RETURNING n, s", vec![], "deleting", pair)
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::Sqlite { .. }), "{e}");
        // A column of the wrong type names the record and the column.
        fn text_n(row: &dyn RowRead) -> Result<String, StoreError> {
            crate::store::rows::Cols { row, what: "t" }.text("n")
        }
        let e = r
            .fetch("SELECT n FROM t", vec![], "reading t", text_n)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("column `n`"), "{e}");
        // While the connection is busy (a read waiting for a lock holds it), a read waits
        // on a blocking thread: the async thread goes on, and the read ends once it is free.
        let (locked_tx, locked_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let holder = std::thread::spawn({
            let r = Arc::clone(&r);
            move || {
                let _held = r.conn.lock().unwrap();
                locked_tx.send(()).unwrap();
                release_rx.recv().unwrap();
            }
        });
        locked_rx.recv().unwrap();
        let pending = tokio::spawn({
            let r = Arc::clone(&r);
            async move {
                r.fetch("SELECT n, s FROM t", vec![], "reading t", pair)
                    .await
            }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!pending.is_finished());
        release_tx.send(()).unwrap();
        holder.join().unwrap();
        assert_eq!(pending.await.unwrap().unwrap().len(), 2);
    }
}
