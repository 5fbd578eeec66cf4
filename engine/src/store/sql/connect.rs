//! Opening a [`SqlStore`]: store URLs (parsed, defaulted and redacted for messages),
//! connecting with each backend's settings, and the numbered migrations.

use std::path::Path;
use std::time::Duration;

use chrono::Utc;
use sqlx::Row;
use sqlx::any::AnyPoolOptions;

use super::{Backend, SqlStore, db};
use crate::store::sqlite_commit::Committer;
use crate::store::sqlite_read::Reader;
use crate::store::{StoreError, to_micros};

/// Numbered migrations, applied in order and recorded in `dagctl_migrations`.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "core", include_str!("../migrations/0001_core.sql")),
    (
        2,
        "datasets",
        include_str!("../migrations/0002_datasets.sql"),
    ),
    (
        3,
        "drop unused state indexes",
        include_str!("../migrations/0003_drop_state_indexes.sql"),
    ),
    (
        4,
        "connections",
        include_str!("../migrations/0004_connections.sql"),
    ),
    (5, "records", include_str!("../migrations/0005_records.sql")),
    (
        6,
        "run lifecycle",
        include_str!("../migrations/0006_run_lifecycle.sql"),
    ),
    (
        7,
        "running task instances index",
        include_str!("../migrations/0007_running_index.sql"),
    ),
    (
        8,
        "handed tries",
        include_str!("../migrations/0008_handed_tries.sql"),
    ),
    (
        9,
        "runs by DAG and creation",
        include_str!("../migrations/0009_runs_by_dag.sql"),
    ),
    (
        10,
        "runs by DAG and logical date",
        include_str!("../migrations/0010_runs_by_logical_date.sql"),
    ),
    (
        11,
        "mapped task instances",
        include_str!("../migrations/0011_mapped_instances.sql"),
    ),
    (
        12,
        "queued and running runs",
        include_str!("../migrations/0012_queued_runs.sql"),
    ),
    (
        13,
        "metric counts",
        include_str!("../migrations/0013_metric_counts.sql"),
    ),
    (
        14,
        "scheduled runs by DAG",
        include_str!("../migrations/0014_scheduled_runs.sql"),
    ),
    (
        15,
        "orphan blame",
        include_str!("../migrations/0015_orphan_blame.sql"),
    ),
    (
        16,
        "running task instances by pool",
        include_str!("../migrations/0016_running_by_pool.sql"),
    ),
];

/// Whether SQLite reported the database locked or busy (another process is writing).
fn is_locked(e: &sqlx::Error) -> bool {
    let text = e.to_string();
    text.contains("locked") || text.contains("busy")
}

/// Whether `url` is an `http://` or `https://` URL (a webhook, not a store).
pub fn is_web_url(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// The URL with any password replaced by `***`, and a web URL's path and query too (a
/// webhook's secret), for messages.
pub fn redact_url(url: &str) -> String {
    let shown = match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    };
    // A web URL's path and query are its secret (a Slack webhook's
    // `/services/T…/B…/secret`, a `?token=`): only the host is shown.
    if is_web_url(&shown) {
        let rest = shown.find("://").map_or(0, |i| i + 3);
        if let Some(end) = shown[rest..].find(['/', '?', '#']).map(|i| rest + i)
            && shown.len() > end + 1
        {
            return format!("{}/***", &shown[..end]);
        }
    }
    shown
}

/// How long opening the store may take before it is reported (a server that does not answer).
const PROBE_WAIT: Duration = Duration::from_secs(10);

/// One connection and one read, before the pool: the pool retries a failing connection until
/// its 30 s timeout and then says only "pool timed out"; this says at once what is wrong.
async fn probe(url: &str, backend: Backend) -> Result<(), StoreError> {
    use sqlx::Connection;
    let shown = redact_url(url);
    let unreachable = |message: String| StoreError::Unreachable {
        url: shown.clone(),
        message,
    };
    let attempt = async {
        let mut conn = sqlx::AnyConnection::connect(url).await?;
        if backend == Backend::Sqlite {
            // Reads the file's header: "file is not a database" shows here.
            sqlx::query("PRAGMA schema_version")
                .execute(&mut conn)
                .await?;
        }
        conn.close().await
    };
    match tokio::time::timeout(PROBE_WAIT, attempt).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(unreachable(match backend {
            Backend::Postgres => format!(
                "{e} (is PostgreSQL running there, and are the user, password and database right?)"
            ),
            Backend::Sqlite => {
                // Why it cannot be opened, when the file system says: a read-only disk, no
                // permission.
                let path = url.strip_prefix("sqlite://").unwrap_or(url);
                let path = path.split('?').next().unwrap_or(path);
                match std::fs::OpenOptions::new().append(true).open(path) {
                    Err(w) if w.kind() != std::io::ErrorKind::NotFound => {
                        format!("{e}: `{path}` cannot be written: {w}")
                    }
                    _ => format!("{e} (is it a dagctl database file, readable and writable?)"),
                }
            }
        })),
        Err(_) => Err(unreachable(format!(
            "no answer within {} s (is the server up, and the host and port right?)",
            PROBE_WAIT.as_secs()
        ))),
    }
}

