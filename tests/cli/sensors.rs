//! Sensors: waiting without holding a slot (reschedule), holding it (poke), timeouts,
//! soft_fail, and waiting for another DAG.

use std::collections::HashMap;
use std::sync::Arc;

use dagctl::engine::store::RunKey;
use dagctl::engine::{DagBuilder, Engine, RunState, TaskState, TriggerOptions};
use serde_json::json;
use tempfile::TempDir;

async fn engine(dir: &TempDir, dags: Vec<dagctl::engine::Dag>) -> Arc<Engine> {
    let mut b = dagctl::builder().home(dir.path());
    for d in dags {
        b = b.dag(d);
    }
    Arc::new(b.build().await.unwrap())
}

fn states(o: &dagctl::engine::RunOutcome) -> HashMap<String, TaskState> {
    o.tasks
        .iter()
        .map(|t| (t.task_id.clone(), t.state))
        .collect()
}

/// One slot; the sensor comes first and waits for a file the other task creates.
fn waiting_dag(dir: &TempDir, mode: &str, soft_fail: bool) -> dagctl::engine::Dag {
    let file = dir.path().join("ready");
    DagBuilder::new("waits")
        .key("max_active_tasks", json!(1))
        .task(
            "wait",
            "file_sensor",
            json!({"filepath": file.display().to_string(), "poke_interval": "50ms",
                   "timeout": "1s", "mode": mode, "soft_fail": soft_fail}),
        )
        .task(
            "make",
            "command",
            json!({"bash_command": format!("sleep 0.2; touch {}", file.display())}),
        )
        .build(&dagctl::shipped_operators())
        .unwrap()
}

#[tokio::test]
async fn a_rescheduled_sensor_frees_its_slot_for_the_other_task() {
    let dir = TempDir::new().unwrap();
    let engine = engine(&dir, vec![waiting_dag(&dir, "reschedule", false)]).await;
    let o = engine
        .trigger("waits", TriggerOptions::default())
        .await
        .unwrap();
    let s = states(&o);
    assert_eq!(
        (s["wait"], s["make"]),
        (TaskState::Success, TaskState::Success),
        "{o:?}"
    );
    let tries = engine
        .store()
        .tries(&RunKey::new("waits", &o.run_id), Some("wait"))
        .await
        .unwrap();
    assert!(tries.len() >= 2, "it poked more than once: {tries:?}");
    assert!(
        tries[..tries.len() - 1]
            .iter()
            .all(|t| t.state == TaskState::Deferred)
    );
    assert_eq!(tries.last().unwrap().state, TaskState::Success);
    // No retries were configured: pokes do not use any.
    let ti = engine
        .store()
        .task_instances(&RunKey::new("waits", &o.run_id))
        .await
        .unwrap();
    let wait = ti.iter().find(|t| t.task_id == "wait").unwrap();
    assert_eq!(
        wait.max_tries, wait.try_number,
        "each deferral granted its own try"
    );
}

#[tokio::test]
async fn a_poking_sensor_keeps_its_slot_until_it_times_out() {
    let dir = TempDir::new().unwrap();
    let engine = engine(&dir, vec![waiting_dag(&dir, "poke", false)]).await;
    let o = engine
        .trigger("waits", TriggerOptions::default())
        .await
        .unwrap();
    let wait = o.tasks.iter().find(|t| t.task_id == "wait").unwrap();
    assert_eq!(wait.state, TaskState::Failed);
    assert!(
        wait.error.as_deref().unwrap().contains("still no after"),
        "{:?}",
        wait.error
    );
    assert_eq!(
        wait.tries, 1,
        "a timeout is not retried, and poke mode is one try"
    );
    assert_eq!(
        states(&o)["make"],
        TaskState::Success,
        "it ran once the slot was free"
    );
}

#[tokio::test]
async fn soft_fail_skips_on_timeout() {
    let dir = TempDir::new().unwrap();
    let dag = DagBuilder::new("soft")
        .task(
            "wait",
            "file_sensor",
            json!({"filepath": "/nonexistent/never", "poke_interval": "50ms", "timeout": "200ms", "soft_fail": true}),
        )
        .task_after("after", "noop", json!({}), &["wait"])
        .build(&dagctl::shipped_operators())
        .unwrap();
    let engine = engine(&dir, vec![dag]).await;
    let o = engine
        .trigger("soft", TriggerOptions::default())
        .await
        .unwrap();
    assert_eq!(states(&o)["wait"], TaskState::Skipped);
    assert_eq!(states(&o)["after"], TaskState::Skipped);
    assert_eq!(o.state, RunState::Success);
}

fn watcher(failed_upstream: bool) -> Vec<dagctl::engine::Dag> {
    let r = dagctl::shipped_operators();
    let upstream = DagBuilder::new("upstream")
        .task(
            "work",
            "command",
            json!({"bash_command": if failed_upstream { "sleep 0.3; exit 1" } else { "sleep 0.3" }}),
        )
        .build(&r)
        .unwrap();
    let watcher = DagBuilder::new("watcher")
        .task(
            "wait",
            "external_dag_sensor",
            json!({"external_dag_id": "upstream", "external_task_id": "work",
                   "poke_interval": "50ms", "timeout": "20s"}),
        )
        .build(&r)
        .unwrap();
    vec![upstream, watcher]
}

#[tokio::test]
async fn external_dag_sensor_waits_for_the_other_run_of_the_same_date() {
    let dir = TempDir::new().unwrap();
    let engine = engine(&dir, watcher(false)).await;
    let date = chrono::DateTime::parse_from_rfc3339("2026-01-05T00:00:00Z")
        .unwrap()
        .to_utc();
    let opts = || TriggerOptions {
        logical_date: Some(date),
        ..Default::default()
    };
    let mut events = engine.events();
    let w = {
        let e = Arc::clone(&engine);
        let o = opts();
        tokio::spawn(async move { e.trigger("watcher", o).await })
    };
    // The sensor is running (its first try started) before the upstream runs: it must wait.
    loop {
        match events.recv().await.expect("the watcher's events") {
            dagctl::engine::Event::Task {
                dag_id, try_number, ..
            } if dag_id == "watcher" && try_number >= 1 => break,
            _ => {}
        }
    }
    let up = engine.trigger("upstream", opts()).await.unwrap();
    assert_eq!(up.state, RunState::Success);
    let w = w.await.unwrap().unwrap();
    assert_eq!(w.state, RunState::Success);
}

#[tokio::test]
async fn external_dag_sensor_fails_fast_when_the_other_run_fails() {
    let dir = TempDir::new().unwrap();
    let engine = engine(&dir, watcher(true)).await;
    let date = chrono::DateTime::parse_from_rfc3339("2026-01-05T00:00:00Z")
        .unwrap()
        .to_utc();
    let opts = || TriggerOptions {
        logical_date: Some(date),
        ..Default::default()
    };
    let up = engine.trigger("upstream", opts()).await.unwrap();
    assert_eq!(up.state, RunState::Failed);
    let w = engine.trigger("watcher", opts()).await.unwrap();
    let wait = &w.tasks[0];
    assert_eq!(wait.state, TaskState::Failed);
    assert!(
        wait.error.as_deref().unwrap().contains("is `failed`"),
        "{:?}",
        wait.error
    );
}
