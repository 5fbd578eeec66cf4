//! DAGs that start DAGs: `trigger_dag`, and `dagctl trigger` following what it causes.

use crate::common;

use common::Env;

use predicates::prelude::*;
use serde_json::Value;

fn parent(wait: bool) -> String {
    format!(
        "dag_id: parent\ntasks:\n  kick:\n    operator: trigger_dag\n    dag_id: child\n    conf: {{who: '{{{{ dag_run.conf.who | default(\"nobody\") }}}}'}}\n    wait_for_completion: {wait}\n    poke_interval: 100ms\n  after:\n    operator: noop\n    dependencies: [kick]\n"
    )
}

const CHILD: &str = "dag_id: child\ntasks:\n  greet:\n    operator: command\n    bash_command: echo hello {{ dag_run.conf.who }} on {{ ds }}\n";

#[test]
fn one_trigger_runs_the_whole_chain() {
    let env = Env::new(&[("parent.yaml", &parent(false)), ("child.yaml", CHILD)]);
    env.cmd(&[
        "trigger",
        "parent",
        "--logical-date",
        "2026-01-05",
        "--conf",
        r#"{"who": "dagctl"}"#,
    ])
    .assert()
    .success()
    .stdout(predicate::str::contains(
        "run manual__2026-01-05T00:00:00+00:00 of parent: success",
    ))
    .stdout(predicate::str::contains(
        "run manual__2026-01-05T00:00:00+00:00 of child: success",
    ));
    env.cmd(&[
        "tasks",
        "logs",
        "manual__2026-01-05T00:00:00+00:00",
        "greet",
        "--dag",
        "child",
    ])
    .assert()
    .success()
    .stdout("hello dagctl on 2026-01-05\n");
    // The same run id in two DAGs: naming it alone is ambiguous, and said so.
    env.cmd(&["runs", "show", "manual__2026-01-05T00:00:00+00:00"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "DAGs child, parent all have it; add --dag",
        ));
}

#[test]
fn wait_for_completion_waits_while_the_child_runs_in_the_same_process() {
    let env = Env::new(&[("parent.yaml", &parent(true)), ("child.yaml", CHILD)]);
    let out = env.cmd(&["trigger", "parent", "--json"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let runs = v.as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(
        runs[0]["dag_id"], "child",
        "the child finished first: the parent waited"
    );
    assert!(runs.iter().all(|r| r["state"] == "success"));
}

#[test]
fn a_failing_child_fails_the_waiting_task() {
    let failing = "dag_id: child\ntasks:\n  boom: {operator: command, bash_command: exit 1}\n";
    let env = Env::new(&[("parent.yaml", &parent(true)), ("child.yaml", failing)]);
    env.cmd(&["trigger", "parent"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("triggered run manual__"))
        .stdout(predicate::str::is_match(r"after +upstream_failed").unwrap());
}

#[test]
fn no_follow_leaves_the_child_queued_and_a_second_trigger_of_the_same_date_is_refused() {
    let env = Env::new(&[("parent.yaml", &parent(false)), ("child.yaml", CHILD)]);
    env.cmd(&[
        "trigger",
        "parent",
        "--no-follow",
        "--logical-date",
        "2026-01-05",
    ])
    .assert()
    .success()
    .stdout(predicate::str::contains("of child").not());
    let child = env
        .runs()
        .into_iter()
        .find(|r| r["dag_id"] == "child")
        .unwrap();
    assert_eq!(child["state"], "queued");
    env.cmd(&["runs", "resume"])
        .assert()
        .success()
        .stdout(predicate::str::contains("of child: success"));
    // Same logical date again: the parent gets a new run id, the child's exists.
    env.cmd(&[
        "trigger",
        "parent",
        "--logical-date",
        "2026-01-05",
        "--run-id",
        "again",
    ])
    .assert()
    .code(1)
    .stdout(predicate::str::contains(
        "already has a run `manual__2026-01-05T00:00:00+00:00`",
    ))
    .stdout(predicate::str::contains("reset_dag_run: true"));
}

#[test]
fn triggering_an_unknown_dag_is_a_validation_error() {
    let env = Env::new(&[
        ("parent.yaml", &parent(false)),
        (
            "chlid.yaml",
            &CHILD.replace("dag_id: child", "dag_id: chlid"),
        ),
    ]);
    env.cmd(&["validate"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "task `kick` of DAG `parent` triggers DAG `child`, which is not defined",
        ))
        .stdout(predicate::str::contains("did you mean `chlid`?"));
}
