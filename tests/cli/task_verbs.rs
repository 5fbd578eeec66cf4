//! `dagctl tasks list`, `dagctl tasks render` and `dagctl info` as a user types them.

use crate::common;

use common::{Env, out_text};
use predicates::prelude::*;

const DAG: &str = "\
dag_id: demo
params: {who: world}
tasks:
  hello:
    operator: command
    bash_command: \"echo hi {{ params.who }} {{ ds }} {{ var.value.api_token }}\"
  after:
    operator: noop
    dependencies: [hello]
    trigger_rule: all_done
    retries: 2
";

#[test]
fn tasks_list_shows_each_task_in_dependency_order() {
    let env = Env::new(&[("demo.yaml", DAG)]);
    let v = env.json(&["tasks", "list", "demo", "--json"]);
    let tasks = v.as_array().unwrap();
    assert_eq!(tasks.len(), 2);
    assert_eq!(tasks[0]["task_id"], "hello");
    assert_eq!(tasks[1]["task_id"], "after");
    assert_eq!(tasks[1]["upstream"], serde_json::json!(["hello"]));
    assert_eq!(tasks[1]["trigger_rule"], "all_done");
    assert_eq!(tasks[1]["retries"], 2);
    assert_eq!(tasks[0]["operator"], "command");
    let out = env.cmd(&["tasks", "list", "demo"]).output().unwrap();
    assert!(out.status.success(), "{}", out_text(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("task_id"), "{text}");
    assert!(
        lines[2].contains("after") && lines[2].contains("all_done"),
        "{text}"
    );
    env.cmd(&["tasks", "list", "dmeo"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("did you mean `demo`"));
}

#[test]
fn tasks_render_shows_arguments_as_a_run_would_see_them_with_secrets_masked() {
    let env = Env::new(&[("demo.yaml", DAG)]);
    env.cmd(&["variables", "set", "api_token", "tok-5ecret-123"])
        .assert()
        .success();
    let out = env
        .cmd(&[
            "tasks",
            "render",
            "demo",
            "hello",
            "--logical-date",
            "2026-01-02",
            "--conf",
            r#"{"who": "you"}"#,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", out_text(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text, "# bash_command\necho hi you 2026-01-02 ***\n");
    assert!(!out_text(&out).contains("tok-5ecret-123"));
    let v = env.json(&["tasks", "render", "demo", "hello", "--json"]);
    assert!(
        v["bash_command"]
            .as_str()
            .unwrap()
            .starts_with("echo hi world ")
    );
    // Nothing ran, nothing was recorded.
    assert!(env.runs().is_empty());
    env.cmd(&["tasks", "render", "demo", "nope"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("no task `nope`"));
}

#[test]
fn tasks_render_names_the_argument_a_template_breaks() {
    let env = Env::new(&[(
        "bad.yaml",
        "dag_id: bad\ntasks:\n  t:\n    operator: command\n    bash_command: \"echo {{ var.value.missing }}\"\n",
    )]);
    env.cmd(&["tasks", "render", "bad", "t"])
        .assert()
        .failure()
        .stderr(
            predicate::str::contains("bash_command")
                .and(predicate::str::contains("var.value.missing")),
        );
}

#[test]
fn info_says_what_dagctl_uses_without_a_secret() {
    let env = Env::new(&[("demo.yaml", DAG)]);
    let v = env.json(&["info", "--json"]);
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["store_status"], "reachable");
    assert!(v["dags"].as_str().unwrap().starts_with("1 loaded"), "{v}");
    assert_eq!(
        v["home"].as_str().unwrap(),
        env.home().display().to_string()
    );
    // A server that does not answer: said, with the password hidden, and exit 1.
    let key = "dGhpcy1pcy10aGUtdGVzdC1rZXktb2YtMzItYnl0ZXM=";
    let out = env
        .process(&["info"])
        .env("DAGCTL_STORE_URL", "postgres://me:hunter2pw@127.0.0.1:1/db")
        .env("DAGCTL_FERNET_KEY", key)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = out_text(&out);
    assert!(
        text.contains("unreachable") && text.contains("me:***@"),
        "{text}"
    );
    assert!(text.contains("DAGCTL_FERNET_KEY (1 key(s))"), "{text}");
    assert!(!text.contains("hunter2pw") && !text.contains(key), "{text}");
}
