//! A driver with more runs waiting than it reads in one turn (a backfill queues one run per
//! interval): every run still runs, in logical-date order within its DAG's `max_active_runs`,
//! and a DAG with one queued run is not starved behind another DAG's long queue.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use dagctl::engine::run::Scope;
use dagctl::engine::{DagBuilder, Engine, RunState, TriggerOptions};
use serde_json::json;
use tempfile::TempDir;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_run_of_a_long_queue_runs_and_a_short_queue_is_not_starved() {
    let many = DagBuilder::new("many")
        .schedule("@hourly")
        .key("start_date", json!("2020-01-01"))
        .key("max_active_runs", json!(4))
        .task("t", "noop", json!({}))
        .build(&dagctl::shipped_operators())
        .unwrap();
    let few = DagBuilder::new("few")
        .task("t", "noop", json!({}))
        .build(&dagctl::shipped_operators())
        .unwrap();
    let dir = TempDir::new().unwrap();
    let engine = Arc::new(
        Engine::builder()
            .home(dir.path())
            .registry(dagctl::shipped_operators())
            .dag(many)
            .dag(few)
            .build()
            .await
            .unwrap(),
    );
    // 1,500 queued runs of `many` (more than a turn reads), then one of `few`, newer.
    let from = Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap();
    let to = from + chrono::Duration::hours(1499);
    let plan = engine
        .backfill_plan("many", from, to, false, false)
        .await
        .unwrap();
    let ids = engine.backfill_prepare("many", &plan).await.unwrap();
    assert_eq!(ids.len(), 1500);
    let lone = engine
        .create_run(
            "few",
            TriggerOptions {
                logical_date: Some(Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap()),
                ..TriggerOptions::default()
            },
        )
        .await
        .unwrap();
    let mut ended: Vec<(String, String)> = Vec::new();
    let report = engine
        .drive(Scope::All, |o| {
            ended.push((o.dag_id.clone(), o.run_id.clone()))
        })
        .await
        .unwrap();
    assert!(report.all_succeeded(), "{report:?}");
    assert_eq!(ended.len(), 1501);
    assert!(
        report.outcomes.iter().all(|o| o.state == RunState::Success),
        "every run succeeded"
    );
    // `few`'s run did not wait for `many`'s queue to drain.
    let at = ended
        .iter()
        .position(|(dag, run)| dag == "few" && *run == lone.run_id)
        .unwrap();
    assert!(at < 100, "`few` ended as run {at} of 1,501");
    // `many`'s runs started in logical-date order (at most 4 at once, so they end close to it).
    let order: Vec<&str> = ended
        .iter()
        .filter(|(dag, _)| dag == "many")
        .map(|(_, run)| run.as_str())
        .collect();
    for (i, run) in order.iter().enumerate() {
        let want = ids.iter().position(|r| r == run).unwrap();
        assert!(
            want.abs_diff(i) < 8,
            "run {run} ended {i}th, queued {want}th"
        );
    }
}

/// A backfill of more runs than a terminal can read prints a page of the runs that succeeded
/// and counts the others; every run that did not succeed is shown, and the exit code says so.
/// With `--json` every run is there.
#[test]
fn a_long_backfill_prints_a_page_and_every_failure() {
    let env = crate::common::Env::new(&[]);
    // 60 hourly runs; the one of 05:00 fails.
    std::fs::write(
        env.dags().join("hourly.yaml"),
        "dag_id: hourly\nschedule: '@hourly'\nstart_date: 2020-01-01\nmax_active_runs: 16\n\
         tasks:\n  t:\n    operator: command\n    bash_command: test {{ logical_date.hour }} -ne 5 \
         || test {{ logical_date.day }} -ne 1\n",
    )
    .unwrap();
    let out = env
        .cmd(&[
            "backfill",
            "hourly",
            "--start",
            "2020-01-01T00:00:00",
            "--end",
            "2020-01-03T11:00:00",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("60 run(s) executed"), "{stdout}");
    let tables = stdout.matches("run backfill__").count();
    assert_eq!(
        tables, 51,
        "50 runs that succeeded and the one that failed: {stdout}"
    );
    assert!(
        stdout.contains("run backfill__2020-01-01T05:00:00+00:00 of hourly: failed"),
        "{stdout}"
    );
    assert!(
        stdout.contains("… and 9 more run(s) that succeeded"),
        "{stdout}"
    );
    // --json: every run, again (the failed one runs again only with --rerun-failed).
    let out = env
        .cmd(&[
            "backfill",
            "hourly",
            "--start",
            "2020-01-03T12:00:00",
            "--end",
            "2020-01-05T23:00:00",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let runs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 60);
    assert_eq!(env.runs().len(), 120);
}
