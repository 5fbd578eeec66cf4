//! `notify` through the CLI against a real HTTP server on loopback: the Slack-compatible body,
//! a 500 retried until the 200, a refusal that fails the task, the failure callback's message,
//! and the webhook's secret (its path) never in a log, an error, a run or a connection list.

use crate::common;

use common::Env;
use common::webhook::Webhook;

const SECRET: &str = "/services/T000/B000/s3cr3tT0ken";

fn env_with(dag: &str, hook: &Webhook) -> Env {
    let env = Env::new(&[("n.yaml", dag)]);
    env.cmd(&["connections", "add", "alerts", "--url", &hook.url(SECRET)])
        .assert()
        .success();
    env
}

fn all_output(env: &Env, run: &str, tasks: &[&str]) -> String {
    let mut text = String::new();
    for args in [
        vec!["runs", "show", run],
        vec!["runs", "show", run, "--json"],
        vec!["connections", "list"],
        vec!["connections", "get", "alerts", "--json"],
    ] {
        let out = env.process(&args).output().unwrap();
        text.push_str(&String::from_utf8_lossy(&out.stdout));
        text.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    for t in tasks {
        let out = env.process(&["tasks", "logs", run, t]).output().unwrap();
        text.push_str(&String::from_utf8_lossy(&out.stdout));
    }
    text
}

#[test]
fn a_message_is_posted_retried_after_a_500_and_the_secret_stays_hidden() {
    let hook = Webhook::start(&[500]);
    let env = env_with(
        "dag_id: n\ntasks:\n  tell:\n    operator: notify\n    conn_id: alerts\n    text: 'data for {{ ds }} is in'\n    details: {rows: 1042}\n    retry_delay: 100ms\n",
        &hook,
    );
    let out = env
        .cmd(&[
            "trigger",
            "n",
            "--logical-date",
            "2026-01-05",
            "--run-id",
            "r1",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::out_text(&out));
    let got = hook.received();
    assert_eq!(got.len(), 2, "a 500, then the retry: {got:?}");
    for r in &got {
        assert_eq!(r.path, SECRET);
        assert_eq!(r.body["text"], "data for 2026-01-05 is in");
        let blocks = r.body["blocks"].as_array().unwrap();
        assert_eq!(blocks[0]["text"]["text"], "data for 2026-01-05 is in");
        assert_eq!(blocks[1]["fields"][0]["text"], "*rows*\n1042");
        let origin = blocks.last().unwrap()["elements"][0]["text"]
            .as_str()
            .unwrap();
        assert!(origin.contains("`n`") && origin.contains("`r1`") && origin.contains("`tell`"));
    }
    let text = all_output(&env, "r1", &["tell"]);
    assert!(text.contains("attempt 1 failed (HTTP 500"), "{text}");
    assert!(text.contains("http://127.0.0.1:"), "{text}");
    assert!(!text.contains("s3cr3t"), "the secret leaked: {text}");
    assert!(!common::out_text(&out).contains("s3cr3t"));
}

#[test]
fn a_refusal_fails_the_task_at_once_and_names_no_secret() {
    // 404 is final: no retry (a second request would get the 200 below).
    let hook = Webhook::start(&[404]);
    let env = env_with(
        "dag_id: n\ntasks:\n  tell: {operator: notify, conn_id: alerts, text: hi, retry_delay: 100ms}\n",
        &hook,
    );
    let out = env
        .cmd(&["trigger", "n", "--run-id", "r2"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(hook.received().len(), 1);
    let text = all_output(&env, "r2", &["tell"]) + &common::out_text(&out);
    assert!(text.contains("refused the message: HTTP 404"), "{text}");
    assert!(!text.contains("s3cr3t"), "the secret leaked: {text}");
}

#[test]
fn a_failure_callback_says_which_task_failed_and_why() {
    let hook = Webhook::start(&[]);
    let env = env_with(
        "dag_id: n\ntasks:\n  load:\n    operator: command\n    bash_command: 'echo no such table >&2; exit 3'\n    on_failure_callback: {operator: notify, conn_id: alerts}\n",
        &hook,
    );
    env.cmd(&["trigger", "n", "--run-id", "r3"])
        .assert()
        .failure();
    let got = hook.received();
    assert_eq!(got.len(), 1, "{got:?}");
    let text = got[0].body["text"].as_str().unwrap();
    assert!(
        text.contains("task `load` of `n` failed") && text.contains("run `r3`"),
        "{text}"
    );
    assert!(text.contains("exit"), "the error is in the message: {text}");
}

#[test]
fn a_missing_connection_fails_unless_the_message_is_optional() {
    let env = Env::new(&[(
        "n.yaml",
        "dag_id: n\ntasks:\n  must: {operator: notify, conn_id: nowhere, text: hi}\n  may: {operator: notify, conn_id: nowhere, text: hi, required: false}\n",
    )]);
    env.cmd(&["trigger", "n", "--run-id", "r4"])
        .assert()
        .failure();
    let runs = env.json(&["runs", "show", "r4", "--json"]);
    let state = |t: &str| {
        runs["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["task_id"] == t)
            .unwrap()["state"]
            .clone()
    };
    assert_eq!(state("must"), "failed");
    assert_eq!(state("may"), "success");
    let log = env
        .process(&["tasks", "logs", "r4", "may"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&log.stdout)
            .contains("not posted: there is no connection `nowhere`")
    );
}
