//! The shipped loop with its state in a real PostgreSQL server (the multi-machine set-up):
//! `dagctl trigger` runs 01 → 02 → 03 with `--store-url postgres://…`, then the registry and
//! experiment verbs read what it recorded. `scripts/test.sh` starts the server on loopback and
//! sets `DAGCTL_TEST_PG_URL`.

use crate::common;

#[tokio::test]
async fn the_loop_runs_with_its_state_in_postgresql() {
    let Some(url) = common::pg::fresh_database("loop") else {
        return;
    };
    let env = common::Env::shipped();
    let run = |args: &[&str]| {
        env.process(args)
            .env("DAGCTL_STORE_URL", &url)
            .output()
            .unwrap()
    };
    let out = run(&[
        "trigger",
        "01_data_generation_pipeline",
        "--logical-date",
        "2026-02-01",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("summary: 4 of 4 runs succeeded"), "{text}");
    assert!(
        text.contains("churn_model v1 promoted to production"),
        "{text}"
    );
    assert!(
        !env.home().join("dagctl.db").exists(),
        "no SQLite file: the state is in PostgreSQL"
    );

    let out = run(&["models", "show", "churn_model", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["model"]["stages"]["1"], "production");
    let out = run(&["experiments", "runs", "--json"]);
    let runs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 1);
    let out = run(&["variables", "get", "last_trained_data"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "prepared_data/2026-02-01"
    );
    // No new data: the gate skips training, with the state read back from PostgreSQL.
    let out = run(&["trigger", "03_model_training_pipeline"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("no new data, nothing to train"), "{text}");
    let out = run(&["models", "verify", "churn_model"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
