//! Tests of [`SqlStore`]: the conformance suite on a SQLite file and on PostgreSQL, and URL
//! redaction.

use super::*;
use crate::store::ConnectionLookup;

/// The conformance suite on SQLite files, a test per property.
mod sqlite_conformance {
    use super::SqlStore;
    use crate::store::conformance::one_test_per_property;
    one_test_per_property!({
        let dir = tempfile::tempdir().unwrap();
        let url = SqlStore::default_url(dir.path());
        (dir, SqlStore::connect(&url).await.unwrap())
    });
}

#[tokio::test]
async fn conformance_on_a_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let url = SqlStore::default_url(dir.path());
    let s = SqlStore::connect(&url).await.unwrap();
    crate::store::conformance::check(&s).await;
    seeded_counts_are_the_rows_counts(&s).await;
    s.set_variable("x", "[1, 2]").await.unwrap();
    drop(s);
    // Reopening finds everything again (and does not re-apply migrations).
    let s = SqlStore::connect(&url).await.unwrap();
    assert_eq!(s.variable("x").await.unwrap().as_deref(), Some("[1, 2]"));
    assert_eq!(s.find_runs("r1").await.unwrap().len(), 1);
}

/// Variables and connections are sealed in the file: their plain text is nowhere in the
/// database or its WAL, the key file and database are the owner's alone, and another key
/// cannot open them.
#[tokio::test]
async fn secrets_are_sealed_in_the_database_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let url = SqlStore::default_url(&home);
    let s = SqlStore::connect(&url).await.unwrap();
    s.set_variable("db_password", "planted-variable-1")
        .await
        .unwrap();
    let mut extra = std::collections::BTreeMap::new();
    extra.insert("aws_secret_access_key".into(), "planted-extra-2".into());
    s.set_connection(&Connection {
        name: "lake".into(),
        url: "postgres://u:planted-url-3@db.example/x".into(),
        extra,
    })
    .await
    .unwrap();
    let c = &s.connections().await.unwrap()[0];
    assert!(c.url.contains("planted-url-3") && c.extra.values().any(|v| v == "planted-extra-2"));
    let mut bytes = Vec::new();
    for f in ["dagctl.db", "dagctl.db-wal"] {
        if let Ok(b) = std::fs::read(home.join(f)) {
            bytes.extend(b);
        }
    }
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("fernet:"), "sealed values are in the file");
    for planted in ["planted-variable-1", "planted-extra-2", "planted-url-3"] {
        assert!(
            !text.contains(planted),
            "{planted} is in the database in plain text"
        );
    }
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&home), 0o700);
    assert_eq!(mode(&home.join("dagctl.db")), 0o600);
    assert_eq!(mode(&home.join("fernet.key")), 0o600);
    let other = s.clone().with_keyring(crate::secrets::Keyring::ephemeral());
    let err = other.variable("db_password").await.unwrap_err().to_string();
    assert!(err.contains("sealed with a key"), "{err}");
    assert!(!err.contains("planted"), "{err}");
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
    // Four processes starting on the new database at once (schedulers, workers): one
    // migrates, the others wait for it (two used to fail on `CREATE TABLE IF NOT EXISTS`).
    let (a, b, c, d) = tokio::join!(
        SqlStore::connect(&url),
        SqlStore::connect(&url),
        SqlStore::connect(&url),
        SqlStore::connect(&url)
    );
    for s in [a, b, c, d] {
        s.unwrap();
    }
    // Without DAGCTL_FERNET_KEY a PostgreSQL store refuses to keep a secret in plain text.
    let keyless = SqlStore::connect(&url).await.unwrap();
    if std::env::var(crate::secrets::keyring::KEY_ENV).is_err() {
        let err = keyless
            .set_variable("db_password", "1")
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("DAGCTL_FERNET_KEY"), "{err}");
        // A Variable that is not secret is kept as given.
        keyless.set_variable("plain_setting", "1").await.unwrap();
        assert!(keyless.delete_variable("plain_setting").await.unwrap());
    }
    let keys = crate::secrets::Keyring::ephemeral();
    let s = keyless.with_keyring(keys.clone());
    crate::store::conformance::check(&s).await;
    seeded_counts_are_the_rows_counts(&s).await;
    a_batch_that_deadlocks_runs_again(&s, &url).await;
    signals_reach_the_other_processes(s, &url).await;
    // Reconnecting applies no migration twice.
    let s = SqlStore::connect(&url).await.unwrap().with_keyring(keys);
    assert_eq!(s.find_runs("r1").await.unwrap().len(), 1);
}

