//! Secrets as a user keeps them: Variables and connections sealed in the database with a key
//! file made `0600` on first use (or `DAGCTL_FERNET_KEY`), rotated by `dagctl
//! rotate-fernet-key`, and masked as `***` wherever dagctl writes or shows them — task logs,
//! task errors, XCom, `runs show`, `dag_run.conf`.

use crate::common;

use common::Env;

const VAR: &str = "planted-var-7Qx2";
const EXTRA: &str = "planted-extra-9Kp4";
const URL_PW: &str = "planted-url-3Wz8";
const CONF: &str = "planted-conf-5Mv1";

const DAG: &str = r#"
dag_id: leaky
tasks:
  echo:
    operator: command
    bash_command: "echo pw={{ var.value.db_password }}; echo token={{ dag_run.conf.api_token }}; echo pw={{ var.value.db_password }}"
  fail:
    operator: command
    program: "/nonexistent/{{ var.value.db_password }}"
"#;

fn planted(text: &str) -> Option<&'static str> {
    [VAR, EXTRA, URL_PW, CONF]
        .into_iter()
        .find(|p| text.contains(p))
}

/// Everything in the home, database, WAL and data files alike, as text.
fn home_bytes(env: &Env) -> String {
    let mut all = Vec::new();
    let mut stack = vec![env.home()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                all.extend(std::fs::read(&p).unwrap_or_default());
            }
        }
    }
    String::from_utf8_lossy(&all).into_owned()
}

