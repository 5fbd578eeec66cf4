//! Callbacks: on_failure / on_success / on_retry at task and DAG level, each firing once per
//! event; a failing callback changes nothing.

use crate::common;

use common::Env;
use predicates::prelude::*;

/// An environment with the DAG `cb.yaml`, its `DIR` replaced by the environment's folder.
fn env_with(dag: &str) -> Env {
    let env = Env::new(&[]);
    let text = dag.replace("DIR", &env.dir.path().display().to_string());
    std::fs::write(env.dags().join("cb.yaml"), text).unwrap();
    env
}

fn lines(env: &Env) -> Vec<String> {
    let text = std::fs::read_to_string(env.dir.path().join("events")).unwrap_or_default();
    let mut v: Vec<String> = text.lines().map(str::to_string).collect();
    v.sort();
    v
}

const DAG: &str = r#"
dag_id: cb
default_args:
  retry_delay: 0
  on_failure_callback:
    operator: command
    bash_command: echo "failure {{ task.task_id }} try {{ ti.try_number }}" >> DIR/events
on_failure_callback:
  operator: command
  bash_command: echo "dag failure {{ dag.dag_id }}" >> DIR/events
on_success_callback:
  operator: command
  bash_command: echo "dag success" >> DIR/events
tasks:
  flaky:
    operator: command
    bash_command: test -e DIR/mark || (touch DIR/mark; exit 1)
    retries: 1
    on_retry_callback:
      operator: command
      bash_command: echo "retry {{ task.task_id }}" >> DIR/events
    on_success_callback:
      - operator: command
        bash_command: echo "success {{ task.task_id }}" >> DIR/events
      - operator: command
        bash_command: exit 7
  bad:
    operator: command
    bash_command: exit 1
"#;

#[test]
fn each_event_fires_its_callbacks_once() {
    let env = env_with(DAG);
    env.cmd(&["trigger", "cb"]).assert().code(1);
    assert_eq!(
        lines(&env),
        [
            "dag failure cb",
            "failure bad try 1",
            "retry flaky",
            "success flaky"
        ],
        "the failing `exit 7` callback did not change flaky's success"
    );
}

#[test]
fn a_successful_run_fires_the_dag_success_callback() {
    let env = env_with(&DAG.replace(
        "  bad:\n    operator: command\n    bash_command: exit 1\n",
        "",
    ));
    env.cmd(&["trigger", "cb"]).assert().success();
    assert_eq!(lines(&env), ["dag success", "retry flaky", "success flaky"]);
}

#[test]
fn callbacks_are_validated_like_tasks() {
    let bad = "dag_id: cb\ndefault_args:\n  on_failure_callback: notify them\non_success_callback: {operator: comand}\ntasks:\n  a:\n    operator: noop\n    on_retry_callback: {operator: command, bash_comand: x}\n";
    let env = env_with(bad);
    env.cmd(&["validate"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "cb.yaml:3:24: error: `on_failure_callback` must be an operator invocation",
        ))
        .stdout(predicate::str::contains(
            "name a Python function (`module.function`)",
        ))
        .stdout(predicate::str::contains(
            "cb.yaml:4:33: error: unknown operator `comand` in `on_success_callback`",
        ))
        .stdout(predicate::str::contains(
            "unknown argument `bash_comand` for operator `command`",
        ));
}
