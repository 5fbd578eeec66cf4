//! Running DAGs from the shell: `trigger`, `runs`, `tasks`, `variables`, `pools`.

use crate::common;

use common::Env;

use predicates::prelude::*;

const HELLO: &str = "dag_id: hello\nparams: {who: world}\ntasks:\n  greet:\n    operator: command\n    bash_command: echo hello {{ params.who }} {{ var.value.suffix | default('') }}\n  done:\n    operator: noop\n    dependencies: [greet]\n";

const FAILING: &str = "dag_id: failing\ntasks:\n  boom:\n    operator: command\n    bash_command: echo about to fail; exit 3\n  after:\n    operator: noop\n    dependencies: [boom]\n";

#[test]
fn trigger_runs_a_dag_and_prints_its_outcome() {
    let env = Env::new(&[("hello.yaml", HELLO)]);
    env.cmd(&["trigger", "hello", "--logical-date", "2026-01-02"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with(
            "run manual__2026-01-02T00:00:00+00:00 of hello: success\n",
        ))
        .stdout(predicate::str::is_match(r"\n  greet +success +1 ").unwrap());
    // The run, its tasks and the log are in the store.
    let run = env.json(&[
        "runs",
        "show",
        "manual__2026-01-02T00:00:00+00:00",
        "--json",
    ]);
    assert_eq!(run["state"], "success");
    assert_eq!(run["tasks"][0]["task_id"], "greet");
    assert_eq!(run["tasks"][0]["tries"][0]["state"], "success");
    env.cmd(&[
        "tasks",
        "logs",
        "manual__2026-01-02T00:00:00+00:00",
        "greet",
    ])
    .assert()
    .success()
    .stdout("hello world\n");
}

#[test]
fn trigger_exits_1_when_the_run_fails_and_shows_why() {
    let env = Env::new(&[("failing.yaml", FAILING)]);
    env.cmd(&["trigger", "failing"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("of failing: failed"))
        .stdout(predicate::str::contains("`bash` exited with status 3"))
        .stdout(predicate::str::is_match(r"after +upstream_failed").unwrap());
    let out = env.json(&["trigger", "failing", "--json"]);
    assert_eq!(out["state"], "failed");
    assert_eq!(out["tasks"][0]["error"], "`bash` exited with status 3");
}

#[test]
fn trigger_conf_overrides_params_and_bad_input_is_named() {
    let env = Env::new(&[("hello.yaml", HELLO)]);
    env.cmd(&[
        "trigger",
        "hello",
        "--conf",
        r#"{"who": "dagctl"}"#,
        "--run-id",
        "r1",
    ])
    .assert()
    .success();
    env.cmd(&["tasks", "logs", "r1", "greet"])
        .assert()
        .stdout("hello dagctl\n");
    env.cmd(&["trigger", "hello", "--conf", "{who: nope"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "--conf is not valid JSON; write it like",
        ));
    env.cmd(&["trigger", "hello", "--conf", "[1]"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("conf must be a JSON object"));
    env.cmd(&["trigger", "hello", "--logical-date", "tomorrow"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--logical-date `tomorrow`"));
    for far in ["+10000-01-01", "0000-01-01T00:00:00Z", "10000-01-01"] {
        env.cmd(&["trigger", "hello", "--logical-date", far])
            .assert()
            .code(1)
            .stderr(predicate::str::contains(format!(
                "--logical-date `{far}`: write a date of the years 1 to 9999"
            )));
    }
    env.cmd(&["trigger", "helo"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "no valid DAG `helo`; did you mean `hello`?",
        ));
    env.cmd(&["trigger", "hello", "--run-id", "r1"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "run `r1` of DAG `hello` already exists",
        ));
}

#[test]
fn no_wait_creates_a_queued_run_that_resume_executes() {
    let env = Env::new(&[("hello.yaml", HELLO)]);
    env.cmd(&["trigger", "hello", "--no-wait", "--run-id", "later"])
        .assert()
        .success()
        .stdout("created run later of hello (queued)\n");
    let runs = env.json(&["runs", "list", "--json", "--state", "queued"]);
    assert_eq!(runs.as_array().unwrap().len(), 1);
    env.cmd(&["runs", "resume", "later"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("run later of hello: success"));
    let runs = env.json(&["runs", "list", "--json", "--dag", "hello"]);
    assert_eq!(runs[0]["state"], "success");
    env.cmd(&["runs", "resume"])
        .assert()
        .success()
        .stdout("no unfinished runs\n");
}

#[test]
fn tasks_logs_names_what_is_missing() {
    let env = Env::new(&[("hello.yaml", HELLO)]);
    env.cmd(&["trigger", "hello", "--run-id", "r"])
        .assert()
        .success();
    env.cmd(&["tasks", "logs", "r", "greet", "--try", "2"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "task `greet` has no try 2 in run r (tries: 1 to 1)",
        ));
    env.cmd(&["tasks", "logs", "r", "nope"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "run r of hello has no task `nope`",
        ));
    env.cmd(&["runs", "show", "missing"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no run `missing`"));
}

#[test]
fn tasks_test_runs_one_task_without_recording_it() {
    let env = Env::new(&[("hello.yaml", HELLO)]);
    env.cmd(&[
        "tasks",
        "test",
        "hello",
        "greet",
        "--conf",
        r#"{"who": "test"}"#,
    ])
    .assert()
    .success()
    .stdout("hello test\n")
    .stderr(predicate::str::contains(
        "task greet: success, returned \"hello test\"",
    ));
    env.cmd(&["runs", "list"])
        .assert()
        .success()
        .stdout("(no runs)\n");
    env.cmd(&["tasks", "test", "hello", "nope"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("DAG `hello` has no task `nope`"));
}

#[test]
fn variables_round_trip_and_reach_templates() {
    let env = Env::new(&[("hello.yaml", HELLO)]);
    env.cmd(&["variables", "set", "suffix", "!"])
        .assert()
        .success();
    env.cmd(&["variables", "set", "cfg", r#"{"depth": 4}"#])
        .assert()
        .success();
    env.cmd(&["variables", "set", "api_token", "s3cr3t"])
        .assert()
        .success();
    env.cmd(&["variables", "get", "suffix"])
        .assert()
        .success()
        .stdout("!\n");
    let cfg = env.json(&["variables", "get", "cfg", "--json"]);
    assert_eq!(cfg["depth"], 4);
    let all = env.json(&["variables", "list", "--json"]);
    assert_eq!(all["suffix"], "!");
    assert_eq!(all["api_token"], "***", "secret-looking names are masked");
    env.cmd(&["variables", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains("s3cr3t").not());
    env.cmd(&["trigger", "hello", "--run-id", "v"])
        .assert()
        .success();
    env.cmd(&["tasks", "logs", "v", "greet"])
        .assert()
        .stdout("hello world !\n");
    env.cmd(&["variables", "delete", "suffix"])
        .assert()
        .success();
    env.cmd(&["variables", "get", "suffix"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no Variable `suffix`"));
    env.cmd(&["variables", "delete", "suffix"]).assert().code(1);
}

#[test]
fn pools_set_in_the_store_are_known_to_validation_and_runs() {
    let dag = "dag_id: pooled\ntasks:\n  a: {operator: noop, pool: gpu}\n";
    let env = Env::new(&[("pooled.yaml", dag)]);
    env.cmd(&["validate"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("pool `gpu` does not exist"));
    env.cmd(&["pools", "set", "gpu", "2", "--description", "two cards"])
        .assert()
        .success();
    env.cmd(&["validate"]).assert().success();
    let pools = env.json(&["pools", "list", "--json"]);
    assert!(
        pools
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "gpu" && p["slots"] == 2)
    );
    env.cmd(&["trigger", "pooled"]).assert().success();
    env.cmd(&["pools", "delete", "gpu"]).assert().success();
    env.cmd(&["pools", "delete", "gpu"]).assert().code(1);
    env.cmd(&["pools", "set", "gpu", "0"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("at least 1 slot"));
}

#[test]
fn a_broken_dag_file_does_not_stop_other_dags_from_running() {
    let env = Env::new(&[
        ("hello.yaml", HELLO),
        (
            "broken.yaml",
            "dag_id: broken\ntasks: {a: {operator: nope}}\n",
        ),
    ]);
    env.cmd(&["trigger", "hello"]).assert().success();
    env.cmd(&["trigger", "broken"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no valid DAG `broken`"))
        .stderr(predicate::str::contains("dagctl validate"));
}

#[test]
fn xcom_flows_from_one_task_to_the_next() {
    let dag = "dag_id: pipe\ntasks:\n  produce:\n    operator: command\n    bash_command: echo 42\n  consume:\n    operator: command\n    bash_command: echo got {{ ti.xcom_pull(task_ids='produce') }}\n    dependencies: [produce]\n";
    let env = Env::new(&[("pipe.yaml", dag)]);
    env.cmd(&["trigger", "pipe", "--run-id", "x"])
        .assert()
        .success();
    env.cmd(&["tasks", "logs", "x", "consume"])
        .assert()
        .success()
        .stdout("got 42\n");
}
