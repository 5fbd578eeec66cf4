//! [`Store`] over sqlx's `Any` driver: SQLite by default, PostgreSQL with the same SQL.
//!
//! SQLite runs in WAL mode with `synchronous=NORMAL` (a crash of dagctl loses nothing
//! committed; a power loss may lose the last transactions, not corrupt the file) and takes its
//! write lock at `BEGIN IMMEDIATE`, so two processes never deadlock upgrading a read lock.
//! Its writes of runs and transitions — the executor's hot path — go through
//! [`super::sqlite_commit`], a connection of their own with cached prepared statements; reads
//! and everything else use the sqlx pool.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Row};

use super::rows::{Cols, corrupt, event_from_row, run_from_row, ti_from_row, try_from_row};
use super::sqlite_commit::Committer;
use super::statements::{
    self, Committed, Param, Role, Stmt, Tally, new_run, new_task_instances, statements,
};
use super::{
    Batch, Connection, DagFlags, DagRun, DatasetEvent, RunClaim, RunFilter, Store, StoreError,
    TaskInstance, TryRecord, to_micros,
};

/// Numbered migrations, applied in order and recorded in `dagctl_migrations`.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "core", include_str!("migrations/0001_core.sql")),
    (2, "datasets", include_str!("migrations/0002_datasets.sql")),
    (
        3,
        "drop unused state indexes",
        include_str!("migrations/0003_drop_state_indexes.sql"),
    ),
    (
        4,
        "connections",
        include_str!("migrations/0004_connections.sql"),
    ),
    (5, "records", include_str!("migrations/0005_records.sql")),
    (
        6,
        "run lifecycle",
        include_str!("migrations/0006_run_lifecycle.sql"),
    ),
    (
        7,
        "running task instances index",
        include_str!("migrations/0007_running_index.sql"),
    ),
];

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
}

pub(super) fn db(context: &str) -> impl FnOnce(sqlx::Error) -> StoreError + '_ {
    move |source| StoreError::Database {
        context: context.to_string(),
        source,
    }
}

/// Whether SQLite reported the database locked or busy (another process is writing).
fn is_locked(e: &sqlx::Error) -> bool {
    let text = e.to_string();
    text.contains("locked") || text.contains("busy")
}

