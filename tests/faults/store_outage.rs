//! The store fails under a running run (a dropped connection, a server restart) and answers
//! again: what the executor was running then is nobody's fault, so it costs the tasks no
//! retry and the run, taken up again, succeeds.

use crate::common;

use std::sync::Arc;

use common::faulty_store::FaultyStore;
use dagctl::engine::store::{Change, RunKey};
use dagctl::engine::{DagBuilder, Engine, RunState, SqlStore, Store, TaskState, TriggerOptions};
use serde_json::json;
use tempfile::TempDir;

#[tokio::test]
async fn a_commit_lost_under_a_running_try_costs_it_no_retry() {
    let dir = TempDir::new().unwrap();
    let sqlite = SqlStore::connect(&SqlStore::default_url(dir.path()))
        .await
        .unwrap();
    let store = FaultyStore::new(Arc::new(sqlite));
    // `long` runs while `short`'s end is committed; neither may retry.
    let dag = DagBuilder::new("outage")
        .task("short", "noop", json!({}))
        .task("long", "command", json!({"bash_command": "sleep 1"}))
        .task_after("after", "noop", json!({}), &["short", "long"])
        .build(&dagctl::shipped_operators())
        .unwrap();
    let engine = Engine::builder()
        .home(dir.path())
        .registry(dagctl::shipped_operators())
        .store(store.clone() as Arc<dyn Store>)
        .dag(dag)
        .build()
        .await
        .unwrap();
    // The commit that records `short`'s success is lost, once.
    let mut once = true;
    store.fail_commits(move |batch| {
        let hit = batch.changes.iter().any(|c| {
            matches!(c, Change::EndTry { task_id, state: TaskState::Success, .. } if task_id == "short")
        });
        let fail = once && hit;
        once &= !fail;
        fail
    });
    let run = engine
        .create_run("outage", TriggerOptions::default())
        .await
        .unwrap();
    let err = engine.execute("outage", &run.run_id).await.unwrap_err();
    assert!(err.to_string().contains("reset by the test"), "{err}");
    assert_eq!(store.failed().len(), 1);
    // `long` was cut by the executor's own failure, then recorded: not as a failure.
    let key = RunKey {
        dag_id: "outage".into(),
        run_id: run.run_id.clone(),
    };
    let tis = store.task_instances(&key).await.unwrap();
    let long = tis.iter().find(|t| t.task_id == "long").unwrap();
    assert_ne!(long.state, TaskState::Failed, "{tis:?}");
    // Taken up again (as a worker does once the store answers), the run succeeds.
    let outcome = engine.execute("outage", &run.run_id).await.unwrap();
    assert_eq!(outcome.state, RunState::Success, "{outcome:?}");
    let tries = store.tries(&key, Some("long")).await.unwrap();
    let states: Vec<TaskState> = tries.iter().map(|t| t.state).collect();
    assert_eq!(
        states,
        [TaskState::Orphaned, TaskState::Success],
        "{tries:?}"
    );
    assert!(
        tries[0]
            .error
            .as_deref()
            .unwrap_or("")
            .contains("uses no retry"),
        "{tries:?}"
    );
}
