//! [`Store`] over sqlx's `Any` driver: SQLite by default, PostgreSQL with the same SQL.
//!
//! SQLite runs in WAL mode with `synchronous=NORMAL` (a crash of dagctl loses nothing
//! committed; a power loss may lose the last transactions, not corrupt the file) and takes its
//! write lock at `BEGIN IMMEDIATE`, so two processes never deadlock upgrading a read lock.
//! Its writes of runs and transitions — the executor's hot path — go through
//! [`super::sqlite_commit`], and the reads every command and run repeats through
//! [`super::sqlite_read`]: connections of their own, with cached prepared statements, on the
//! calling thread. A migrated SQLite file is opened on those two alone; the sqlx pool
//! connects only when a less travelled query (retention, statistics, records, workers taking
//! tries) needs it. A new file is migrated through rusqlite too (`connect`).
//!
//! # Layout
//! - this file: [`SqlStore`], transactions, and the [`Store`] impl — the writes that go
//!   through [`super::statements`] are here, plain queries dispatch to the files below;
//! - `connect`: store URLs, connecting, and the numbered migrations;
//! - `listen`: the signals other processes hear (`NOTIFY`, one listening connection);
//! - `write`: the write path, on SQLite's committer or bound in one PostgreSQL transaction;
//! - `group`: PostgreSQL's batches of one DAG that claim, committed together;
//! - `fetch`: reading rows on SQLite's read connection or the pool, one decoder for both;
//! - `reads`: queries of runs, task instances, tries, logs, XCom and dataset events;
//! - `take`: workers taking the tries drivers handed off;
//! - `admin`: Variables, connections and pools;
//! - `clean`: retention of old runs;
//! - `tests`: the conformance suite on a SQLite file and on PostgreSQL.

mod admin;
mod clean;
mod connect;
mod fetch;
mod group;
mod listen;
mod reads;
mod stats;
mod take;
#[cfg(test)]
mod tests;
mod write;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::AnyPool;

use super::rows::Cols;
use super::sqlite_commit::Committer;
use super::statements::{self, new_run, new_task_instances, statements};
use super::{
    Batch, Connection, DagFlags, DagRegistration, DagRun, DatasetEvent, RunClaim, RunFilter,
    RunKey, Store, StoreError, TakeQueued, TakenTry, TaskInstance, TryRecord, to_micros,
};
use crate::secrets::Keyring;

pub use connect::{is_web_url, redact_url};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

/// A [`Store`] on SQLite or PostgreSQL.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pub(super) pool: AnyPool,
    backend: Backend,
    /// SQLite: the connection of the commit path (see [`super::sqlite_commit`]).
    committer: Option<std::sync::Arc<Committer>>,
    /// SQLite: the connection of the read path (see [`super::sqlite_read`]).
    reader: Option<std::sync::Arc<super::sqlite_read::Reader>>,
    /// The keys that seal Variables and connections.
    keys: std::sync::Arc<Keyring>,
    /// PostgreSQL: where this process hears the [`super::Signal`]s of the others.
    listener: Option<std::sync::Arc<listen::Listener>>,
    /// PostgreSQL: the batches with claims waiting for their DAG's next group.
    groups: std::sync::Arc<group::Groups>,
}

pub(super) fn db(context: &str) -> impl FnOnce(sqlx::Error) -> StoreError + '_ {
    move |source| StoreError::Database {
        context: context.to_string(),
        source,
    }
}

impl SqlStore {
    pub(super) async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        let statement = match self.backend {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        };
        self.pool
            .begin_with(statement)
            .await
            .map_err(db("starting a transaction"))
    }

    /// The same store with other keys (tests and embedders that keep keys elsewhere).
    pub fn with_keyring(mut self, keys: Keyring) -> SqlStore {
        self.keys = std::sync::Arc::new(keys);
        self
    }

    /// The keys sealing this store's Variables and connections.
    pub fn keyring(&self) -> &Keyring {
        &self.keys
    }

    /// Seals again, with the first key, every Variable and connection not sealed with it yet
    /// (after a key was added, or for values stored before sealing existed), in one
    /// transaction; returns how many were sealed again.
    ///
    /// # Errors
    /// A value opens with none of the keys, or the store fails (nothing is changed then).
    pub async fn reseal_secrets(&self) -> Result<usize, StoreError> {
        admin::reseal(self.begin().await?, &self.keys).await
    }

    /// The batch with its Variables' values sealed.
    fn sealed(&self, batch: &Batch) -> Result<Batch, StoreError> {
        let mut batch = batch.clone();
        for change in &mut batch.changes {
            if let super::Change::SetVariable { key, value } = change {
                *value = self.keys.seal_variable(key, value)?;
            }
        }
        Ok(batch)
    }
}