/// The URL with any password replaced by `***`, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl SqlStore {
    /// The default store URL: `sqlite://<home>/dagctl.db`.
    pub fn default_url(home: &Path) -> String {
        format!("sqlite://{}/dagctl.db", home.display())
    }

    /// Connects to `sqlite://PATH` (created if missing) or `postgres://…`, and applies the
    /// migrations that are not applied yet.
    ///
    /// # Errors
    /// A [`StoreError`] naming the URL (password hidden) when it cannot be used.
    pub async fn connect(url: &str) -> Result<SqlStore, StoreError> {
        sqlx::any::install_default_drivers();
        let mut sqlite_path = None;
        let (backend, url) = if let Some(path) = url.strip_prefix("sqlite://") {
            let path = path.split('?').next().unwrap_or(path);
            sqlite_path = Some(path.to_string());
            if let Some(parent) = Path::new(path).parent()
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(parent).map_err(|e| StoreError::BadUrl {
                    url: url.to_string(),
                    hint: format!("cannot create `{}`: {e}", parent.display()),
                })?;
            }
            (Backend::Sqlite, format!("sqlite://{path}?mode=rwc"))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_string())
        } else {
            return Err(StoreError::BadUrl {
                url: redact_url(url),
                hint: "use sqlite://PATH or postgres://USER@HOST:PORT/DB".into(),
            });
        };
        let mut options = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 8 })
            .acquire_timeout(Duration::from_secs(30));
        if backend == Backend::Sqlite {
            // A local file: no idle reaping or ping before use. Besides saving work, it leaves
            // no background timer running, which keeps paused-clock tests deterministic.
            options = options
                .idle_timeout(None)
                .max_lifetime(None)
                .test_before_acquire(false);
            options = options.after_connect(|conn, _| {
                Box::pin(async move {
                    use sqlx::Executor;
                    conn.execute("PRAGMA synchronous = NORMAL").await?;
                    conn.execute("PRAGMA busy_timeout = 30000").await?;
                    Ok(())
                })
            });
        }
        let pool = options
            .connect(&url)
            .await
            .map_err(db(&format!("connecting to {}", redact_url(&url))))?;
        let mut store = SqlStore {
            pool,
            backend,
            committer: None,
        };
        // Two processes opening a new database at once (a scheduler starting while
        // `dagctl runs list` runs) can find it locked while the other sets it up: try again.
        let mut attempt = 0;
        loop {
            match store.initialize().await {
                Err(StoreError::Database { source, .. }) if attempt < 50 && is_locked(&source) => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Ok(()) => break,
                Err(e) => return Err(e),
            }
        }
        if let Some(path) = sqlite_path {
            store.committer = Some(std::sync::Arc::new(Committer::open(&path)?));
        }
        Ok(store)
    }

    /// WAL mode (a property of the file: set once, kept), then the migrations.
    async fn initialize(&self) -> Result<(), StoreError> {
        if self.backend == Backend::Sqlite {
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&self.pool)
                .await
                .map_err(db("enabling WAL"))?;
        }
        self.migrate().await
    }

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

    async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS dagctl_migrations (version BIGINT PRIMARY KEY, \
             description TEXT NOT NULL, applied_at BIGINT NOT NULL)",
        )
        .execute(&self.pool)
        .await
        .map_err(db("creating the migrations table"))?;
        let mut tx = self.begin().await?;
        let applied: Vec<i64> = sqlx::query("SELECT version FROM dagctl_migrations")
            .fetch_all(&mut *tx)
            .await
            .map_err(db("reading migrations"))?
            .iter()
            .map(|r| r.try_get::<i64, _>(0))
            .collect::<Result<_, _>>()
            .map_err(db("reading migrations"))?;
        for (version, description, sql) in MIGRATIONS {
            if applied.contains(version) {
                continue;
            }
            sqlx::raw_sql(sqlx::AssertSqlSafe(*sql))
                .execute(&mut *tx)
                .await
                .map_err(db(&format!("applying migration {version} ({description})")))?;
            sqlx::query(
                "INSERT INTO dagctl_migrations (version, description, applied_at) VALUES ($1, $2, $3)",
            )
            .bind(*version)
            .bind(*description)
            .bind(to_micros(Utc::now()))
            .execute(&mut *tx)
            .await
            .map_err(db("recording a migration"))?;
        }
        tx.commit().await.map_err(db("committing migrations"))
    }

    /// Statements bound one by one in one transaction (PostgreSQL; SQLite goes through
    /// its committer).
    async fn execute_statements(&self, stmts: Vec<Stmt>) -> Result<Committed, StoreError> {
        let mut tally = Tally::default();
        let mut tx = self.begin().await?;
        for stmt in stmts {
            if !tally.runs(&stmt) {
                continue;
            }
            let role = stmt.role;
            let changed = if role == Role::Guard {
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
                return Ok(tally.done(true));
            }
        }
        tx.commit().await.map_err(db("committing a transition"))?;
        Ok(tally.done(false))
    }

    /// Runs statements on the committer (SQLite) or bound on the pool.
    async fn write(&self, stmts: Vec<Stmt>) -> Result<Committed, StoreError> {
        match &self.committer {
            Some(c) => c.run(stmts).await,
            None => self.execute_statements(stmts).await,
        }
    }
}

const RUN_COLUMNS: &str = "dag_id, run_id, run_type, logical_date, data_interval_start, \
     data_interval_end, conf, state, created_at, start_date, end_date, parent_dag_id, \
     parent_run_id, owner, owner_until";

#[async_trait]
impl Store for SqlStore {
    async fn create_run(
        &self,
        run: &DagRun,
        tasks: &[TaskInstance],
        consumes: &[DatasetEvent],
    ) -> Result<(), StoreError> {
        if self.write(new_run(run, tasks, consumes)).await?.unchanged {
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
        sqlx::query(
            "SELECT e.dataset, e.created_at, e.seq, e.dag_id, e.run_id, e.task_id \
             FROM dataset_events AS e WHERE e.dataset = $1 AND e.created_at >= $2 \
             AND NOT EXISTS (SELECT 1 FROM dataset_consumptions AS c \
               WHERE c.consumer_dag_id = $3 AND c.dataset = e.dataset \
               AND c.created_at = e.created_at AND c.seq = e.seq AND c.dag_id = e.dag_id \
               AND c.run_id = e.run_id AND c.task_id = e.task_id) \
             ORDER BY e.created_at, e.seq",
        )
        .bind(dataset)
        .bind(to_micros(since))
        .bind(consumer)
        .fetch_all(&self.pool)
        .await
        .map_err(db("reading dataset events"))?
        .iter()
        .map(event_from_row)
        .collect()
    }

    async fn register_dags(
        &self,
        dag_ids: &[String],
        now: DateTime<Utc>,
    ) -> Result<Vec<DagFlags>, StoreError> {
        self.write(
            dag_ids
                .iter()
                .map(|d| statements::register_dag(d, now))
                .collect(),
        )
        .await?;
        sqlx::query("SELECT dag_id, paused, first_seen FROM dags ORDER BY dag_id")
            .fetch_all(&self.pool)
            .await
            .map_err(db("reading DAG flags"))?
            .iter()
            .map(|row| {
                let c = Cols { row, what: "DAG" };
                Ok(DagFlags {
                    dag_id: c.text("dag_id")?,
                    paused: c.count("paused")? != 0,
                    first_seen: c.time("first_seen")?,
                })
            })
            .collect()
    }

    async fn set_paused(
        &self,
        dag_id: &str,
        paused: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.write(vec![
            statements::register_dag(dag_id, now),
            statements::set_paused(dag_id, paused),
        ])
        .await
        .map(drop)
    }

    async fn add_task_instances(
        &self,
        dag_id: &str,
        run_id: &str,
        tasks: &[TaskInstance],
    ) -> Result<(), StoreError> {
        self.write(new_task_instances(dag_id, run_id, tasks))
            .await
            .map(drop)
    }

    async fn run(&self, dag_id: &str, run_id: &str) -> Result<Option<DagRun>, StoreError> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM dag_runs WHERE dag_id = $1 AND run_id = $2");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(dag_id)
            .bind(run_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("reading a DAG run"))?
            .as_ref()
            .map(run_from_row)
            .transpose()
    }

