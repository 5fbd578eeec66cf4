//! Airflow behaviour that dag-factory files rely on, through the CLI as a user types it:
//! dataset conditions evaluated as Airflow evaluates them, `dagrun_timeout` stopping a running
//! command, `max_active_tis_per_dag` across runs, the `http` operator (Airflow's
//! `HttpOperator`) against a real HTTP server, `ExternalTaskSensor` with `execution_delta`,
//! and `doc_md` shown.

use crate::common;

use std::time::{Duration, Instant};

use common::Env;
use common::webhook::Webhook;
use serde_json::Value;

fn producer(name: &str, dataset: &str) -> String {
    format!(
        "{name}:\n  tasks:\n    - task_id: make\n      operator: BashOperator\n      bash_command: echo made\n      outlets: [{dataset}]\n"
    )
}

fn runs_of(env: &Env, dag: &str) -> usize {
    env.json(&["runs", "list", "--json", "--dag", dag])
        .as_array()
        .unwrap()
        .len()
}

/// Airflow's worked example for `(a & b) | c`: no run until the condition holds over the
/// datasets updated since the last dataset-triggered run; a run consumes the updates of
/// every dataset of the condition, those of branches that did not count included.
#[test]
fn a_dataset_condition_runs_exactly_when_airflow_would() {
    for consumer in [
        // The condition string, dag-factory's YAML operators, and a dataset config file.
        "consumer:\n  schedule: {datasets: \"((s3://x/a & s3://x/b) | s3://x/c)\"}\n  tasks: [{task_id: use, operator: EmptyOperator}]\n",
        "consumer:\n  schedule:\n    datasets:\n      __or__:\n        - __and__: [s3://x/a, s3://x/b]\n        - s3://x/c\n  tasks: [{task_id: use, operator: EmptyOperator}]\n",
        "consumer:\n  schedule: {file: ds.yml, datasets: \"(a & b) | c\"}\n  tasks: [{task_id: use, operator: EmptyOperator}]\n",
    ] {
        let env = Env::new(&[
            ("pa.yml", &producer("pa", "s3://x/a")),
            ("pb.yml", &producer("pb", "s3://x/b")),
            ("pc.yml", &producer("pc", "s3://x/c")),
            (
                "ds.yml",
                "datasets:\n  - {name: a, uri: s3://x/a}\n  - {name: b, uri: s3://x/b}\n  - {name: c, uri: s3://x/c}\n",
            ),
            ("consumer.yml", consumer),
        ]);
        // (producer triggered, consumer runs after it)
        let steps = [
            ("pa", 0), // a: (T & F) | F
            ("pc", 1), // a, c: true — and consumes a too
            ("pb", 1), // b alone: (F & T) | F, the earlier a is gone
            ("pa", 2), // a, b: true
            ("pc", 3), // c alone: true
        ];
        for (i, (dag, want)) in steps.iter().enumerate() {
            env.cmd(&["trigger", dag]).assert().success();
            assert_eq!(
                runs_of(&env, "consumer"),
                *want,
                "step {i} ({dag}) of {consumer}"
            );
        }
        let runs = env.json(&["runs", "list", "--json", "--dag", "consumer"]);
        let events = |i: usize| -> Vec<String> {
            let mut names: Vec<String> = runs[i]["conf"]["triggering_dataset_events"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect();
            names.sort();
            names
        };
        // Newest first: c; a + b; a + c.
        assert_eq!(events(0), ["s3://x/c"]);
        assert_eq!(events(1), ["s3://x/a", "s3://x/b"]);
        assert_eq!(events(2), ["s3://x/a", "s3://x/c"]);
    }
}

#[test]
fn a_run_past_its_dagrun_timeout_fails_and_its_command_is_stopped() {
    let env = Env::new(&[(
        "slow.yml",
        "slow:\n  dagrun_timeout_sec: 2\n  tasks:\n    - task_id: sleepy\n      operator: BashOperator\n      bash_command: sleep 6 && touch marker\n    - task_id: after\n      operator: EmptyOperator\n      dependencies: [sleepy]\n",
    )]);
    let started = Instant::now();
    let out = env.cmd(&["trigger", "slow"]).output().unwrap();
    let took = started.elapsed();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        took < Duration::from_secs(6),
        "the run was stopped, not waited for: {took:?}"
    );
    let runs = env.json(&["runs", "list", "--json", "--dag", "slow"]);
    let run_id = runs[0]["run_id"].as_str().unwrap().to_string();
    assert_eq!(runs[0]["state"], "failed");
    let show = env.json(&["runs", "show", &run_id, "--json"]);
    let text = show.to_string();
    assert!(text.contains("dagrun_timeout of 2s"), "{text}");
    let state = |task: &str| -> Value {
        show["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["task_id"] == task)
            .map(|t| t["state"].clone())
            .unwrap()
    };
    assert_eq!(state("sleepy"), "failed");
    assert_eq!(state("after"), "skipped");
    // The command was killed: no process of it is left to write its marker (a stopped one
    // disappears within moments; one that ran on would still be sleeping).
    let alive = || {
        let out = std::process::Command::new("pgrep")
            .args(["-f", "sleep 6 && touch marker"])
            .output()
            .unwrap();
        !out.stdout.is_empty()
    };
    let since = Instant::now();
    while alive() && since.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!alive(), "the stopped command ran on");
    let marker_anywhere = walk(env.dir.path()).iter().any(|p| p.ends_with("marker"));
    assert!(!marker_anywhere, "the stopped command ran on");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn max_active_tis_per_dag_keeps_a_task_to_one_instance_across_runs() {
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("spans.log");
    let dag = format!(
        "capped:\n  schedule: '@daily'\n  start_date: 2026-01-01\n  max_active_runs: 4\n  tasks:\n    - task_id: one_at_a_time\n      operator: BashOperator\n      max_active_tis_per_dag: 1\n      bash_command: \"echo start $(date +%s.%N) >> {0}; sleep 0.5; echo end $(date +%s.%N) >> {0}\"\n",
        log.display()
    );
    let env = Env::new(&[("capped.yml", &dag)]);
    env.cmd(&[
        "backfill",
        "capped",
        "--start",
        "2026-01-01",
        "--end",
        "2026-01-04",
    ])
    .assert()
    .success();
    let text = std::fs::read_to_string(&log).unwrap();
    let mut spans: Vec<(f64, f64)> = Vec::new();
    let mut open = None;
    for line in text.lines() {
        let (what, at) = line.split_once(' ').unwrap();
        let at: f64 = at.parse().unwrap();
        match what {
            "start" => {
                assert!(open.is_none(), "two instances ran at once:\n{text}");
                open = Some(at);
            }
            _ => spans.push((open.take().unwrap(), at)),
        }
    }
    assert_eq!(spans.len(), 4, "{text}");
}

#[test]
fn the_http_operator_sends_what_airflow_would_and_keeps_the_password_out_of_logs() {
    let server = Webhook::start(&[200, 200, 404]);
    let dag = "http:\n  tasks:\n    - task_id: post_json\n      operator: airflow.providers.http.operators.http.HttpOperator\n      http_conn_id: api\n      endpoint: /run/{{ ds }}\n      data: {data: fake_data, format: json}\n      headers: {Content-Type: application/json}\n      log_response: true\n    - task_id: get_query\n      operator: SimpleHttpOperator\n      http_conn_id: api\n      method: GET\n      endpoint: status\n      data: {day: \"{{ ds }}\"}\n      dependencies: [post_json]\n    - task_id: missing\n      operator: http\n      http_conn_id: api\n      endpoint: /nope\n      dependencies: [get_query]\n";
    let env = Env::new(&[("http.yml", dag)]);
    let url = server.url("").replace("http://", "http://robot:pa55w0rd@");
    env.cmd(&["connections", "add", "api", "--url", &url])
        .assert()
        .success();
    let out = env
        .cmd(&["trigger", "http", "--logical-date", "2026-03-01"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "the 404 fails the run");
    let got = server.received();
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(got[0].method, "POST");
    assert_eq!(got[0].path, "/run/2026-03-01");
    assert_eq!(
        got[0].body,
        serde_json::json!({"data": "fake_data", "format": "json"})
    );
    let auth = got[0]
        .headers
        .iter()
        .find(|(k, _)| k == "authorization")
        .map(|(_, v)| v.clone());
    assert_eq!(
        auth.as_deref(),
        Some("Basic cm9ib3Q6cGE1NXcwcmQ="),
        "basic auth from the URL"
    );
    assert_eq!(got[1].method, "GET");
    assert_eq!(got[1].path, "/status?day=2026-03-01");
    let runs = env.json(&["runs", "list", "--json", "--dag", "http"]);
    let run_id = runs[0]["run_id"].as_str().unwrap().to_string();
    // The response is the task's XCom.
    let xcom = env.json(&["xcom", "get", &run_id, "post_json"]);
    assert_eq!(xcom, serde_json::json!({"ok": true, "n": 3}));
    let mut all = String::new();
    for task in ["post_json", "get_query", "missing"] {
        let out = env
            .process(&["tasks", "logs", &run_id, task])
            .output()
            .unwrap();
        all.push_str(&String::from_utf8_lossy(&out.stdout));
    }
    let show = env.process(&["runs", "show", &run_id]).output().unwrap();
    all.push_str(&String::from_utf8_lossy(&show.stdout));
    assert!(all.contains("response (200)"), "{all}");
    assert!(all.contains("answered 404"), "{all}");
    assert!(!all.contains("pa55w0rd"), "the password leaked: {all}");
}

#[test]
fn an_external_task_sensor_waits_for_the_run_execution_delta_before() {
    let env = Env::new(&[
        (
            "p.yml",
            "producer:\n  tasks: [{task_id: extract, operator: EmptyOperator}]\n",
        ),
        (
            "c.yml",
            "consumer:\n  tasks:\n    - task_id: wait\n      operator: airflow.sensors.external_task.ExternalTaskSensor\n      external_dag_id: producer\n      external_task_id: extract\n      execution_delta: 1 days,\n      mode: poke\n      timeout: 3\n      poke_interval: 1\n",
        ),
    ]);
    env.cmd(&["trigger", "producer", "--logical-date", "2026-01-01"])
        .assert()
        .success();
    env.cmd(&["trigger", "consumer", "--logical-date", "2026-01-02"])
        .assert()
        .success();
    // Three days later, the day before has no producer run: the sensor times out.
    env.cmd(&["trigger", "consumer", "--logical-date", "2026-01-04"])
        .assert()
        .code(1);
}

#[test]
fn doc_md_is_shown_with_the_dag() {
    let env = Env::new(&[(
        "d.yml",
        "documented:\n  doc_md: |\n    # Orders\n    Loads **orders** daily.\n  tasks: [{task_id: t, operator: EmptyOperator}]\n",
    )]);
    env.cmd(&["dags", "show", "documented"])
        .assert()
        .success()
        .stdout(predicates::str::contains(
            "  # Orders\n  Loads **orders** daily.\n",
        ));
}

/// The deadline counts from the run's start, whoever drives it: a run whose driver was killed
/// with SIGKILL fails on its timeout as soon as `runs resume` takes it over.
#[test]
fn a_run_whose_driver_was_killed_times_out_when_resumed() {
    let env = Env::new(&[(
        "slow.yml",
        "slow:\n  dagrun_timeout: 2s\n  tasks:\n    - task_id: sleepy\n      operator: BashOperator\n      bash_command: sleep 3\n",
    )]);
    let mut child = env.process(&["trigger", "slow"]).spawn().unwrap();
    let started = Instant::now();
    loop {
        let runs = env.json(&["runs", "list", "--json", "--dag", "slow"]);
        if runs
            .as_array()
            .is_some_and(|r| r.len() == 1 && r[0]["state"] == "running")
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the run never started"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    let out = env.cmd(&["runs", "resume"]).output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("dagrun_timeout of 2s"), "{text}");
    let runs = env.json(&["runs", "list", "--json", "--dag", "slow"]);
    assert_eq!(runs[0]["state"], "failed");
}

/// `is_paused_upon_creation: true`: a new DAG starts paused (its dataset events wait, as
/// for any paused DAG); once unpaused it stays so: the key only says how a DAG starts.
#[test]
fn a_dag_paused_upon_creation_starts_paused_and_stays_as_the_user_sets_it() {
    let consumer = |id: &str, paused: bool| {
        format!(
            "{id}:\n  schedule: [s3://x/a]\n  is_paused_upon_creation: {paused}\n  tasks: [{{task_id: use, operator: EmptyOperator}}]\n"
        )
    };
    let env = Env::new(&[
        ("pa.yml", &producer("pa", "s3://x/a")),
        ("born_paused.yml", &consumer("born_paused", true)),
        ("born_running.yml", &consumer("born_running", false)),
    ]);
    env.cmd(&["trigger", "pa"]).assert().success();
    assert_eq!(
        runs_of(&env, "born_paused"),
        0,
        "a paused DAG gets no dataset run"
    );
    assert_eq!(runs_of(&env, "born_running"), 1);
    env.cmd(&["dags", "unpause", "born_paused"])
        .assert()
        .success();
    env.cmd(&["runs", "resume"]).assert().success();
    assert_eq!(runs_of(&env, "born_paused"), 1, "the event waited for it");
    // Loaded again, the DAG keeps the flag its user set: the next event runs it at once.
    env.cmd(&["trigger", "pa"]).assert().success();
    assert_eq!(
        runs_of(&env, "born_paused"),
        2,
        "unpaused, it stays unpaused"
    );
}