/// WAL mode, then the missing migrations in one transaction, on a SQLite file through
/// rusqlite (a new database in ~2 ms, against ~10 through sqlx's pool). Another process
/// migrating the same file at the same moment is waited for (`BEGIN IMMEDIATE`, 30 s).
fn migrate_sqlite(path: &str) -> rusqlite::Result<()> {
    use rusqlite::{Connection, OpenFlags, TransactionBehavior};
    let mut conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(30))?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(rusqlite::Error::InvalidQuery);
    }
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS dagctl_migrations (version BIGINT PRIMARY KEY, \
         description TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )?;
    let applied: Vec<i64> = tx
        .prepare("SELECT version FROM dagctl_migrations")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for (version, description, sql) in MIGRATIONS {
        if applied.contains(version) {
            continue;
        }
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO dagctl_migrations (version, description, applied_at) VALUES (?1, ?2, ?3)",
            rusqlite::params![version, description, to_micros(Utc::now())],
        )?;
    }
    tx.commit()
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
            // The database holds secrets (sealed) and task logs: a new home is the owner's
            // alone (0700), a new database file too (0600; SQLite gives its WAL the same).
            if let Some(parent) = Path::new(path).parent()
                && !parent.as_os_str().is_empty()
            {
                crate::secrets::private_dir(parent).map_err(|e| StoreError::Unreachable {
                    url: url.to_string(),
                    message: format!("cannot create the folder `{}`: {e}", parent.display()),
                })?;
            }
            if !path.is_empty() && !path.starts_with(':') {
                crate::secrets::private_file(Path::new(path)).map_err(|e| {
                    StoreError::Unreachable {
                        url: url.to_string(),
                        message: format!("cannot create the database file `{path}`: {e}"),
                    }
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
        // After the folder exists: a SQLite store's key file is made beside its database.
        let keys = crate::secrets::Keyring::for_store(&url)?;
        if let Some(path) = &sqlite_path {
            if let Some(store) = Self::open_migrated(path, &url, &keys) {
                return Ok(store);
            }
            // A new file, or one to migrate: done on one connection of the SQLite library
            // itself; if anything goes wrong there (a file that is not a database, a lock
            // held too long), the path below does it again through sqlx and reports it.
            if migrate_sqlite(path).is_ok()
                && let Some(store) = Self::open_migrated(path, &url, &keys)
            {
                return Ok(store);
            }
        }
        probe(&url, backend).await?;
        let options = Self::pool_options(backend);
        let pool = options
            .connect(&url)
            .await
            .map_err(db(&format!("connecting to {}", redact_url(&url))))?;
        let mut store = SqlStore {
            pool,
            backend,
            committer: None,
            reader: None,
            keys: std::sync::Arc::new(keys),
            listener: (backend == Backend::Postgres)
                .then(|| std::sync::Arc::new(super::listen::Listener::new(&url))),
            groups: std::sync::Arc::default(),
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

    /// A SQLite store whose file is in WAL mode with every migration applied, opened
    /// without touching sqlx: its commit and read connections at once, the pool only when
    /// a query needs it (most commands never do). `None` for anything else — a new file, one
    /// to migrate, one that is not a database — which the full path opens or reports.
    fn open_migrated(path: &str, url: &str, keys: &crate::secrets::Keyring) -> Option<SqlStore> {
        let reader = Reader::open(path).ok()?;
        let latest = MIGRATIONS.last().map(|m| m.0)?;
        if reader.migrated_to() != Some(latest) {
            return None;
        }
        let committer = Committer::open(path).ok()?;
        let pool = Self::pool_options(Backend::Sqlite).connect_lazy(url).ok()?;
        Some(SqlStore {
            pool,
            backend: Backend::Sqlite,
            committer: Some(std::sync::Arc::new(committer)),
            reader: Some(std::sync::Arc::new(reader)),
            keys: std::sync::Arc::new(keys.clone()),
            listener: None,
            groups: std::sync::Arc::default(),
        })
    }

    /// The pool's settings for `backend`.
    fn pool_options(backend: Backend) -> AnyPoolOptions {
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
        options
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

    /// Applies the missing migrations in one transaction. Several processes may start on a
    /// new database at once (two schedulers, a worker): SQLite serializes them with its write
    /// lock; PostgreSQL with a transaction-scoped advisory lock, since even `CREATE TABLE IF
    /// NOT EXISTS` fails when two sessions run it at the same moment.
    async fn migrate(&self) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock(4470762437251)")
                .execute(&mut *tx)
                .await
                .map_err(db("waiting for another process's migrations"))?;
        }
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS dagctl_migrations (version BIGINT PRIMARY KEY, \
             description TEXT NOT NULL, applied_at BIGINT NOT NULL)",
        )
        .execute(&mut *tx)
        .await
        .map_err(db("creating the migrations table"))?;
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
}
