//! `dagctl webserver` as a user meets it: spawned on a SQLite file with real runs, its pages
//! loaded in headless Chromium (content, screenshots, no console error, nothing fetched from
//! elsewhere), its JSON API compared with the CLI's `--json`, its actions with and without the
//! token, a running try's log followed live, and `/metrics` parsed by Prometheus' own parser.

mod common;

use common::Env;
use common::web::{WebServer, in_chromium};
use serde_json::{Value, json};

const TOKEN: &str = "t0ken-for-the-web-test";

const DEMO: &str = r#"
web_demo:
  schedule: "@daily"
  start_date: 2026-11-01
  description: "a DAG seen in the browser"
  tags: [demo, web]
  tasks:
    - task_id: greet
      operator: command
      bash_command: "echo hello from {{ ds }}; echo token {{ var.value.api_token }}"
    - task_id: after_greet
      operator: command
      bash_command: "echo done"
      dependencies: [greet]
    - task_id: fail_me
      operator: command
      bash_command: "echo about to fail; exit 3"
      dependencies: [greet]
"#;

const SLOW: &str = r#"
slow_one:
  schedule: null
  tags: [other]
  tasks:
    - task_id: slow
      operator: command
      bash_command: "echo first-line; sleep 8; echo second-line"
"#;

fn demo_env() -> Env {
    let env = Env::new(&[("demo.yml", DEMO), ("slow.yml", SLOW)]);
    env.cmd(&["variables", "set", "api_token", "hunter2-secret"])
        .assert()
        .success();
    env.cmd(&["variables", "set", "region", "eu-west-1"])
        .assert()
        .success();
    env.cmd(&[
        "connections",
        "add",
        "s3_box",
        "--url",
        "s3://bucket/prefix",
        "--extra",
        r#"{"aws_access_key_id": "AKIDEXAMPLE", "aws_secret_access_key": "pw-very-secret"}"#,
    ])
    .assert()
    .success();
    // Two failed runs (fail_me exits 3), one with a conf.
    env.cmd(&["trigger", "web_demo", "--run-id", "first"])
        .assert()
        .code(1);
    env.cmd(&[
        "trigger",
        "web_demo",
        "--run-id",
        "second",
        "--conf",
        r#"{"k": "v"}"#,
    ])
    .assert()
    .code(1);
    env
}

/// The API answers exactly what the CLI's `--json` prints.
fn same_as_cli(env: &Env, web: &WebServer, path: &str, cli: &[&str]) {
    assert_eq!(web.json(path), env.json(cli), "{path} vs dagctl {cli:?}");
}