/// A transaction PostgreSQL aborts to break a deadlock runs again: another session holds one
/// of a batch's try rows and then waits for another the batch holds; PostgreSQL breaks the
/// cycle by aborting the batch's transaction (the other session waits longer before it looks
/// for deadlocks), and the batch is written all the same.
async fn a_batch_that_deadlocks_runs_again(s: &SqlStore, url: &str) {
    use crate::state::TaskState;
    use crate::store::{Batch, Change};
    use sqlx::Connection;
    let at = chrono::Utc::now();
    let mut r = crate::store::conformance::run("dl");
    r.dag_id = "deadlocked".into();
    let ti = crate::store::conformance::ti;
    s.create_run(&r, &[ti("a"), ti("b")], &[]).await.unwrap();
    let batch = |changes| Batch {
        dag_id: "deadlocked".into(),
        run_id: "dl".into(),
        changes,
    };
    let claim = |task: &str| crate::store::conformance::plain_claim(task, 16, at);
    assert_eq!(
        s.commit(&batch(vec![claim("a"), claim("b")]))
            .await
            .unwrap(),
        [true, true]
    );
    let end = move |task: &str| Change::EndTry {
        task_id: task.into(),
        try_number: 1,
        state: TaskState::Success,
        at,
        duration: std::time::Duration::from_millis(1),
        error: None,
    };
    let touch = |task: &str| {
        format!(
            "UPDATE task_tries SET error = 'held' WHERE dag_id = 'deadlocked' AND run_id = 'dl' \
             AND task_id = '{task}'"
        )
    };
    let mut other = sqlx::AnyConnection::connect(url).await.unwrap();
    let mut watcher = sqlx::AnyConnection::connect(url).await.unwrap();
    sqlx::raw_sql("BEGIN; SET LOCAL deadlock_timeout = '30s'")
        .execute(&mut other)
        .await
        .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(touch("a")))
        .execute(&mut other)
        .await
        .unwrap();
    // The batch ends b, then waits for a.
    let store = s.clone();
    let committing =
        tokio::spawn(async move { store.commit(&batch(vec![end("b"), end("a")])).await });
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND wait_event_type = 'Lock'",
        )
        .fetch_one(&mut watcher)
        .await
        .unwrap();
        if waiting > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // The other session now waits for b: a cycle, which the batch's session finds first.
    sqlx::raw_sql(sqlx::AssertSqlSafe(touch("b")))
        .execute(&mut other)
        .await
        .unwrap();
    sqlx::raw_sql("COMMIT").execute(&mut other).await.unwrap();
    committing.await.unwrap().expect("the batch ran again");
    let tries = s
        .tries(&crate::store::RunKey::new("deadlocked", "dl"), None)
        .await
        .unwrap();
    assert!(
        tries.iter().all(|t| t.state == TaskState::Success),
        "{tries:?}"
    );
}