/// Whether a batch claims task instances.
fn claims(batch: &Batch) -> bool {
    batch
        .changes
        .iter()
        .any(|c| matches!(c, super::Change::Claim { .. }))
}

pub(super) const RECORD_COLUMNS: &str = "collection, record_key, version, value, updated_at";

#[async_trait]
impl Store for SqlStore {
    async fn create_run(
        &self,
        run: &DagRun,
        tasks: &[TaskInstance],
        consumes: &[DatasetEvent],
    ) -> Result<(), StoreError> {
        if self
            .write(new_run(run, tasks, consumes))
            .await?
            .is_unchanged()
        {
            return Err(StoreError::AlreadyExists {
                what: if consumes.is_empty() {
                    format!("run `{}` of DAG `{}`", run.run_id, run.dag_id)
                } else {
                    format!(
                        "run `{}` of DAG `{}`, or a run of it for the same dataset event",
                        run.run_id, run.dag_id
                    )
                },
            });
        }
        Ok(())
    }

    async fn acquire_run(&self, claim: &RunClaim) -> Result<bool, StoreError> {
        let mut stmts = Vec::with_capacity(2);
        if self.backend == Backend::Postgres {
            // Serializes the run-limit check of one DAG across transactions (SQLite's
            // `BEGIN IMMEDIATE` serializes every write already).
            stmts.push(statements::dag_lock(&claim.key.dag_id));
        }
        stmts.push(statements::acquire_run(claim));
        Ok(self
            .write(stmts)
            .await?
            .claims
            .last()
            .copied()
            .unwrap_or(false))
    }

