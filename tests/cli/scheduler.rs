//! Scheduling: which runs the scheduler creates (paused clock), backfills, and the
//! `dagctl scheduler` process.

use crate::common;

use common::Env;

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, DurationRound, Utc};
use dagctl::engine::{DagBuilder, Engine, MemoryStore, RunType};
use predicates::prelude::*;
use serde_json::{Value, json};

fn hour_floor(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(chrono::Duration::hours(1)).unwrap()
}

/// An hourly DAG that started `hours_ago` whole hours before the current hour.
async fn hourly_engine(
    hours_ago: i64,
    catchup: bool,
    max_active_runs: u32,
) -> (Engine, DateTime<Utc>) {
    let start = hour_floor(Utc::now()) - chrono::Duration::hours(hours_ago);
    let dag = DagBuilder::new("hourly")
        .schedule("@hourly")
        .key("start_date", json!(start.to_rfc3339()))
        .key("catchup", json!(catchup))
        .key("max_active_runs", json!(max_active_runs))
        .task("a", "noop", json!({}))
        .build(&dagctl::shipped_operators())
        .unwrap();
    let engine = dagctl::builder()
        .store(Arc::new(MemoryStore::new()))
        .dag(dag)
        .build()
        .await
        .unwrap();
    (engine, start)
}

fn logical_dates(runs: &[dagctl::engine::store::DagRun]) -> Vec<DateTime<Utc>> {
    let mut v: Vec<_> = runs.iter().map(|r| r.logical_date).collect();
    v.sort();
    v
}

#[tokio::test(start_paused = true)]
async fn the_scheduler_creates_exactly_the_due_runs() {
    let (engine, start) = hourly_engine(3, true, 100).await;
    // The runs of every interval that has ended: start, start+1h, start+2h (the current
    // hour's interval has not ended yet).
    let tick = engine.schedule_due().await.unwrap();
    let hours: Vec<i64> = logical_dates(&tick.created)
        .iter()
        .map(|d| (*d - start).num_hours())
        .collect();
    assert_eq!(hours, [0, 1, 2]);
    assert!(
        tick.created
            .iter()
            .all(|r| r.run_type == RunType::Scheduled)
    );
    assert_eq!(
        tick.created[0].data_interval_end - tick.created[0].data_interval_start,
        chrono::Duration::hours(1)
    );
    assert_eq!(
        tick.next_due,
        Some(hour_floor(Utc::now()) + chrono::Duration::hours(1))
    );
    // Nothing new until the next interval ends; then exactly one.
    assert!(engine.schedule_due().await.unwrap().created.is_empty());
    tokio::time::advance(Duration::from_secs(3600)).await;
    let next = engine.schedule_due().await.unwrap().created;
    assert_eq!(logical_dates(&next), [start + chrono::Duration::hours(3)]);
    assert_eq!(
        next[0].run_id,
        format!("scheduled__{}", next[0].logical_date.to_rfc3339())
    );
}

#[tokio::test(start_paused = true)]
async fn without_catchup_only_the_latest_interval_runs() {
    let (engine, start) = hourly_engine(5, false, 100).await;
    let created = engine.schedule_due().await.unwrap().created;
    assert_eq!(
        logical_dates(&created),
        [start + chrono::Duration::hours(4)]
    );
}