/// What one store commits reaches another store's subscribers (another process), once its
/// transaction commits, and only then; the listener stops with its store.
async fn signals_reach_the_other_processes(s: SqlStore, url: &str) {
    use crate::store::{Batch, Change, Signal};
    use std::time::Duration;
    let other = SqlStore::connect(url).await.unwrap();
    let mut rx = s.signals().expect("PostgreSQL sends signals");
    let next = |rx: &mut tokio::sync::broadcast::Receiver<Signal>| {
        let mut rx = rx.resubscribe();
        async move {
            tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .expect("a signal within 10 s")
                .unwrap()
        }
    };
    // The listener says it (re)connected: whatever waits looks once.
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap()
            .unwrap(),
        Signal::Missed
    );
    let at = chrono::Utc::now();
    let batch = |changes| Batch {
        dag_id: "d".into(),
        run_id: "r1".into(),
        changes,
    };
    let end = Change::EndTry {
        task_id: "a".into(),
        try_number: 1,
        state: crate::state::TaskState::Success,
        at,
        duration: Duration::from_millis(1),
        error: None,
    };
    // A batch that fails (its guard) sends nothing; the next one's signals arrive.
    let failed = batch(vec![
        Change::Owned {
            worker_id: "nobody".into(),
        },
        end.clone(),
        Change::SlotsFreed,
    ]);
    assert!(other.commit(&failed).await.is_err());
    let waiting = next(&mut rx);
    other
        .commit(&batch(vec![
            end,
            Change::SlotsFreed,
            Change::Outcome {
                task_id: "b".into(),
                try_number: 1,
                outcome: serde_json::json!({}),
                at,
            },
        ]))
        .await
        .unwrap();
    assert_eq!(waiting.await, Signal::TryEnded { dag_id: "d".into() });
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap()
            .unwrap(),
        Signal::TryEnded { dag_id: "d".into() }
    );
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap()
            .unwrap(),
        Signal::Outcome {
            run: RunKey::new("d", "r1"),
            task_id: "b".into(),
            try_number: 1,
        }
    );
    // The last clone of the store gone, its listener stops.
    drop(s);
    assert!(matches!(
        tokio::time::timeout(Duration::from_secs(10), rx.recv()).await,
        Ok(Err(tokio::sync::broadcast::error::RecvError::Closed))
    ));
}

#[test]
fn passwords_are_hidden_in_urls() {
    assert_eq!(
        redact_url("postgres://user:secret@host:5432/db"),
        "postgres://user:***@host:5432/db"
    );
    assert_eq!(redact_url("sqlite:///tmp/x.db"), "sqlite:///tmp/x.db");
    assert_eq!(
        redact_url("https://hooks.example.invalid/services/T0/B0/s3cr3t"),
        "https://hooks.example.invalid/***"
    );
    assert_eq!(
        redact_url("http://u:pw@127.0.0.1:8080/hook?token=abc"),
        "http://u:***@127.0.0.1:8080/***"
    );
    assert_eq!(
        redact_url("https://hooks.example.invalid/"),
        "https://hooks.example.invalid/"
    );
}

/// Migration 0013 starts the counters of a store upgraded from an earlier version from the
/// rows it holds: run on the suite's rows, its seed gives what counting those rows gives.
async fn seeded_counts_are_the_rows_counts(s: &SqlStore) {
    let t = chrono::Utc::now();
    sqlx::query("DELETE FROM metric_counts")
        .execute(&s.pool)
        .await
        .unwrap();
    let migration = include_str!("../migrations/0013_metric_counts.sql");
    let seeds: Vec<&str> = migration
        .split(';')
        .map(str::trim)
        .map(|st| st.trim_start_matches(|c: char| c != 'I' && c != 'C'))
        .filter(|st| st.starts_with("INSERT INTO metric_counts"))
        .collect();
    assert_eq!(seeds.len(), 5);
    for st in seeds {
        sqlx::raw_sql(sqlx::AssertSqlSafe(st.to_string()))
            .execute(&s.pool)
            .await
            .unwrap();
    }
    let seeded = s.stats(t).await.unwrap();
    let rows = crate::store::stats::computed(s, t).await.unwrap();
    assert!(!seeded.ended_runs.is_empty());
    assert_eq!(seeded.ended_runs, rows.ended_runs);
    assert_eq!(seeded.ended_task_instances, rows.ended_task_instances);
    crate::store::conformance::stats::same_histograms(&seeded, &rows, None);
    assert!(
        !seeded.schedule_lag.is_empty(),
        "the suite has a scheduled run"
    );
}