    async fn unconsumed_events(
        &self,
        consumer: &str,
        dataset: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<DatasetEvent>, StoreError> {
        self.read_unconsumed_events(consumer, dataset, since).await
    }

    async fn register_dags(
        &self,
        dags: &[DagRegistration],
        now: DateTime<Utc>,
    ) -> Result<Vec<DagFlags>, StoreError> {
        self.write(
            dags.iter()
                .map(|d| statements::register_dag(&d.dag_id, d.paused_upon_creation, now))
                .collect(),
        )
        .await?;
        self.fetch(
            "SELECT dag_id, paused, first_seen FROM dags ORDER BY dag_id",
            vec![],
            "reading DAG flags",
            |row| {
                let c = Cols { row, what: "DAG" };
                Ok(DagFlags {
                    dag_id: c.text("dag_id")?,
                    paused: c.count("paused")? != 0,
                    first_seen: c.time("first_seen")?,
                })
            },
        )
        .await
    }

    async fn set_paused(
        &self,
        dag_id: &str,
        paused: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.write(vec![
            statements::register_dag(dag_id, paused, now),
            statements::set_paused(dag_id, paused),
        ])
        .await
        .map(drop)
    }

    async fn add_task_instances(
        &self,
        run: &RunKey,
        tasks: &[TaskInstance],
    ) -> Result<(), StoreError> {
        self.write(new_task_instances(&run.dag_id, &run.run_id, tasks))
            .await
            .map(drop)
    }

    async fn run(&self, run: &RunKey) -> Result<Option<DagRun>, StoreError> {
        self.read_run(run).await
    }

    async fn find_runs(&self, run_id: &str) -> Result<Vec<DagRun>, StoreError> {
        self.read_find_runs(run_id).await
    }

    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<DagRun>, StoreError> {
        self.read_list_runs(filter).await
    }

    async fn task_instances(&self, run: &RunKey) -> Result<Vec<TaskInstance>, StoreError> {
        self.read_task_instances(run).await
    }

    async fn tries(
        &self,
        run: &RunKey,
        task_id: Option<&str>,
    ) -> Result<Vec<TryRecord>, StoreError> {
        self.read_tries(run, task_id).await
    }

    async fn commit(&self, batch: &Batch) -> Result<Vec<bool>, StoreError> {
        let sealed;
        let batch = if batch
            .changes
            .iter()
            .any(|c| matches!(c, super::Change::SetVariable { .. }))
        {
            sealed = self.sealed(batch)?;
            &sealed
        } else {
            batch
        };
        let done = match self.backend {
            // Claims of one DAG take turns under its lock: a turn for many runs at once.
            // (Grouping the other batches too was measured slower: a worker's outcomes then
            // wait for the drivers' groups.)
            Backend::Postgres if claims(batch) => self.commit_in_group(batch.clone()).await?,
            Backend::Postgres => self.commit_alone(batch).await?,
            Backend::Sqlite => self.write(statements(batch)).await?,
        };
        if done.is_unchanged() {
            // The only required row of a batch is its guard: `Owned` or `Held`.
            return Err(super::guard_failed(batch));
        }
        Ok(done.claims)
    }

    async fn renew_leases(&self, worker_id: &str, until: DateTime<Utc>) -> Result<u64, StoreError> {
        let sql = match self.backend {
            // A try row another transaction holds is left for the next heartbeat (leases
            // outlast several): a group ending tries of several runs locks their rows in its
            // order, and a renewal waiting for one while holding another deadlocked with it.
            Backend::Postgres => {
                "UPDATE task_tries SET lease_until = $1 WHERE (dag_id, run_id, task_id,                  try_number) IN (SELECT dag_id, run_id, task_id, try_number FROM task_tries                  WHERE worker_id = $2 AND state = 'running' FOR UPDATE SKIP LOCKED)"
            }
            Backend::Sqlite => {
                "UPDATE task_tries SET lease_until = $1 WHERE worker_id = $2 AND state = 'running'"
            }
        };
        Ok(sqlx::query(sql)
            .bind(to_micros(until))
            .bind(worker_id)
            .execute(&self.pool)
            .await
            .map_err(db("renewing leases"))?
            .rows_affected())
    }

    async fn clean(
        &self,
        before: DateTime<Utc>,
        dag_id: Option<&str>,
        dry_run: bool,
    ) -> Result<super::CleanReport, StoreError> {
        self.clean_runs(before, dag_id, dry_run).await
    }

    async fn clean_events(
        &self,
        before: DateTime<Utc>,
        consumers: &[super::EventConsumer],
        dry_run: bool,
    ) -> Result<super::EventsCleaned, StoreError> {
        self.clean_dataset_events(before, consumers, dry_run).await
    }

    async fn stats(
        &self,
        now: DateTime<Utc>,
    ) -> Result<crate::store::stats::StoreStats, StoreError> {
        self.aggregate_stats(now).await
    }

    async fn take_queued(&self, take: &TakeQueued) -> Result<Vec<TakenTry>, StoreError> {
        self.take_queued_tries(take).await
    }

    fn signals(&self) -> Option<tokio::sync::broadcast::Receiver<super::Signal>> {
        self.listener.as_ref()?.subscribe()
    }

    async fn log(
        &self,
        run: &RunKey,
        task_id: &str,
        try_number: u32,
    ) -> Result<String, StoreError> {
        self.read_log(run, task_id, try_number).await
    }

    async fn variable(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.read_variable(key).await
    }

    async fn set_variable(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let sealed = self.keys.seal_variable(key, value)?;
        self.write(vec![statements::set_variable(key, &sealed)])
            .await
            .map(drop)
    }

    async fn delete_variable(&self, key: &str) -> Result<bool, StoreError> {
        admin::delete_variable(&self.pool, key).await
    }

    async fn variables(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.read_variables().await
    }

    async fn xcom(
        &self,
        run: &RunKey,
        task_id: &str,
        key: &str,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        self.read_xcom(run, task_id, key).await
    }

    async fn xcoms(
        &self,
        run: &RunKey,
    ) -> Result<Vec<(String, String, serde_json::Value)>, StoreError> {
        self.read_xcoms(run).await
    }

    async fn dataset_events(
        &self,
        dataset: &str,
        after: Option<DateTime<Utc>>,
    ) -> Result<Vec<DatasetEvent>, StoreError> {
        self.read_dataset_events(dataset, after).await
    }

    async fn set_connection(&self, connection: &Connection) -> Result<(), StoreError> {
        admin::set_connection(&self.pool, &self.keys, connection).await
    }

    async fn delete_connection(&self, name: &str) -> Result<bool, StoreError> {
        admin::delete_connection(&self.pool, name).await
    }

    async fn pools(&self) -> Result<Vec<(String, u32, Option<String>)>, StoreError> {
        self.read_pools().await
    }

    async fn set_pool(
        &self,
        name: &str,
        slots: u32,
        description: Option<&str>,
    ) -> Result<(), StoreError> {
        admin::set_pool(&self.pool, name, slots, description).await
    }

    async fn delete_pool(&self, name: &str) -> Result<bool, StoreError> {
        admin::delete_pool(&self.pool, name).await
    }
}

#[async_trait]
impl super::ConnectionLookup for SqlStore {
    async fn connections(&self) -> Result<Vec<Connection>, StoreError> {
        self.read_connections().await
    }
}