#[tokio::test(start_paused = true)]
async fn max_active_runs_holds_back_the_rest() {
    let (engine, start) = hourly_engine(4, true, 2).await;
    let first = engine.schedule_due().await.unwrap().created;
    assert_eq!(
        logical_dates(&first),
        [start, start + chrono::Duration::hours(1)]
    );
    let full = engine.schedule_due().await.unwrap();
    assert!(full.created.is_empty(), "2 runs are active");
    assert_eq!(
        full.next_due, None,
        "a DAG at its limit does not wake the scheduler (no spin)"
    );
    for run in &first {
        engine.execute("hourly", &run.run_id).await.unwrap();
    }
    let next = engine.schedule_due().await.unwrap().created;
    assert_eq!(
        logical_dates(&next),
        [
            start + chrono::Duration::hours(2),
            start + chrono::Duration::hours(3)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn reset_never_clears_an_unfinished_run() {
    let (engine, start) = hourly_engine(3, true, 100).await;
    let queued = engine.schedule_due().await.unwrap().created;
    assert_eq!(queued.len(), 3);
    let plan = engine
        .backfill_plan("hourly", start, start, false, true)
        .await
        .unwrap();
    assert_eq!(
        plan[0].action,
        dagctl::engine::scheduler::BackfillAction::Resume
    );
}

#[tokio::test(start_paused = true)]
async fn backfilled_intervals_are_not_scheduled_twice() {
    let (engine, start) = hourly_engine(3, true, 100).await;
    let plan = engine
        .backfill_plan(
            "hourly",
            start,
            start + chrono::Duration::hours(1),
            false,
            false,
        )
        .await
        .unwrap();
    let ids = engine.backfill_prepare("hourly", &plan).await.unwrap();
    assert_eq!(ids.len(), 2);
    let created = engine.schedule_due().await.unwrap().created;
    assert_eq!(
        logical_dates(&created),
        [start + chrono::Duration::hours(2)]
    );
}

fn daily(flag: &Path) -> String {
    format!(
        "dag_id: daily\nschedule: '@daily'\nstart_date: 2026-01-01\nmax_active_runs: 2\nparams: {{flag: {}}}\ntasks:\n  a:\n    operator: command\n    bash_command: test -e {{{{ params.flag }}}} || test {{{{ ds }}}} != 2026-01-02\n  b:\n    operator: noop\n    dependencies: [a]\n",
        flag.display()
    )
}

#[test]
fn backfill_is_idempotent_and_reruns_on_request() {
    let env = Env::new(&[]);
    let flag = env.dir.path().join("fixed");
    std::fs::write(env.dags().join("daily.yaml"), daily(&flag)).unwrap();
    // The 2nd day fails until the flag file exists.
    env.cmd(&[
        "backfill",
        "daily",
        "--start",
        "2026-01-01",
        "--end",
        "2026-01-03",
        "--dry-run",
    ])
    .assert()
    .success()
    .stdout(predicate::str::contains(
        "backfill__2026-01-02T00:00:00+00:00  -         create",
    ));
    assert!(env.runs().is_empty(), "a dry run creates nothing");
    env.cmd(&[
        "backfill",
        "daily",
        "--start",
        "2026-01-01",
        "--end",
        "2026-01-03",
    ])
    .assert()
    .code(1)
    .stdout(predicate::str::contains(
        "3 run(s) executed, 0 already done",
    ));
    let states = |env: &Env| {
        let mut v: Vec<(String, String)> = env
            .runs()
            .iter()
            .map(|r| {
                (
                    r["logical_date"].as_str().unwrap()[..10].to_string(),
                    r["state"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        states(&env),
        [
            ("2026-01-01".into(), "success".into()),
            ("2026-01-02".into(), "failed".into()),
            ("2026-01-03".into(), "success".into())
        ]
    );
    // Again: nothing to do, nothing duplicated; the day that failed is said and fails the
    // command, as it is not done.
    env.cmd(&[
        "backfill",
        "daily",
        "--start",
        "2026-01-01",
        "--end",
        "2026-01-03",
    ])
    .assert()
    .code(1)
    .stdout(predicate::str::contains(
        "0 run(s) executed, 3 already done",
    ))
    .stderr(predicate::str::contains(
        "backfill__2026-01-02T00:00:00+00:00 (2026-01-02T00:00:00+00:00) failed in an earlier run",
    ));
    assert_eq!(env.runs().len(), 3);
    // --rerun-failed runs the failed day's failed tasks and what follows them.
    std::fs::write(&flag, "").unwrap();
    env.cmd(&[
        "backfill",
        "daily",
        "--start",
        "2026-01-01",
        "--end",
        "2026-01-03",
        "--rerun-failed",
    ])
    .assert()
    .success()
    .stdout(predicate::str::contains(
        "1 run(s) executed, 2 already done",
    ));
    assert!(states(&env).iter().all(|(_, s)| s == "success"));
    let run = env.json(&[
        "runs",
        "show",
        "backfill__2026-01-02T00:00:00+00:00",
        "--json",
    ]);
    let a = &run["tasks"][0];
    assert_eq!(
        a["tries"].as_array().unwrap().len(),
        2,
        "the failed try is kept, one more ran"
    );
    // --reset runs every interval again.
    env.cmd(&[
        "backfill",
        "daily",
        "--start",
        "2026-01-01",
        "--end",
        "2026-01-03",
        "--reset",
    ])
    .assert()
    .success()
    .stdout(predicate::str::contains(
        "3 run(s) executed, 0 already done",
    ));
    assert_eq!(env.runs().len(), 3);
    env.cmd(&[
        "backfill",
        "daily",
        "--start",
        "2026-02-01",
        "--end",
        "2026-01-01",
    ])
    .assert()
    .code(1)
    .stderr(predicate::str::contains(
        "--start 2026-02-01 is after --end 2026-01-01",
    ));
}

#[test]
fn the_scheduler_process_runs_due_runs_picks_up_new_dags_and_stops_cleanly() {
    let start = (hour_floor(Utc::now()) - chrono::Duration::hours(2)).to_rfc3339();
    let hourly = format!(
        "dag_id: hourly\nschedule: '@hourly'\nstart_date: '{start}'\ncatchup: true\ntasks:\n  a: {{operator: noop}}\n"
    );
    let env = Env::new(&[("hourly.yaml", &hourly)]);
    let child = env
        .process(&["scheduler", "--reload-every", "200ms", "--grace", "5s"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let wait_for = |what: &str, pred: &dyn Fn(&[Value]) -> bool| {
        let t = Instant::now();
        loop {
            let runs = env.runs();
            if pred(&runs) {
                return runs;
            }
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "{what} never happened: {runs:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let runs = wait_for("two hourly runs", &|r| {
        r.iter().filter(|x| x["state"] == "success").count() >= 2
    });
    assert_eq!(runs.len(), 2, "exactly the two finished hours");
    assert!(runs.iter().all(|r| r["run_type"] == "scheduled"));
    // A DAG file added while the scheduler runs is picked up.
    let once = format!(
        "dag_id: once\nschedule: '@once'\nstart_date: '{start}'\ntasks:\n  a: {{operator: noop}}\n"
    );
    std::fs::write(env.dags().join("once.yaml"), once).unwrap();
    wait_for("the new DAG's run", &|r| {
        r.iter()
            .any(|x| x["dag_id"] == "once" && x["state"] == "success")
    });
    // SIGTERM: graceful stop, exit 0.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("scheduler stopped: 3 run(s) created"),
        "{stderr}"
    );
}
