//! `dagctl variables|connections export|import` as a user types them: files in Airflow's
//! shapes, secrets only with `--with-secrets` (and then a file only its owner reads), imports
//! checked whole before anything is written.

use crate::common;

use std::os::unix::fs::PermissionsExt;

use common::{Env, out_text};
use serde_json::{Value, json};

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn read(path: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn variables_travel_between_homes_and_secrets_only_when_asked() {
    let env = Env::new(&[]);
    for (k, v) in [
        ("region", "eu-west-1"),
        ("cfg", r#"{"a": [1, 2]}"#),
        ("db_password", "pw-9d8f7s6"),
    ] {
        env.cmd(&["variables", "set", k, v]).assert().success();
    }
    let plain = env.dir.path().join("vars.json");
    let out = env
        .cmd(&["variables", "export", plain.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", out_text(&out));
    assert!(out_text(&out).contains("left out 1 Variable(s) holding secrets: db_password"));
    assert_eq!(
        read(&plain),
        json!({"region": "eu-west-1", "cfg": {"a": [1, 2]}})
    );
    let all = env.dir.path().join("all.json");
    env.cmd(&[
        "variables",
        "export",
        all.to_str().unwrap(),
        "--with-secrets",
    ])
    .assert()
    .success();
    assert_eq!(read(&all)["db_password"], "pw-9d8f7s6");
    assert_eq!(mode(&all), 0o600, "a file with secrets is its owner's only");

    let other = Env::new(&[]);
    other
        .cmd(&["variables", "import", all.to_str().unwrap()])
        .assert()
        .success();
    let v = other.json(&["variables", "get", "cfg", "--json"]);
    assert_eq!(v, json!({"a": [1, 2]}));
    let out = other
        .cmd(&["variables", "get", "db_password", "--reveal"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "pw-9d8f7s6\n");

    // A broken file is named with its line and column; a bad name stops the whole file.
    let bad = env.dir.path().join("bad.json");
    std::fs::write(&bad, "{\n  \"x\": 1,\n  \"y\": \n}\n").unwrap();
    let out = other
        .cmd(&["variables", "import", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        out_text(&out).contains("bad.json: line 4, column 1"),
        "{}",
        out_text(&out)
    );
    std::fs::write(&bad, r#"{"fine": 1, "not a name": 2}"#).unwrap();
    let out = other
        .cmd(&["variables", "import", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out_text(&out).contains("\"not a name\" is not a Variable name"));
    other.cmd(&["variables", "get", "fine"]).assert().failure();
}

#[test]
fn connections_travel_between_homes_and_secrets_only_when_asked() {
    let env = Env::new(&[]);
    let extra = r#"{"region": "eu-west-1", "aws_access_key_id": "AKID", "aws_secret_access_key": "sk-77x5x"}"#;
    env.cmd(&[
        "connections",
        "add",
        "lake",
        "--url",
        "s3://bucket/p",
        "--extra",
        extra,
    ])
    .assert()
    .success();
    env.cmd(&["connections", "add", "local", "--url", "file:///srv/data"])
        .assert()
        .success();
    env.cmd(&[
        "connections",
        "add",
        "hook",
        "--url",
        "https://hooks.example.com/services/T0/B0/hooksecret99",
    ])
    .assert()
    .success();
    let plain = env.dir.path().join("conns.json");
    let out = env
        .cmd(&["connections", "export", plain.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", out_text(&out));
    assert!(out_text(&out).contains("left out 2 connection(s) holding secrets: hook, lake"));
    assert_eq!(
        read(&plain),
        json!({"local": {"url": "file:///srv/data", "extra": {}}})
    );
    let text = std::fs::read_to_string(&plain).unwrap();
    assert!(!text.contains("sk-77x5x") && !text.contains("hooksecret99"));
    let all = env.dir.path().join("all.json");
    env.cmd(&[
        "connections",
        "export",
        all.to_str().unwrap(),
        "--with-secrets",
    ])
    .assert()
    .success();
    assert_eq!(mode(&all), 0o600);
    assert_eq!(
        read(&all)["lake"]["extra"]["aws_secret_access_key"],
        "sk-77x5x"
    );

    let other = Env::new(&[]);
    other
        .cmd(&["connections", "import", all.to_str().unwrap()])
        .assert()
        .success();
    let lake = other.json(&["connections", "get", "lake", "--json"]);
    assert_eq!(lake["url"], "s3://bucket/p");
    assert_eq!(lake["extra"]["aws_secret_access_key"], "***");
    assert_eq!(lake["extra"]["region"], "eu-west-1");

    // Airflow's shape (`uri`, `extra` as a JSON string) loads; a bad URL stops the file.
    let airflow = env.dir.path().join("airflow.json");
    std::fs::write(
        &airflow,
        r#"{"x": {"conn_type": "fs", "uri": "file:///tmp/y", "extra": "{\"region\": \"r1\"}"}}"#,
    )
    .unwrap();
    other
        .cmd(&["connections", "import", airflow.to_str().unwrap()])
        .assert()
        .success();
    assert_eq!(
        other.json(&["connections", "get", "x", "--json"])["extra"]["region"],
        "r1"
    );
    std::fs::write(
        &airflow,
        r#"{"y": {"url": "file:///tmp/z"}, "z": {"url": "ftp://nowhere/x"}}"#,
    )
    .unwrap();
    let out = other
        .cmd(&["connections", "import", airflow.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        out_text(&out).contains("connection `z`"),
        "{}",
        out_text(&out)
    );
    other.cmd(&["connections", "get", "y"]).assert().failure();
}