    async fn find_runs(&self, run_id: &str) -> Result<Vec<DagRun>, StoreError> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM dag_runs WHERE run_id = $1 ORDER BY dag_id");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(run_id)
            .fetch_all(&self.pool)
            .await
            .map_err(db("finding a DAG run"))?
            .iter()
            .map(run_from_row)
            .collect()
    }

    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<DagRun>, StoreError> {
        // States and the limit go into the SQL as literals: state names are fixed words and
        // the limit a number, so nothing from outside is spliced in.
        let mut sql = format!("SELECT {RUN_COLUMNS} FROM dag_runs WHERE ($1 = '' OR dag_id = $1)");
        if !filter.states.is_empty() {
            let states: Vec<String> = filter
                .states
                .iter()
                .map(|s| format!("'{}'", s.as_str()))
                .collect();
            sql.push_str(&format!(" AND state IN ({})", states.join(", ")));
        }
        sql.push_str(" ORDER BY created_at DESC, run_id DESC");
        if let Some(l) = filter.limit {
            sql.push_str(&format!(" LIMIT {l}"));
        }
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(filter.dag_id.clone().unwrap_or_default())
            .fetch_all(&self.pool)
            .await
            .map_err(db("listing DAG runs"))?
            .iter()
            .map(run_from_row)
            .collect()
    }

    async fn task_instances(
        &self,
        dag_id: &str,
        run_id: &str,
    ) -> Result<Vec<TaskInstance>, StoreError> {
        sqlx::query(
            "SELECT task_id, state, try_number, max_tries, pool, pool_slots, next_attempt_at, \
             start_date, end_date FROM task_instances WHERE dag_id = $1 AND run_id = $2",
        )
        .bind(dag_id)
        .bind(run_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db("reading task instances"))?
        .iter()
        .map(ti_from_row)
        .collect()
    }

    async fn tries(
        &self,
        dag_id: &str,
        run_id: &str,
        task_id: Option<&str>,
    ) -> Result<Vec<TryRecord>, StoreError> {
        sqlx::query(
            "SELECT task_id, try_number, state, worker_id, lease_until, start_date, end_date, \
             duration_us, error FROM task_tries WHERE dag_id = $1 AND run_id = $2 \
             AND ($3 = '' OR task_id = $3) ORDER BY start_date, task_id, try_number",
        )
        .bind(dag_id)
        .bind(run_id)
        .bind(task_id.unwrap_or_default())
        .fetch_all(&self.pool)
        .await
        .map_err(db("reading tries"))?
        .iter()
        .map(try_from_row)
        .collect()
    }

    async fn commit(&self, batch: &Batch) -> Result<Vec<bool>, StoreError> {
        let mut stmts = statements(batch);
        if self.backend == Backend::Postgres
            && batch
                .changes
                .iter()
                .any(|c| matches!(c, super::Change::Claim { .. }))
        {
            // Claims count the DAG's running instances (`max_active_tasks`): serialize that
            // count per DAG, as `acquire_run` does for runs.
            stmts.insert(0, statements::dag_lock(&batch.dag_id));
        }
        let done = self.write(stmts).await?;
        if done.unchanged {
            // The only required row of a batch is its `Owned` guard.
            return Err(StoreError::NotOwner {
                dag_id: batch.dag_id.clone(),
                run_id: batch.run_id.clone(),
            });
        }
        Ok(done.claims)
    }

    async fn renew_leases(&self, worker_id: &str, until: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "UPDATE task_tries SET lease_until = $1 WHERE worker_id = $2 AND state = 'running'",
        )
        .bind(to_micros(until))
        .bind(worker_id)
        .execute(&self.pool)
        .await
        .map_err(db("renewing leases"))?
        .rows_affected())
    }

    async fn log(
        &self,
        dag_id: &str,
        run_id: &str,
        task_id: &str,
        try_number: u32,
    ) -> Result<String, StoreError> {
        let rows = sqlx::query(
            "SELECT text FROM task_logs WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 \
             AND try_number = $4 ORDER BY seq",
        )
        .bind(dag_id)
        .bind(run_id)
        .bind(task_id)
        .bind(i64::from(try_number))
        .fetch_all(&self.pool)
        .await
        .map_err(db("reading a log"))?;
        let mut out = String::new();
        for r in rows {
            out.push_str(&r.try_get::<String, _>(0).map_err(db("reading a log"))?);
        }
        Ok(out)
    }

    async fn variable(&self, key: &str) -> Result<Option<String>, StoreError> {
        sqlx::query("SELECT value FROM variables WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("reading a Variable"))?
            .map(|r| r.try_get::<String, _>(0).map_err(db("reading a Variable")))
            .transpose()
    }

    async fn set_variable(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.write(vec![statements::set_variable(key, value)])
            .await
            .map(drop)
    }

    async fn delete_variable(&self, key: &str) -> Result<bool, StoreError> {
        Ok(sqlx::query("DELETE FROM variables WHERE key = $1")
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(db("deleting a Variable"))?
            .rows_affected()
            > 0)
    }

    async fn variables(&self) -> Result<Vec<(String, String)>, StoreError> {
        sqlx::query("SELECT key, value FROM variables ORDER BY key")
            .fetch_all(&self.pool)
            .await
            .map_err(db("listing Variables"))?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(db("listing Variables"))
    }

    async fn xcom(
        &self,
        dag_id: &str,
        run_id: &str,
        task_id: &str,
        key: &str,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        let row = sqlx::query(
            "SELECT value FROM xcom WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND key = $4",
        )
        .bind(dag_id)
        .bind(run_id)
        .bind(task_id)
        .bind(key)
        .fetch_optional(&self.pool)
        .await
        .map_err(db("reading an XCom"))?;
        match row {
            None => Ok(None),
            Some(r) => {
                let text: String = r.try_get(0).map_err(db("reading an XCom"))?;
                serde_json::from_str(&text)
                    .map(Some)
                    .map_err(|e| corrupt("XCom value", e))
            }
        }
    }

    async fn xcoms(
        &self,
        dag_id: &str,
        run_id: &str,
    ) -> Result<Vec<(String, String, serde_json::Value)>, StoreError> {
        let rows = sqlx::query(
            "SELECT task_id, key, value FROM xcom WHERE dag_id = $1 AND run_id = $2 \
             ORDER BY task_id, key",
        )
        .bind(dag_id)
        .bind(run_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db("reading XComs"))?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let get = |e| db("reading XComs")(e);
            let text: String = r.try_get(2).map_err(get)?;
            out.push((
                r.try_get(0).map_err(get)?,
                r.try_get(1).map_err(get)?,
                serde_json::from_str(&text).map_err(|e| corrupt("XCom value", e))?,
            ));
        }
        Ok(out)
    }

    async fn dataset_events(
        &self,
        dataset: &str,
        after: Option<DateTime<Utc>>,
    ) -> Result<Vec<DatasetEvent>, StoreError> {
        sqlx::query(
            "SELECT dataset, created_at, seq, dag_id, run_id, task_id FROM dataset_events \
             WHERE dataset = $1 AND created_at > $2 ORDER BY created_at, seq",
        )
        .bind(dataset)
        .bind(after.map_or(i64::MIN, to_micros))
        .fetch_all(&self.pool)
        .await
        .map_err(db("reading dataset events"))?
        .iter()
        .map(event_from_row)
        .collect()
    }

    async fn connections(&self) -> Result<Vec<Connection>, StoreError> {
        sqlx::query("SELECT name, url, extra FROM connections ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .map_err(db("listing connections"))?
            .iter()
            .map(|row| {
                let c = Cols {
                    row,
                    what: "connection",
                };
                Ok(Connection {
                    name: c.text("name")?,
                    url: c.text("url")?,
                    extra: serde_json::from_str(&c.text("extra")?)
                        .map_err(|e| corrupt("connection extra", e))?,
                })
            })
            .collect()
    }

    async fn set_connection(&self, connection: &Connection) -> Result<(), StoreError> {
        let extra =
            serde_json::to_string(&connection.extra).map_err(|e| corrupt("connection extra", e))?;
        sqlx::query(
            "INSERT INTO connections (name, url, extra) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET url = excluded.url, extra = excluded.extra",
        )
        .bind(&connection.name)
        .bind(&connection.url)
        .bind(extra)
        .execute(&self.pool)
        .await
        .map_err(db("setting a connection"))?;
        Ok(())
    }

    async fn delete_connection(&self, name: &str) -> Result<bool, StoreError> {
        Ok(sqlx::query("DELETE FROM connections WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(db("deleting a connection"))?
            .rows_affected()
            > 0)
    }

    async fn pools(&self) -> Result<Vec<(String, u32, Option<String>)>, StoreError> {
        sqlx::query("SELECT name, slots, description FROM pools ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .map_err(db("listing pools"))?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get::<i64, _>(1)? as u32, r.try_get(2)?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(db("listing pools"))
    }

    async fn set_pool(
        &self,
        name: &str,
        slots: u32,
        description: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO pools (name, slots, description) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET slots = excluded.slots, \
             description = COALESCE(excluded.description, pools.description)",
        )
        .bind(name)
        .bind(i64::from(slots))
        .bind(description)
        .execute(&self.pool)
        .await
        .map_err(db("setting a pool"))?;
        Ok(())
    }

    async fn delete_pool(&self, name: &str) -> Result<bool, StoreError> {
        Ok(sqlx::query("DELETE FROM pools WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(db("deleting a pool"))?
            .rows_affected()
            > 0)
    }
}

/// A statement with its parameters bound, for sqlx.
fn bound(stmt: Stmt) -> sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments> {
    bind_all(sqlx::query(sqlx::AssertSqlSafe(stmt.sql)), stmt.params)
}

/// `q` with `params` bound in order.
fn bind_all(
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

pub(super) const RECORD_COLUMNS: &str = "collection, record_key, version, value, updated_at";

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn conformance_on_a_sqlite_file() {
        let dir = tempfile::tempdir().unwrap();
        let url = SqlStore::default_url(dir.path());
        let s = SqlStore::connect(&url).await.unwrap();
        crate::store::conformance::check(&s).await;
        s.set_variable("x", "[1, 2]").await.unwrap();
        drop(s);
        // Reopening finds everything again (and does not re-apply migrations).
        let s = SqlStore::connect(&url).await.unwrap();
        assert_eq!(s.variable("x").await.unwrap().as_deref(), Some("[1, 2]"));
        assert_eq!(s.find_runs("r1").await.unwrap().len(), 1);
    }

    /// The same suite on a real PostgreSQL server: `DAGCTL_TEST_PG_URL` names a database
    /// this test may create databases from (`scripts/test.sh` starts one on loopback).
    #[tokio::test]
    async fn conformance_on_postgresql() {
        let Ok(admin) = std::env::var("DAGCTL_TEST_PG_URL") else {
            assert!(
                std::env::var("CI").is_err(),
                "CI must run this test: set DAGCTL_TEST_PG_URL (scripts/test.sh does)"
            );
            eprintln!("skipped: DAGCTL_TEST_PG_URL is not set (scripts/test.sh sets it)");
            return;
        };
        sqlx::any::install_default_drivers();
        let name = format!("conformance_{}", std::process::id());
        let (base, _) = admin.rsplit_once('/').unwrap();
        {
            use sqlx::Connection;
            let mut c = sqlx::AnyConnection::connect(&admin).await.unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name}"
            )))
            .execute(&mut c)
            .await
            .unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut c)
                .await
                .unwrap();
        }
        let url = format!("{base}/{name}");
        let s = SqlStore::connect(&url).await.unwrap();
        crate::store::conformance::check(&s).await;
        drop(s);
        // Reconnecting applies no migration twice.
        let s = SqlStore::connect(&url).await.unwrap();
        assert_eq!(s.find_runs("r1").await.unwrap().len(), 1);
    }

    #[test]
    fn passwords_are_hidden_in_urls() {
        assert_eq!(
            redact_url("postgres://user:secret@host:5432/db"),
            "postgres://user:***@host:5432/db"
        );
        assert_eq!(redact_url("sqlite:///tmp/x.db"), "sqlite:///tmp/x.db");
    }
}
