//! Tests of [`SqlStore`]: the conformance suite on a SQLite file and on PostgreSQL, and URL
//! redaction.

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
