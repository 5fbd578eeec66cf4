//! The SQLite commit path: every state transition of the executor goes through here, so it
//! runs on a connection of its own (rusqlite, the same SQLite library sqlx links) with its
//! statements prepared once and cached, and without a hop to another thread.
//!
//! sqlx runs each SQLite connection on a worker thread and sends it every command over a
//! channel; on a small machine that hop costs more than the write itself (≈ 60 µs for a
//! `SELECT 1`, against ≈ 30 µs for a whole transition here). The repeated reads have a
//! connection of their own likewise ([`super::sqlite_read`]).
//!
//! **Group commit.** A transition is queued, then whoever finds the connection free commits
//! everything queued in one transaction, each transition in a savepoint of its own (one that
//! rolls back, a required row missing or a statement failing, leaves the others written), and
//! tells each caller its outcome once the transaction is committed. A commit arriving while
//! another runs waits for the next group instead of for a thread: the committing one takes it
//! along before it lets go of the connection.
//!
//! A group first tries without waiting for the write lock, on the calling thread; if another
//! process holds the lock it tries again on a blocking thread, waiting up to 30 s (as the sqlx
//! connections do), so an async thread never sleeps on a lock. Either way the transaction runs
//! to its end, so a caller dropped mid-commit leaves no half transaction.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};
use tokio::sync::oneshot;

use super::StoreError;
use super::statements::{Committed, PARAM_NAMES, Param, Role, Stmt, Tally};

/// How long a commit waits for another writer's lock before failing.
const LOCK_WAIT: Duration = Duration::from_secs(30);

/// What a commit says about its group.
const CONTEXT: &str = "committing a transition";

/// The commit connection and the transitions waiting for it.
#[derive(Debug)]
pub(super) struct Committer {
    conn: Mutex<Connection>,
    queue: Mutex<Vec<Pending>>,
    /// Groups committed (what the tests look at).
    #[cfg(test)]
    groups: std::sync::atomic::AtomicUsize,
}

/// A transition waiting for the next group, and where its outcome goes.
struct Pending {
    stmts: Vec<Stmt>,
    done: oneshot::Sender<Result<Committed, StoreError>>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("statements", &self.stmts.len())
            .finish()
    }
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

fn fail(e: rusqlite::Error) -> Failure {
    if is_busy(&e) {
        Failure::Busy
    } else {
        Failure::Other(err(CONTEXT)(e))
    }
}

