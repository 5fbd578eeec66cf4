//! A fresh database on the test PostgreSQL server (`DAGCTL_TEST_PG_URL`, which
//! `scripts/test.sh` starts on loopback).

/// The URL of a new, empty database named `<prefix>_<pid>`; `None` (skipped, saying so)
/// without a server, which fails under CI, where the tests must run.
pub fn fresh_database(prefix: &str) -> Option<String> {
    let Ok(admin) = std::env::var("DAGCTL_TEST_PG_URL") else {
        assert!(
            std::env::var("CI").is_err(),
            "CI must run this test: set DAGCTL_TEST_PG_URL (scripts/test.sh does)"
        );
        eprintln!("skipped: DAGCTL_TEST_PG_URL is not set (scripts/test.sh sets it)");
        return None;
    };
    Some(fresh_database_at(&admin, prefix))
}

/// A new, empty database named after `prefix` on the server of `admin` (a database URL).
pub fn fresh_database_at(admin: &str, prefix: &str) -> String {
    let admin = admin.to_string();
    let name = format!("{prefix}_{}", std::process::id());
    // On a thread of its own: callers may be inside a runtime already.
    let (admin_url, db) = (admin.clone(), name.clone());
    std::thread::spawn(move || create(&admin_url, &db))
        .join()
        .unwrap();
    format!("{}/{name}", admin.rsplit_once('/').unwrap().0)
}

fn create(admin: &str, name: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let mut c = sqlx::AnyConnection::connect(admin).await.unwrap();
        for sql in [
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            format!("CREATE DATABASE {name}"),
        ] {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut c)
                .await
                .unwrap();
        }
    });
}