#[test]
fn pages_api_actions_and_metrics_on_a_sqlite_store() {
    let env = demo_env();
    let web = WebServer::start(&env, Some(TOKEN), &[]);

    // The JSON API is the CLI's --json.
    same_as_cli(&env, &web, "/api/v1/dags", &["dags", "list", "--json"]);
    same_as_cli(
        &env,
        &web,
        "/api/v1/dags/web_demo",
        &["dags", "show", "web_demo", "--json"],
    );
    same_as_cli(
        &env,
        &web,
        "/api/v1/runs?limit=50",
        &["runs", "list", "--json"],
    );
    same_as_cli(
        &env,
        &web,
        "/api/v1/dags/web_demo/runs/second",
        &["runs", "show", "second", "--dag", "web_demo", "--json"],
    );
    same_as_cli(
        &env,
        &web,
        "/api/v1/variables",
        &["variables", "list", "--json"],
    );
    same_as_cli(&env, &web, "/api/v1/pools", &["pools", "list", "--json"]);
    same_as_cli(
        &env,
        &web,
        "/api/v1/connections",
        &["connections", "list", "--json"],
    );
    let vars = web.json("/api/v1/variables");
    assert_eq!(vars["api_token"], "***");
    assert_eq!(vars["region"], "eu-west-1");
    let grid = web.json("/api/v1/dags/web_demo/grid");
    assert_eq!(grid["runs"][0]["run_id"], "second", "newest first: {grid}");
    assert_eq!(grid["runs"][0]["tasks"]["fail_me"]["state"], "failed");
    assert_eq!(grid["runs"][1]["tasks"]["greet"]["state"], "success");

    // Errors name what is missing, with the right status, as JSON under /api.
    let missing = web.get("/api/v1/dags/web_demo/runs/nope");
    assert_eq!(missing.status, 404, "{}", missing.body);
    assert!(missing.body.contains("nope"), "{}", missing.body);
    assert_eq!(web.get("/dags/no_such_dag").status, 404);
    let bad = web.get("/api/v1/runs?state=exploded");
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("exploded"));

    // The log, masked, from an offset.
    let log = web.json("/api/v1/dags/web_demo/runs/first/tasks/greet/tries/1/log");
    let text = log["text"].as_str().unwrap();
    assert!(text.contains("hello from"), "{log}");
    assert!(
        !text.contains("hunter2-secret") && text.contains("token ***"),
        "{log}"
    );
    assert_eq!(log["finished"], true);
    let tail = web.json(&format!(
        "/api/v1/dags/web_demo/runs/first/tasks/greet/tries/1/log?offset={}",
        text.find("token").unwrap()
    ));
    assert_eq!(tail["text"], "token ***\n");

    // No page or answer holds a secret.
    for path in [
        "/",
        "/variables",
        "/connections",
        "/dags/web_demo/runs/first/tasks/greet/tries/1",
        "/api/v1/connections",
    ] {
        let r = web.get(path);
        assert_eq!(r.status, 200, "{path}");
        assert!(
            !r.body.contains("hunter2-secret") && !r.body.contains("pw-very-secret"),
            "{path} shows a secret"
        );
    }

    // Actions: refused without the token, nothing changed.
    let before = env.runs().len();
    let refused = web.request(
        "POST",
        "/api/v1/dags/web_demo/runs",
        &[("Content-Type", "application/json")],
        Some(r#"{"conf": {"a": 1}}"#),
    );
    assert_eq!(refused.status, 403, "{}", refused.body);
    let form = web.request(
        "POST",
        "/dags/web_demo/pause",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some("paused=true"),
    );
    assert_eq!(form.status, 403);
    let wrong = web.request(
        "POST",
        "/api/v1/dags/web_demo/runs",
        &[("Authorization", "Bearer not-the-token")],
        None,
    );
    assert_eq!(wrong.status, 403);
    assert_eq!(env.runs().len(), before);

    // With the token: trigger with a conf (queued, for the scheduler), pause, mark, clear.
    let auth = format!("Bearer {TOKEN}");
    let bearer = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    let made = web.request(
        "POST",
        "/api/v1/dags/web_demo/runs",
        &bearer,
        Some(r#"{"conf": {"password": "p4ss-in-conf", "n": 2}, "run_id": "from_web"}"#),
    );
    assert_eq!(made.status, 200, "{}", made.body);
    let made: Value = serde_json::from_str(&made.body).unwrap();
    assert_eq!(made["state"], "queued");
    assert_eq!(made["conf"]["password"], "***");
    let shown = env.json(&["runs", "show", "from_web", "--json"]);
    assert_eq!(shown["state"], "queued");
    assert_eq!(shown["conf"]["n"], 2);
    // A conf that is not an object is the caller's fault: 400, and no run.
    let listed = env.runs().len();
    let not_object = web.request(
        "POST",
        "/api/v1/dags/web_demo/runs",
        &bearer,
        Some(r#"{"conf": [1, 2]}"#),
    );
    assert_eq!(not_object.status, 400, "{}", not_object.body);
    assert_eq!(env.runs().len(), listed);
    let bad_conf = web.request(
        "POST",
        "/dags/web_demo/trigger",
        &[
            ("Authorization", auth.as_str()),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        Some("conf=%7Bnot+json"),
    );
    assert_eq!(bad_conf.status, 400);
    assert!(
        bad_conf.body.contains("--conf is not valid JSON"),
        "{}",
        bad_conf.body
    );

    let paused = web.request(
        "POST",
        "/api/v1/dags/web_demo/pause",
        &bearer,
        Some(r#"{"paused": true}"#),
    );
    assert_eq!(paused.status, 200, "{}", paused.body);
    let page = web.get("/");
    assert!(page.body.contains("paused"), "the list shows the pause");

    let marked = web.request(
        "POST",
        "/api/v1/dags/web_demo/runs/from_web/mark",
        &bearer,
        Some(r#"{"state": "failed"}"#),
    );
    assert_eq!(marked.status, 200, "{}", marked.body);
    assert_eq!(
        env.json(&["runs", "show", "from_web", "--json"])["state"],
        "failed"
    );
    let bad_mark = web.request(
        "POST",
        "/api/v1/dags/web_demo/runs/from_web/mark",
        &bearer,
        Some(r#"{"state": "running"}"#),
    );
    assert_eq!(bad_mark.status, 400);

    // Clear through the form, signed in with the cookie /login sets.
    let login = web.request(
        "POST",
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some(&format!("token={TOKEN}")),
    );
    assert_eq!(login.status, 303, "{}", login.body);
    let cookie = login.header("set-cookie").unwrap().to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    let cookie = cookie.split(';').next().unwrap().to_string();
    // The cookie acts only from this server's pages: another site's form (another origin,
    // or none said) is refused and changes nothing.
    // A proxy's (or a browser's cached) Basic credentials are not a token either.
    for (origin, basic) in [
        (Some("http://evil.example"), false),
        (Some("http://127.0.0.1:1"), false),
        (None, false),
        (None, true),
    ] {
        let mut headers = vec![
            ("Cookie", cookie.as_str()),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ];
        headers.extend(origin.map(|o| ("Origin", o)));
        if basic {
            headers.push(("Authorization", "Basic dXNlcjpwdw=="));
        }
        let forged = web.request(
            "POST",
            "/dags/web_demo/runs/first/clear",
            &headers,
            Some("task_id=fail_me&downstream=true"),
        );
        assert_eq!(forged.status, 403, "{origin:?}: {}", forged.body);
        assert!(forged.body.contains("another site"), "{}", forged.body);
        assert_eq!(
            env.json(&["runs", "show", "first", "--json"])["state"],
            "failed"
        );
    }
    let cleared = web.request(
        "POST",
        "/dags/web_demo/runs/first/clear",
        &[
            ("Cookie", cookie.as_str()),
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Origin", web.base.as_str()),
        ],
        Some("task_id=fail_me&downstream=true"),
    );
    assert_eq!(cleared.status, 303, "{}", cleared.body);
    let first = env.json(&["runs", "show", "first", "--json"]);
    assert_eq!(first["state"], "queued");
    let states: Vec<(&str, &str)> = first["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["task_id"].as_str().unwrap(), t["state"].as_str().unwrap()))
        .collect();
    assert!(states.contains(&("fail_me", "none")), "{states:?}");
    assert!(states.contains(&("greet", "success")), "{states:?}");

    // Marking a run as it is already changes nothing, and counts no second end.
    let again = web.request(
        "POST",
        "/api/v1/dags/web_demo/runs/second/mark",
        &bearer,
        Some(r#"{"state": "failed"}"#),
    );
    assert_eq!(again.status, 200, "{}", again.body);
    metrics_agree_with_the_store(&env, &web);

    // The pages in a real browser.
    let Some(list) = in_chromium(&format!("{}/", web.base), None) else {
        return;
    };
    assert!(list.text.contains("web_demo") && list.text.contains("a DAG seen in the browser"));
    assert!(
        list.text.contains("slow_one") && list.text.contains("paused"),
        "{}",
        list.text
    );
    let only = in_chromium(&format!("{}/?tag=other", web.base), None).unwrap();
    assert!(
        only.text.contains("slow_one") && !only.text.contains("web_demo"),
        "{}",
        only.text
    );
    let dag = in_chromium(&format!("{}/dags/web_demo", web.base), None).unwrap();
    for s in [
        "Graph", "Grid", "greet", "fail_me", "second", "first", "from_web", "page 1",
    ] {
        assert!(
            dag.text.contains(s),
            "`{s}` not on the DAG page: {}",
            dag.text
        );
    }
    let run = in_chromium(&format!("{}/dags/web_demo/runs/second", web.base), None).unwrap();
    for s in [
        "failed",
        "`bash` exited with status 3",
        "try 1",
        "{\"k\":\"v\"}",
        "after_greet",
    ] {
        assert!(
            run.text.contains(s),
            "`{s}` not on the run page: {}",
            run.text
        );
    }
    let log = in_chromium(
        &format!("{}/dags/web_demo/runs/second/tasks/greet/tries/1", web.base),
        None,
    )
    .unwrap();
    assert!(
        log.text.contains("hello from") && log.text.contains("token ***"),
        "{}",
        log.text
    );
    assert!(!log.text.contains("hunter2"));
    for (path, expect) in [
        ("/variables", "eu-west-1"),
        ("/pools", "default_pool"),
        ("/connections", "s3_box"),
        ("/models", "No model registered yet"),
        ("/experiments", "No training run recorded yet"),
    ] {
        let seen = in_chromium(&format!("{}{path}", web.base), None).unwrap();
        assert!(seen.text.contains(expect), "{path}: {}", seen.text);
        assert!(!seen.text.contains("hunter2") && !seen.text.contains("pw-very-secret"));
    }
}

/// `/metrics`, parsed by Prometheus' parser, agrees with the store (the runs and tries
/// `pages_api_actions_and_metrics_on_a_sqlite_store` made).
fn metrics_agree_with_the_store(env: &Env, web: &WebServer) {
    let scraped = web.get("/metrics");
    assert_eq!(scraped.status, 200);
    assert!(
        scraped
            .header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    let Some(samples) = parsed_metrics(&scraped.body) else {
        return;
    };
    let value = |name: &str, labels: &[(&str, &str)]| -> Option<f64> {
        samples
            .iter()
            .find(|s| {
                s["name"] == name
                    && labels.iter().all(|(k, v)| s["labels"][*k] == *v)
                    && s["labels"].as_object().unwrap().len() == labels.len()
            })
            .and_then(|s| s["value"].as_f64())
    };
    // `second` failed; `from_web` was marked failed; `first` failed and is queued again
    // since its clear, and its end still counts: counters never fall.
    assert_eq!(
        value(
            "dagctl_dag_runs_total",
            &[("dag_id", "web_demo"), ("state", "failed")]
        ),
        Some(3.0)
    );
    assert_eq!(
        value(
            "dagctl_dag_runs_total",
            &[("dag_id", "web_demo"), ("state", "success")]
        ),
        None,
        "no run of web_demo succeeded"
    );
    assert_eq!(
        value(
            "dagctl_dag_runs_active",
            &[("dag_id", "web_demo"), ("state", "queued")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            "dagctl_task_try_duration_seconds_count",
            &[("dag_id", "web_demo")]
        ),
        Some(6.0),
        "two runs of three tasks"
    );
    assert_eq!(
        value("dagctl_pool_slots", &[("pool", "default_pool")]),
        Some(128.0)
    );
    // Nothing runs now: no slot used, none queued for a worker.
    assert_eq!(
        value("dagctl_pool_used_slots", &[("pool", "default_pool")]),
        Some(0.0)
    );
    assert_eq!(
        value("dagctl_pool_open_slots", &[("pool", "default_pool")]),
        Some(128.0)
    );
    assert_eq!(value("dagctl_queued_tries", &[]), Some(0.0));
    // greet and after_greet succeeded in both runs, fail_me failed in both (the clear of
    // `first` takes nothing back).
    let ti = |state| {
        value(
            "dagctl_task_instances_total",
            &[("dag_id", "web_demo"), ("state", state)],
        )
    };
    assert_eq!(ti("success"), Some(4.0));
    assert!(ti("failed").is_some_and(|n| n >= 2.0), "{:?}", ti("failed"));
    let runs_timed = value(
        "dagctl_dag_run_duration_seconds_count",
        &[("dag_id", "web_demo")],
    );
    assert!(runs_timed.is_some_and(|n| n >= 2.0), "{runs_timed:?}");
    assert!(value("dagctl_workers_alive", &[]).is_some());
    // No unbounded label: no run id anywhere.
    for s in &samples {
        for (_, v) in s["labels"].as_object().unwrap() {
            let v = v.as_str().unwrap();
            assert!(!["first", "second", "from_web"].contains(&v), "{s}");
        }
        assert!(s["name"].as_str().unwrap().starts_with("dagctl_"), "{s}");
    }
    // `dagctl metrics` prints the same families.
    let once = env.cmd(&["metrics"]).output().unwrap();
    assert!(once.status.success());
    let families = |samples: &[Value]| {
        let mut f: Vec<String> = samples
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_string())
            .collect();
        f.sort();
        f.dedup();
        f
    };
    assert_eq!(
        families(&parsed_metrics(&String::from_utf8(once.stdout).unwrap()).unwrap()),
        families(&samples)
    );
}

/// The samples of a Prometheus text exposition, parsed by `prometheus_client` (the test
/// virtualenv's); the test fails on text the parser refuses.
fn parsed_metrics(text: &str) -> Option<Vec<Value>> {
    let python = common::test_python()?;
    use std::io::Write;
    let mut child = std::process::Command::new(python)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/python/parse_metrics.py"
        ))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}\n{text}", common::out_text(&out));
    Some(
        serde_json::from_slice::<Value>(&out.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .clone(),
    )
}

#[test]
fn a_running_tries_log_is_followed_live_in_the_browser() {
    let env = Env::new(&[("slow.yml", SLOW)]);
    let web = WebServer::start(&env, None, &[]);
    let mut running = env
        .process(&["trigger", "slow_one", "--run-id", "live"])
        .spawn()
        .unwrap();
    // Wait until the try runs (its log reaches the store at each heartbeat, 5 s).
    let path = "/dags/slow_one/runs/live/tasks/slow/tries/1";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let r = web.get(&format!("/api/v1{path}/log"));
        if r.status == 200 {
            let v: Value = serde_json::from_str(&r.body).unwrap();
            assert_eq!(
                v["finished"], false,
                "the try ended before the page could follow it"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the try never started: {}",
            r.body
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let first = web.get(path);
    assert!(!first.body.contains("second-line"));
    assert!(first.body.contains("data-follow=\"true\""));
    if let Some(seen) = in_chromium(&format!("{}{path}", web.base), Some("second-line")) {
        assert!(
            seen.text.contains("first-line\nsecond-line"),
            "{}",
            seen.text
        );
        assert!(
            seen.text.contains("success"),
            "the state badge follows too: {}",
            seen.text
        );
    }
    assert!(running.wait().unwrap().success());
    let done = web.json(&format!("/api/v1{path}/log"));
    assert_eq!(done["finished"], true);
    assert_eq!(done["state"], "success");
}

#[test]
fn a_non_loopback_address_needs_a_token_and_reads_on_loopback_need_none() {
    let env = Env::new(&[("slow.yml", SLOW)]);
    let out = env
        .cmd(&["webserver", "--bind", "0.0.0.0:0"])
        .env_remove("DAGCTL_WEB_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("DAGCTL_WEB_TOKEN") && err.contains("0.0.0.0"),
        "{err}"
    );
    // A short token is refused there (it would be guessed), and not echoed.
    let out = env
        .cmd(&["webserver", "--bind", "0.0.0.0:0"])
        .env("DAGCTL_WEB_TOKEN", "abc123")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("at least 16") && !err.contains("abc123"),
        "{err}"
    );
    // With a token, on every address: nothing is read without it, whatever the Host.
    let open = WebServer::start_on(&env, "0.0.0.0:0", Some("wide-token-0123456789"), &[]);
    for path in ["/api/v1/dags", "/metrics"] {
        let r = open.get(path);
        assert_eq!(r.status, 401, "{path}: {}", r.body);
        assert!(!r.body.contains("slow_one"));
    }
    let page = open.get("/");
    assert_eq!(page.status, 303);
    assert_eq!(page.header("location"), Some("/login"));
    let bearer = [("Authorization", "Bearer wide-token-0123456789")];
    assert_eq!(
        open.request("GET", "/api/v1/dags", &bearer, None).status,
        200
    );
    let named = [bearer[0], ("Host", "dagctl.example:8080")];
    assert_eq!(open.request("GET", "/", &named, None).status, 200);
    drop(open);
    // On loopback without a token: pages and API open, actions disabled with a hint.
    let web = WebServer::start(&env, None, &[]);
    assert_eq!(web.get("/").status, 200);
    assert_eq!(web.json("/api/v1/dags")[0]["dag_id"], "slow_one");
    // …but only to a loopback name: another (DNS rebinding) reads nothing.
    for (path, says) in [("/api/v1/dags", "DNS rebinding"), ("/", "DNS rebinding")] {
        let r = web.request("GET", path, &[("Host", "evil.example")], None);
        assert_eq!(r.status, 403, "{path}");
        assert!(
            r.body.contains(says) && !r.body.contains("slow_one"),
            "{}",
            r.body
        );
    }
    let port = web.base.rsplit(':').next().unwrap();
    let by_name = web.request("GET", "/", &[("Host", &format!("localhost:{port}"))], None);
    assert_eq!(by_name.status, 200);
    let refused = web.request(
        "POST",
        "/api/v1/dags/slow_one/runs",
        &[("Authorization", "Bearer x")],
        None,
    );
    assert_eq!(refused.status, 403);
    assert!(
        refused.body.contains("actions are disabled"),
        "{}",
        refused.body
    );
    assert_eq!(json!(env.runs()), json!([]));
}

#[test]
fn the_loop_in_the_web_view_models_experiments_reports_and_their_metrics() {
    let env = Env::shipped();
    env.cmd(&[
        "backfill",
        "01_data_generation_pipeline",
        "--start",
        "2026-01-01",
        "--end",
        "2026-01-02",
    ])
    .assert()
    .success();
    // A backfill runs the monitoring DAG before any version is in production (its checks say
    // so): check the second day again now that one is.
    env.cmd(&[
        "trigger",
        "04_model_monitoring_pipeline",
        "--logical-date",
        "2026-01-02",
        "--run-id",
        "monitor_again",
        "--no-follow",
    ])
    .assert()
    .success();
    let web = WebServer::start(&env, None, &[]);
    same_as_cli(
        &env,
        &web,
        "/api/v1/models/churn_model",
        &["models", "show", "churn_model", "--json"],
    );
    same_as_cli(
        &env,
        &web,
        "/api/v1/experiments",
        &["experiments", "runs", "--json"],
    );
    let model = web.get("/models/churn_model");
    assert_eq!(model.status, 200);
    assert!(model.body.contains("class=\"chart\""), "the metric chart");
    assert_eq!(
        model.body.matches("verified").count(),
        2,
        "both versions verify"
    );
    // A tampered file shows as a mismatch, as `models verify` says.
    let versions = env.json(&["models", "show", "churn_model", "--json"]);
    let artifact = versions["versions"][0]["artifact"]["key"]
        .as_str()
        .unwrap()
        .to_string();
    let file = env.home().join("data").join(&artifact);
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[10] ^= 0xff;
    std::fs::write(&file, bytes).unwrap();
    let model = web.get("/models/churn_model");
    assert!(
        model.body.contains("MISMATCH"),
        "a changed model file is reported"
    );

    // The reports of the loop's runs, linked from their run pages, served whole.
    let mut reports = Vec::new();
    for r in env.runs() {
        let page = web.get(&format!(
            "/dags/{}/runs/{}",
            r["dag_id"].as_str().unwrap(),
            percent(r["run_id"].as_str().unwrap())
        ));
        assert_eq!(page.status, 200);
        for part in page.body.split("href=\"").skip(1) {
            let link = &part[..part.find('"').unwrap()];
            if link.contains("/reports/") {
                reports.push(link.to_string());
            }
        }
    }
    let mut kinds = std::collections::BTreeSet::new();
    for link in &reports {
        let r = web.get(link);
        assert_eq!(r.status, 200, "{link}: {}", r.body);
        assert!(r.header("content-type").unwrap().starts_with("text/html"));
        assert!(
            r.header("content-security-policy")
                .unwrap()
                .contains("default-src 'none'")
        );
        for kind in ["Validation of", "Drift of"] {
            if r.body.contains(kind) {
                kinds.insert(kind);
            }
        }
    }
    assert_eq!(
        kinds.len(),
        2,
        "validation and drift reports among {reports:?} of {:?}",
        env.runs()
            .iter()
            .map(|r| (r["dag_id"].clone(), r["run_id"].clone()))
            .collect::<Vec<_>>()
    );

    if let Some(scraped) = parsed_metrics(&web.get("/metrics").body) {
        let has = |name: &str| {
            scraped
                .iter()
                .any(|s| s["name"] == name && s["labels"]["model"] == "churn_model")
        };
        assert!(has("dagctl_model_production_version"));
        assert!(has("dagctl_model_production_metric"));
        assert!(has("dagctl_model_drift_share"));
    }

    let Some(seen) = in_chromium(&format!("{}/models/churn_model", web.base), None) else {
        return;
    };
    for s in [
        "v1",
        "v2",
        "production",
        "MISMATCH",
        "challenger on holdout",
        "History",
    ] {
        assert!(
            seen.text.contains(s),
            "`{s}` not on the model page: {}",
            seen.text
        );
    }
    let seen = in_chromium(&format!("{}/experiments", web.base), None).unwrap();
    assert!(seen.text.contains("gradient_boosting"), "{}", seen.text);
    for link in reports.iter().take(2) {
        in_chromium(&format!("{}{link}", web.base), None).unwrap();
    }
}

/// A run id as a URL path segment.
fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

const MANY: &str = r#"
many:
  schedule: "@daily"
  start_date: 2026-01-01
  catchup: false
  tasks:
    - task_id: extract
      operator: noop
    - task_id: check
      operator: command
      bash_command: "test {{ ds }} != 2026-01-30"
      dependencies: [extract]
"#;

#[test]
fn the_grid_pages_through_runs_and_the_graph_and_list_show_the_latest_states() {
    let env = Env::new(&[("many.yml", MANY)]);
    // 30 daily runs; the newest one's `check` fails.
    let out = env
        .cmd(&[
            "backfill",
            "many",
            "--start",
            "2026-01-01",
            "--end",
            "2026-01-30",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", common::out_text(&out));
    let web = WebServer::start(&env, None, &[]);

    // The grid: 25 runs a page, newest first, then the 5 oldest; pages say what follows.
    let first = web.json("/api/v1/dags/many/grid");
    let ids = |g: &Value| -> Vec<String> {
        g["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["logical_date"].as_str().unwrap()[..10].to_string())
            .collect()
    };
    let newest = ids(&first);
    assert_eq!(newest.len(), 25);
    assert_eq!(newest[0], "2026-01-30");
    assert_eq!(newest[24], "2026-01-06");
    assert_eq!(first["more"], true);
    assert_eq!(first["runs"][0]["tasks"]["check"]["state"], "failed");
    let second = web.json("/api/v1/dags/many/grid?page=1");
    assert_eq!(
        ids(&second),
        [
            "2026-01-05",
            "2026-01-04",
            "2026-01-03",
            "2026-01-02",
            "2026-01-01"
        ]
    );
    assert_eq!(second["more"], false);
    let page = web.get("/dags/many");
    assert!(page.body.contains("page 1") && page.body.contains("?page=1\">older runs"));
    assert!(!page.body.contains("newer runs"));
    let older = web.get("/dags/many?page=1");
    assert!(older.body.contains("page 2") && older.body.contains("?page=0\">← newer runs"));
    assert!(!older.body.contains("older runs"));

    // The graph colours each task by the newest run's state.
    for (task, state) in [("extract", "success"), ("check", "failed")] {
        let node = format!("<g class=\"task state-{state}\" data-task=\"{task}\">");
        assert!(page.body.contains(&node), "{node} not in the graph");
    }
    assert!(page.body.contains("<path class=\"edge\""));

    // The list: the last ten runs' states (newest right), the next run, not paused.
    let list = web.get("/");
    let cells: Vec<&str> = list
        .body
        .match_indices("class=\"cell state-")
        .map(|(i, _)| {
            let rest = &list.body[i + 18..];
            &rest[..rest.find('"').unwrap()]
        })
        .collect();
    assert_eq!(cells.len(), 10, "{}", list.body);
    assert_eq!(cells[9], "failed");
    assert!(cells[..9].iter().all(|s| *s == "success"), "{cells:?}");
    // Without catchup, the next run is the latest interval, due since midnight (no scheduler
    // runs here); backfilled runs do not move it.
    let today = chrono::Utc::now()
        .format("%Y-%m-%d 00:00:00 (due)")
        .to_string();
    assert!(
        list.body.contains(&today),
        "next run {today}: {}",
        list.body
    );
    assert!(list.body.contains("active"));

    // Once a backfill covered the latest interval, the next run is the one after it, not due.
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    env.cmd(&[
        "backfill", "many", "--start", &yesterday, "--end", &yesterday,
    ])
    .output()
    .unwrap();
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1))
        .format("%Y-%m-%d 00:00:00")
        .to_string();
    let list = web.get("/").body;
    assert!(
        list.contains(&tomorrow) && !list.contains("(due)"),
        "next run {tomorrow}: {list}"
    );

    if let Some(seen) = in_chromium(&format!("{}/dags/many?page=1", web.base), None) {
        assert!(seen.text.contains("page 2") && seen.text.contains("newer runs"));
    }
}

#[test]
fn a_running_scheduler_shows_in_the_metrics_with_its_loop_times() {
    let env = Env::new(&[("slow.yml", SLOW)]);
    let web = WebServer::start(&env, None, &[]);
    let mut scheduler = env
        .process(&["scheduler"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Its heartbeat (every 5 s) reaches the store and so the scrape.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let alive = "dagctl_schedulers_alive{role=\"scheduler\"} 1";
    let text = loop {
        let text = web.get("/metrics").body;
        if text.contains(alive) || std::time::Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
    };
    let _ = scheduler.kill();
    let _ = scheduler.wait();
    assert!(text.contains(alive), "{text}");
    let sample = |name: &str| -> f64 {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{name}{{role=\"scheduler\"}} ")))
            .unwrap_or_else(|| panic!("no {name} in {text}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert!(sample("dagctl_scheduler_loop_seconds_count") >= 1.0);
    assert!(sample("dagctl_scheduler_loop_seconds_sum") >= 0.0);
    let age = sample("dagctl_scheduler_heartbeat_age_seconds");
    assert!((0.0..30.0).contains(&age), "{age}");
    if let Some(samples) = parsed_metrics(&text) {
        assert!(
            samples
                .iter()
                .any(|s| s["name"] == "dagctl_scheduler_loop_seconds_max")
        );
    }
}