/// The same failure for another caller of the group.
fn copy(e: &StoreError) -> StoreError {
    match e {
        StoreError::Sqlite { context, message } => StoreError::Sqlite {
            context: context.clone(),
            message: message.clone(),
        },
        other => StoreError::Sqlite {
            context: CONTEXT.into(),
            message: other.to_string(),
        },
    }
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
            queue: Mutex::new(Vec::new()),
            #[cfg(test)]
            groups: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// Runs statements in one transaction (see [`super::statements::Role`] for claims and
    /// required rows), committed with whatever else is queued meanwhile.
    pub(super) async fn run(self: &Arc<Self>, stmts: Vec<Stmt>) -> Result<Committed, StoreError> {
        let (done, outcome) = oneshot::channel();
        let first = {
            let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            queue.push(Pending { stmts, done });
            queue.len() == 1
        };
        if first {
            // The first of a group leads it once the tasks ready to run have queued theirs:
            // a run that ended a try and others woken by the same commit commit together.
            // Alone (a chain's one ready task), the yield returns at once.
            let lead = Lead(self);
            tokio::task::yield_now().await;
            drop(lead);
        }
        outcome.await.unwrap_or_else(|_| {
            Err(StoreError::Sqlite {
                context: CONTEXT.into(),
                message: "the commit was abandoned (its thread stopped)".into(),
            })
        })
    }

    /// Commits the queued groups while the connection is free; returns when it is not (its
    /// holder takes the queue along) or nothing is queued. Never waits: not for the
    /// connection's mutex (a group waiting for another process's lock holds it on a blocking
    /// thread, and an async thread blocked behind it would stall the very tasks that must
    /// finish to release that lock), not for the database's lock.
    fn lead(self: &Arc<Self>) {
        loop {
            {
                let mut conn = match self.conn.try_lock() {
                    Ok(c) => c,
                    Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
                    Err(std::sync::TryLockError::WouldBlock) => return,
                };
                let group =
                    std::mem::take(&mut *self.queue.lock().unwrap_or_else(|p| p.into_inner()));
                if !group.is_empty() {
                    #[cfg(test)]
                    self.groups
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    match Self::commit_group(&mut conn, &group, Duration::ZERO) {
                        Some(outcomes) => deliver(group, outcomes),
                        None => {
                            drop(conn);
                            self.wait_for_lock(group);
                            return;
                        }
                    }
                }
            }
            // Looked at after letting go of the connection: a commit queued while it was
            // held found it taken and counts on this look.
            if self
                .queue
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_empty()
            {
                return;
            }
        }
    }

    /// Commits `group` on a blocking thread, waiting for another process's lock, then leads
    /// the groups queued meanwhile.
    fn wait_for_lock(self: &Arc<Self>, group: Vec<Pending>) {
        let this = Arc::clone(self);
        let work = move || {
            {
                // A std mutex, locked on this blocking thread only.
                let mut conn = this.conn.lock().unwrap_or_else(|p| p.into_inner());
                match Self::commit_group(&mut conn, &group, LOCK_WAIT) {
                    Some(outcomes) => deliver(group, outcomes),
                    None => {
                        let locked = StoreError::Sqlite {
                            context: CONTEXT.into(),
                            message: format!(
                                "the database stayed locked by another process for {}s",
                                LOCK_WAIT.as_secs()
                            ),
                        };
                        let n = group.len();
                        deliver(group, (0..n).map(|_| Err(copy(&locked))).collect());
                    }
                }
            }
            this.lead();
        };
        // (Outside a runtime — a caller dropped after it stopped — on this thread.)
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(work)),
            Err(_) => work(),
        }
    }

    /// Commits the transitions of `group` in one transaction, each in a savepoint when there
    /// are several; their outcomes in order, or `None` when the database was locked by
    /// another connection for longer than `wait` (nothing written).
    fn commit_group(
        conn: &mut Connection,
        group: &[Pending],
        wait: Duration,
    ) -> Option<Vec<Result<Committed, StoreError>>> {
        let each = |e: StoreError| Some(group.iter().map(|_| Err(copy(&e))).collect());
        if let Err(f) = conn.busy_timeout(wait).map_err(fail) {
            return match f {
                Failure::Busy => None,
                Failure::Other(e) => each(e),
            };
        }
        let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
            Ok(tx) => tx,
            Err(e) => {
                return match fail(e) {
                    Failure::Busy => None,
                    Failure::Other(e) => each(e),
                };
            }
        };
        let alone = group.len() == 1;
        let mut outcomes = Vec::with_capacity(group.len());
        for pending in group {
            if !alone && let Err(e) = tx.execute_batch("SAVEPOINT t") {
                return match fail(e) {
                    Failure::Busy => None,
                    Failure::Other(e) => each(e),
                };
            }
            let outcome = match Self::apply(&tx, &pending.stmts) {
                Err(Failure::Busy) => return None,
                Err(Failure::Other(e)) => Err(e),
                Ok(c) => Ok(c),
            };
            let written = matches!(outcome, Ok(ref c) if !c.is_unchanged());
            if alone {
                if !written {
                    // Dropping the transaction rolls it back.
                    return Some(vec![outcome]);
                }
            } else {
                // One that did not go through is rolled back alone.
                let end = if written {
                    "RELEASE t"
                } else {
                    "ROLLBACK TO t; RELEASE t"
                };
                if let Err(e) = tx.execute_batch(end) {
                    return each(err(CONTEXT)(e));
                }
            }
            outcomes.push(outcome);
        }
        match tx.commit() {
            Ok(()) => Some(outcomes),
            Err(e) => match fail(e) {
                Failure::Busy => None,
                // Nothing of the group was written: every caller hears why.
                Failure::Other(e) => each(e),
            },
        }
    }

    /// Runs one transition's statements in the open transaction; `unchanged` when a
    /// required row was not written (the caller rolls the transition back).
    fn apply(tx: &rusqlite::Transaction<'_>, stmts: &[Stmt]) -> Result<Committed, Failure> {
        let mut tally = Tally::default();
        for (i, stmt) in stmts.iter().enumerate() {
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
                return Ok(tally.done(Some(i)));
            }
        }
        Ok(tally.done(None))
    }
}

/// The lead a group's first caller owes: taken on drop, so that a caller dropped while it
/// yields still commits the group it opened (the others queued behind it count on it).
struct Lead<'a>(&'a Arc<Committer>);

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        self.0.lead();
    }
}

