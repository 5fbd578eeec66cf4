//! Data-aware scheduling: `outlets` record dataset events; a DAG scheduled on datasets runs
//! when its condition (a list: all of them) holds over the datasets updated since its last
//! dataset-triggered run.

use crate::common;

use common::Env;

use predicates::prelude::*;
use serde_json::Value;

fn consumer_runs(env: &Env) -> Vec<Value> {
    env.json(&["runs", "list", "--json", "--dag", "consumer"])
        .as_array()
        .unwrap()
        .clone()
}

fn producer(name: &str, dataset: &str, fail: bool) -> String {
    format!(
        "dag_id: {name}\ntasks:\n  make:\n    operator: command\n    bash_command: {}\n    outlets: [{dataset}]\n",
        if fail { "exit 1" } else { "echo made" }
    )
}

const CONSUMER: &str = "dag_id: consumer\nschedule: {datasets: [a, b]}\ntasks:\n  use:\n    operator: command\n    bash_command: \"echo {{ triggering_dataset_events | list | join(',') }} from {{ triggering_dataset_events.b[0].dag_id }}\"\n";

#[test]
fn a_dataset_dag_runs_once_all_its_datasets_are_updated() {
    let env = Env::new(&[
        ("pa.yaml", &producer("producer_a", "a", false)),
        ("pb.yaml", &producer("producer_b", "b", false)),
        ("consumer.yaml", CONSUMER),
    ]);
    env.cmd(&["dags", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains("consumer    datasets: a & b"));
    // One of two datasets updated: no run.
    env.cmd(&["trigger", "producer_a"])
        .assert()
        .success()
        .stdout(predicate::str::contains("of consumer").not());
    assert!(consumer_runs(&env).is_empty());
    // Both: exactly one run, executed by the same command.
    env.cmd(&["trigger", "producer_b"])
        .assert()
        .success()
        .stdout(
            predicate::str::is_match(r"run dataset_triggered__\S+ of consumer: success").unwrap(),
        );
    let runs = consumer_runs(&env);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["run_type"], "dataset_triggered");
    let run_id = runs[0]["run_id"].as_str().unwrap();
    assert_eq!(
        runs[0]["conf"]["triggering_dataset_events"]["a"][0]["dag_id"],
        "producer_a"
    );
    env.cmd(&["tasks", "logs", run_id, "use"])
        .assert()
        .success()
        .stdout("a,b from producer_b\n");
    // Only one of them again: no new run.
    env.cmd(&["trigger", "producer_b"]).assert().success();
    assert_eq!(consumer_runs(&env).len(), 1);
    // The other one too: a second run.
    env.cmd(&["trigger", "producer_a"]).assert().success();
    assert_eq!(consumer_runs(&env).len(), 2);

    // Retention: the four events consumed go with their consumptions; `b`'s newest, which
    // the consumer waits for, stays — and is what starts its next run, with `a`'s next.
    env.cmd(&["trigger", "producer_b"]).assert().success();
    let out = env
        .cmd(&["db", "clean", "--before", "2100-01-01"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::out_text(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("; 4 dataset event(s) no DAG waits for, with 4 consumption(s)"),
        "{text}"
    );
    assert!(env.runs().is_empty());
    // With a broken DAG file (a consumer, perhaps) no event goes.
    std::fs::write(env.dags().join("broken.yaml"), "dag_id: [").unwrap();
    env.cmd(&["trigger", "producer_b"]).assert().success();
    let out = env
        .cmd(&["db", "clean", "--before", "2100-01-01"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("dataset events kept: the DAG folder has errors"),
        "{text}"
    );
    assert!(
        !text.contains("dataset event(s) no DAG waits for"),
        "{text}"
    );
    std::fs::remove_file(env.dags().join("broken.yaml")).unwrap();
    env.cmd(&["trigger", "producer_a"]).assert().success();
    let runs = consumer_runs(&env);
    assert_eq!(runs.len(), 1, "one new run, none from the removed events");
    // The consumer takes `b`'s oldest waiting event (the one kept by the first clean).
    let b = &runs[0]["conf"]["triggering_dataset_events"]["b"];
    assert_eq!(b.as_array().unwrap().len(), 1, "{b}");
}

#[test]
fn a_failed_task_updates_no_dataset() {
    let env = Env::new(&[
        ("pa.yaml", &producer("producer_a", "a", false)),
        ("pb.yaml", &producer("producer_b", "b", true)),
        ("consumer.yaml", CONSUMER),
    ]);
    env.cmd(&["trigger", "producer_a"]).assert().success();
    env.cmd(&["trigger", "producer_b"]).assert().code(1);
    assert!(consumer_runs(&env).is_empty());
}

#[test]
fn a_dataset_schedule_must_name_datasets() {
    let env = Env::new(&[(
        "c.yaml",
        "dag_id: c\nschedule: {datasets: []}\ntasks:\n  a: {operator: noop}\n",
    )]);
    env.cmd(&["validate"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "c.yaml:2:22: error: a dataset schedule names no dataset",
        ));
    let env = Env::new(&[(
        "c.yaml",
        "dag_id: c\nschedule: {dataset: [x]}\ntasks:\n  a: {operator: noop}\n",
    )]);
    env.cmd(&["validate"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "unknown key `dataset` in `schedule`",
        ))
        .stdout(predicate::str::contains("did you mean `datasets`?"));
}
