//! `generate_customers` and `validate_data` through the CLI: a quality score below the
//! threshold fails (or warns), and a bad expectation suite is refused at load time.

use crate::common;

use common::Env;
use predicates::prelude::*;

fn dag(suite: &str, threshold: f64, on_failure: &str) -> String {
    format!(
        "dag_id: quality\ntasks:\n  gen: {{operator: generate_customers}}\n  check:\n    operator: validate_data\n    suite: {suite}\n    threshold: {threshold}\n    on_failure: {on_failure}\n    dependencies: [gen]\n"
    )
}

/// A suite beside the DAG files; its path as a DAG file names it.
fn suite_file(env: &Env, text: &str) -> String {
    std::fs::write(env.dags().join("suite.yaml"), text).unwrap();
    "suite.yaml".to_string()
}

const SUITE: &str =
    "columns:\n  age: {type: int64, max: 100}\n  churned: {type: int64, min: 0, max: 1}\n";

#[test]
fn a_score_below_the_threshold_fails_or_warns() {
    let env = Env::new(&[]);
    let suite = suite_file(&env, SUITE);
    std::fs::write(env.dags().join("q.yaml"), dag(&suite, 1.0, "fail")).unwrap();
    env.cmd(&[
        "trigger",
        "quality",
        "--logical-date",
        "2026-01-05",
        "--run-id",
        "strict",
    ])
    .assert()
    .code(1)
    .stdout(predicate::str::contains(
        "quality 0.833 is below the threshold 1",
    ))
    .stdout(predicate::str::contains("age max ≤ 100"));
    std::fs::write(env.dags().join("q.yaml"), dag(&suite, 1.0, "warn")).unwrap();
    env.cmd(&[
        "trigger",
        "quality",
        "--logical-date",
        "2026-01-05",
        "--run-id",
        "lenient",
    ])
    .assert()
    .success();
    env.cmd(&["tasks", "logs", "lenient", "check"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "WARNING: quality 0.833 is below the threshold 1 (on_failure: warn)",
        ));
    let report = env
        .dir
        .path()
        .join("home/data/raw_data/year=2026/month=01/day=05/_validation_report.json");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(report).unwrap()).unwrap();
    assert_eq!(
        (v["passed"].as_u64(), v["total"].as_u64()),
        (Some(5), Some(6))
    );
    assert_eq!(v["success"], false);
    assert_eq!(
        v["results"][0]["expectation_type"],
        "expect_column_to_exist"
    );
    let page = std::fs::read_to_string(
        env.dir
            .path()
            .join("home/data/raw_data/year=2026/month=01/day=05/_validation_report.html"),
    )
    .unwrap();
    assert!(page.contains("score 0.833") && !page.contains("<script"));
}

/// A day without its label column fails validation even with a high share of passed
/// expectations (it passed as "quality 0.963 (52/54)" before), and the run fails.
#[test]
fn a_day_without_its_label_fails_whatever_the_score() {
    let env = Env::new(&[]);
    let suite = suite_file(
        &env,
        "columns:\n  age: {type: int64}\n  tenure_months: {type: int64}\n  region: {type: string}\n  plan: {type: string}\n  sessions: {type: int64}\n  transactions: {type: int64}\n  label: {type: int64, min: 0, max: 1}\n",
    );
    std::fs::write(env.dags().join("q.yaml"), dag(&suite, 0.5, "fail")).unwrap();
    env.cmd(&["trigger", "quality", "--logical-date", "2026-01-05"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "critical expectation(s) failed (quality 0.800 does not count)",
        ))
        .stdout(predicate::str::contains(
            "label column is present (observed \"column missing\"), critical",
        ));
}

#[test]
fn a_bad_suite_is_refused_when_the_dag_loads() {
    let env = Env::new(&[]);
    let suite = suite_file(&env, "columns:\n  age: {typ: int64}\n");
    std::fs::write(env.dags().join("q.yaml"), dag(&suite, 0.9, "fail")).unwrap();
    env.cmd(&["validate"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "q.yaml:6:12: error: argument `suite` of operator `validate_data`",
        ))
        .stdout(predicate::str::contains(
            "suite.yaml:2:9: unknown rule `typ`; did you mean `type`?",
        ));
}

#[test]
fn a_relative_suite_is_read_from_the_dag_folder_whatever_the_working_directory() {
    let env = Env::new(&[]);
    std::fs::create_dir_all(env.dags().join("suites")).unwrap();
    std::fs::write(env.dags().join("suites/s.yaml"), SUITE).unwrap();
    std::fs::write(env.dags().join("q.yaml"), dag("suites/s.yaml", 0.0, "fail")).unwrap();
    let elsewhere = tempfile::TempDir::new().unwrap();
    env.ok_in(elsewhere.path(), &["validate"]);
    env.ok_in(elsewhere.path(), &["trigger", "quality"]);
    // A path that climbs out of the DAG folder, an absolute one elsewhere and a link out of
    // it are refused where they are written, and the file is never read.
    std::fs::write(env.dir.path().join("suite.yaml"), SUITE).unwrap();
    let outside = env.dir.path().join("suite.yaml").display().to_string();
    std::os::unix::fs::symlink(&outside, env.dags().join("link.yaml")).unwrap();
    for path in [
        "../suite.yaml",
        outside.as_str(),
        "link.yaml",
        "/etc/shadow",
    ] {
        std::fs::write(env.dags().join("q.yaml"), dag(path, 0.0, "fail")).unwrap();
        env.cmd(&["validate"])
            .assert()
            .code(1)
            .stdout(predicate::str::contains(format!(
                "q.yaml:6:12: error: `suite: {path}` leaves the folder of the DAG file"
            )))
            .stdout(predicate::str::contains("root:").not());
    }
}

/// The shipped DAGs load and DAG 01 runs from a directory other than the repository, as a
/// scheduler under a service manager runs them.
#[test]
fn the_shipped_dags_work_from_any_working_directory() {
    let env = Env::shipped();
    let elsewhere = tempfile::TempDir::new().unwrap();
    env.ok_in(elsewhere.path(), &["validate"]);
    env.ok_in(
        elsewhere.path(),
        &[
            "trigger",
            "01_data_generation_pipeline",
            "--no-follow",
            "--logical-date",
            "2026-01-01",
        ],
    );
}