/// Tells each caller of a committed group its outcome (a caller gone meanwhile is not told:
/// its transition is written all the same).
fn deliver(group: Vec<Pending>, outcomes: Vec<Result<Committed, StoreError>>) {
    for (pending, outcome) in group.into_iter().zip(outcomes) {
        let _ = pending.done.send(outcome);
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
        let c = Arc::new(Committer::open(&path).unwrap());
        // Another connection holds the write lock: the commit waits on a blocking thread
        // (not on the async one) and goes through once the lock is released.
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let pending = tokio::spawn({
            let c = Arc::clone(&c);
            async move { c.run(vec![insert(1)]).await }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!pending.is_finished(), "it waits for the lock");
        // A second commit meanwhile finds the connection busy with the waiting one: it must
        // not block this (only) thread on it, or the release below could not happen before
        // both gave up.
        let second = tokio::spawn({
            let c = Arc::clone(&c);
            async move { c.run(vec![insert(3)]).await }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        other.execute_batch("COMMIT").unwrap();
        let done = pending.await.unwrap().unwrap();
        assert!(!done.is_unchanged());
        assert!(!second.await.unwrap().unwrap().is_unchanged());
        other.execute_batch("DELETE FROM t WHERE n = 3").unwrap();
        // A required row that is there already: nothing of the list is written.
        let done = c.run(vec![insert(2), insert(1)]).await.unwrap();
        assert!(done.is_unchanged());
        let rows: i64 = other
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 1, "the insert of 2 was rolled back");
    }

    // Commits queued while the connection is held go in one group: each transition in a
    // savepoint, one rolled back alone, and every caller told its own outcome.
    // The test holds the connection across an await on purpose: that is what queues the others.
    #[allow(clippy::await_holding_lock)]
    #[tokio::test(flavor = "current_thread")]
    async fn a_group_commits_its_transitions_and_rolls_back_only_the_one_that_failed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db").display().to_string();
        let other = Connection::open(&path).unwrap();
        other
            .execute_batch(
                "PRAGMA journal_mode = WAL; CREATE TABLE t (n INTEGER PRIMARY KEY); \
                 INSERT INTO t VALUES (1);",
            )
            .unwrap();
        let c = Arc::new(Committer::open(&path).unwrap());
        let held = c.conn.lock().unwrap();
        let spawn = |stmts: Vec<Stmt>| {
            let c = Arc::clone(&c);
            tokio::spawn(async move { c.run(stmts).await })
        };
        let a = spawn(vec![insert(10)]);
        let b = spawn(vec![insert(11), insert(1)]);
        let d = spawn(vec![insert(12)]);
        tokio::task::yield_now().await;
        assert_eq!(
            c.queue.lock().unwrap().len(),
            3,
            "all three wait for the connection"
        );
        drop(held);
        // The holder of the connection leads what was queued meanwhile.
        c.lead();
        assert!(!a.await.unwrap().unwrap().is_unchanged());
        assert!(
            b.await.unwrap().unwrap().is_unchanged(),
            "1 was there: b is not written"
        );
        assert!(!d.await.unwrap().unwrap().is_unchanged());
        let rows: Vec<i64> = other
            .prepare("SELECT n FROM t ORDER BY n")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(rows, vec![1, 10, 12], "11 rolled back with b, alone");
        assert!(c.queue.lock().unwrap().is_empty());
    }

    /// A committer on a new database of one table, and a connection to read it.
    fn table() -> (tempfile::TempDir, Arc<Committer>, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db").display().to_string();
        let other = Connection::open(&path).unwrap();
        other
            .execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (n INTEGER PRIMARY KEY);")
            .unwrap();
        (dir, Arc::new(Committer::open(&path).unwrap()), other)
    }

    fn count(conn: &Connection) -> i64 {
        conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap()
    }

    // Transitions of tasks that are ready together (runs woken by the same commit) go in one
    // group, without any of them holding the connection: the first one leads once the others
    // have queued theirs.
    #[tokio::test(flavor = "current_thread")]
    async fn commits_of_tasks_ready_together_go_in_one_group() {
        let (_dir, c, other) = table();
        let tasks: Vec<_> = (0..20)
            .map(|n| {
                let c = Arc::clone(&c);
                tokio::spawn(async move { c.run(vec![insert(n)]).await })
            })
            .collect();
        for t in tasks {
            assert!(!t.await.unwrap().unwrap().is_unchanged());
        }
        assert_eq!(count(&other), 20);
        assert_eq!(c.groups.load(std::sync::atomic::Ordering::Relaxed), 1);
        // Alone, a commit leads its own group at once.
        c.run(vec![insert(100)]).await.unwrap();
        assert_eq!(count(&other), 21);
        assert_eq!(c.groups.load(std::sync::atomic::Ordering::Relaxed), 2);
    }

    // The first caller of a group dropped while it waits for the others to queue (a run
    // cancelled) still commits the group: the callers behind it hear their outcomes.
    #[tokio::test(flavor = "current_thread")]
    async fn a_group_whose_first_caller_is_dropped_still_commits() {
        use futures::FutureExt;
        let (_dir, c, other) = table();
        let mut first = Box::pin(c.run(vec![insert(1)]));
        assert!((&mut first).now_or_never().is_none(), "it yields first");
        let behind = {
            let c = Arc::clone(&c);
            tokio::spawn(async move { c.run(vec![insert(2)]).await })
        };
        tokio::task::yield_now().await;
        assert_eq!(
            c.queue.lock().unwrap().len(),
            2,
            "the second waits for the first"
        );
        drop(first);
        let heard = tokio::time::timeout(Duration::from_secs(10), behind)
            .await
            .expect("the group was left uncommitted");
        assert!(!heard.unwrap().unwrap().is_unchanged());
        assert_eq!(
            count(&other),
            2,
            "the dropped caller's transition is written too"
        );
    }
}