#[test]
fn secrets_are_sealed_at_rest_and_masked_in_every_output() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new(&[("leaky.yaml", DAG)]);
    let mut shown = String::new();
    let mut run = |args: &[&str]| {
        let out = env.process(args).output().unwrap();
        let text = common::out_text(&out);
        shown.push_str(&text);
        (out.status.success(), text)
    };
    assert!(run(&["variables", "set", "db_password", VAR]).0);
    let extra = format!(
        r#"{{"aws_access_key_id": "AKIDLAKE", "aws_secret_access_key": "{EXTRA}", "region": "eu-west-1"}}"#
    );
    assert!(
        run(&[
            "connections",
            "add",
            "lake",
            "--url",
            "s3://lake/data",
            "--extra",
            &extra
        ])
        .0
    );
    let url = format!("https://hooks:{URL_PW}@hooks.example/notify");
    assert!(run(&["connections", "add", "hook", "--url", &url]).0);
    let conf = format!(r#"{{"api_token": "{CONF}", "day": "2026-01-05"}}"#);
    let (ok, text) = run(&["trigger", "leaky", "--run-id", "r1", "--conf", &conf]);
    assert!(!ok, "the failing task fails the run: {text}");

    // Logs, errors, conf and XCom show `***` where the secrets were.
    let (_, log) = run(&["tasks", "logs", "r1", "echo"]);
    assert!(log.contains("pw=***") && log.contains("token=***"), "{log}");
    let (_, log) = run(&["tasks", "logs", "r1", "fail"]);
    assert!(log.contains("/nonexistent/***"), "{log}");
    let (_, show) = run(&["runs", "show", "r1"]);
    assert!(show.contains("\"api_token\":\"***\""), "{show}");
    let (_, json) = run(&["runs", "show", "r1", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    let error = json["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["task_id"] == "fail")
        .unwrap()["tries"][0]["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(error.contains("***"), "{error}");
    run(&["runs", "list", "--json"]);
    run(&["tasks", "test", "leaky", "echo", "--conf", &conf]);
    run(&["tasks", "test", "leaky", "fail"]);
    run(&["connections", "list"]);
    run(&["connections", "get", "lake"]);
    run(&["connections", "get", "hook", "--json"]);
    let (_, list) = run(&["variables", "list"]);
    assert!(list.contains("***"), "{list}");
    let (ok, text) = run(&["variables", "get", "db_password"]);
    assert!(!ok && text.contains("--reveal"), "{text}");
    assert_eq!(
        planted(&shown),
        None,
        "a planted secret was shown:\n{shown}"
    );

    // At rest: no Variable or connection secret in plain text anywhere in the home (logs and
    // XCom included; `dag_run.conf` is kept as given, masked when shown); the home, database
    // and key are private.
    let stored = home_bytes(&env);
    for secret in [VAR, EXTRA, URL_PW] {
        assert!(!stored.contains(secret), "{secret} is stored in plain text");
    }
    let mode = |p: std::path::PathBuf| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(env.home()), 0o700);
    assert_eq!(mode(env.home().join("dagctl.db")), 0o600);
    assert_eq!(mode(env.home().join("fernet.key")), 0o600);

    // The value itself, when asked for explicitly.
    let out = env
        .process(&["variables", "get", "db_password", "--reveal"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), VAR);
}

#[test]
fn a_key_rotation_keeps_every_secret_readable_and_the_old_key_useless() {
    let env = Env::new(&[]);
    env.cmd(&["variables", "set", "api_token", VAR])
        .assert()
        .success();
    env.cmd(&[
        "connections",
        "add",
        "lake",
        "--url",
        "s3://bucket/data",
        "--extra",
    ])
    .arg(format!(
        r#"{{"aws_access_key_id": "AKID", "aws_secret_access_key": "{EXTRA}"}}"#
    ))
    .assert()
    .success();
    let key_file = env.home().join("fernet.key");
    let old_key = std::fs::read_to_string(&key_file).unwrap();
    let out = env
        .process(&["rotate-fernet-key", "--new-key"])
        .output()
        .unwrap();
    let text = common::out_text(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("sealed 2 "), "{text}");
    let new_key = std::fs::read_to_string(&key_file).unwrap();
    assert_ne!(old_key, new_key);
    assert_eq!(new_key.lines().count(), 1, "old keys are dropped");
    assert!(
        !text.contains(old_key.trim()) && !text.contains(new_key.trim()),
        "{text}"
    );
    let reveal = |key_env: Option<&str>| {
        let mut c = env.process(&["variables", "get", "api_token", "--reveal"]);
        if let Some(k) = key_env {
            c.env("DAGCTL_FERNET_KEY", k);
        }
        c.output().unwrap()
    };
    let out = reveal(None);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), VAR);
    // The same key given in the environment opens them too (as every machine of a deployment
    // would); the old key no longer does, and says so without showing anything.
    assert_eq!(
        String::from_utf8_lossy(&reveal(Some(new_key.trim())).stdout).trim(),
        VAR
    );
    let out = reveal(Some(old_key.trim()));
    let text = common::out_text(&out);
    assert!(!out.status.success());
    assert!(
        text.contains("sealed with a key") && text.contains("DAGCTL_FERNET_KEY"),
        "{text}"
    );
    assert_eq!(planted(&text), None);
    let out = reveal(Some("not-a-key-at-all"));
    let text = common::out_text(&out);
    assert!(!out.status.success());
    assert!(
        text.contains("DAGCTL_FERNET_KEY holds a key that is not a Fernet key"),
        "{text}"
    );
    assert!(!text.contains("not-a-key-at-all"), "{text}");
    // `NEW,OLD` in the environment: a rotation there, then only NEW is needed.
    let fresh = "2Kq3-ZPgnPlBDdsMrRTuGaWB4xHcfI7dEPmB9UXLrbw=";
    let both = format!("{fresh},{}", new_key.trim());
    let out = env
        .process(&["rotate-fernet-key"])
        .env("DAGCTL_FERNET_KEY", &both)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::out_text(&out));
    assert_eq!(
        String::from_utf8_lossy(&reveal(Some(fresh)).stdout).trim(),
        VAR
    );
    let conns = env
        .process(&["connections", "get", "lake"])
        .env("DAGCTL_FERNET_KEY", fresh)
        .output()
        .unwrap();
    assert!(conns.status.success(), "{}", common::out_text(&conns));
}

/// A `--conf` too large to copy into every task is refused before any run exists.
#[test]
fn an_oversized_conf_is_refused_before_a_run_exists() {
    let env = Env::new(&[("d.yaml", "dag_id: d\ntasks:\n  t: {operator: noop}\n")]);
    let big = format!(r#"{{"blob": "{}"}}"#, "x".repeat(70_000));
    let out = env
        .process(&["trigger", "d", "--conf", &big])
        .output()
        .unwrap();
    let text = common::out_text(&out);
    assert!(!out.status.success());
    assert!(text.contains("more than the 65536 a run keeps"), "{text}");
    assert!(text.len() < 2_000, "the conf is not echoed");
    assert_eq!(env.runs().len(), 0);
}
