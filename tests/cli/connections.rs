//! Named connections from the shell: secrets are stored, and never printed.

use crate::common;

use common::Env;
use predicates::prelude::*;

const SECRET_IN_URL: &str = "urlS3cret";
const SECRET_IN_EXTRA: &str = "extraS3cret";

#[test]
fn connections_round_trip_without_ever_printing_secrets() {
    let env = Env::new(&[]);
    let extra = format!(
        r#"{{"endpoint_url": "http://127.0.0.1:9000", "region": "us-east-1", "aws_secret_access_key": "{SECRET_IN_EXTRA}", "allow_http": "true"}}"#
    );
    let url = format!("s3://AKID:{SECRET_IN_URL}@lake/raw");
    let run = |args: &[&str]| {
        let out = env.cmd(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !text.contains(SECRET_IN_URL) && !text.contains(SECRET_IN_EXTRA),
            "{args:?} leaked a secret: {text}"
        );
        text
    };
    let added = run(&[
        "connections",
        "add",
        "lake",
        "--url",
        &url,
        "--extra",
        &extra,
    ]);
    assert_eq!(added, "connection `lake`: s3://AKID:***@lake/raw\n");
    let listed = run(&["connections", "list"]);
    assert!(listed.contains("lake  s3://AKID:***@lake/raw"), "{listed}");
    assert!(listed.contains("aws_secret_access_key=***"), "{listed}");
    assert!(listed.contains("region=us-east-1"));
    let json = run(&["connections", "get", "lake", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["extra"]["aws_secret_access_key"], "***");
    assert_eq!(v["extra"]["endpoint_url"], "http://127.0.0.1:9000");
    run(&["connections", "list", "--json"]);
    run(&["connections", "get", "lake"]);
    run(&["connections", "delete", "lake"]);
    env.cmd(&["connections", "get", "lake"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no connection `lake`"));
}

#[test]
fn bad_connections_are_refused_with_the_reason() {
    let env = Env::new(&[]);
    env.cmd(&["connections", "add", "x", "--url", "ftp://u:pw1234@host/p"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "unsupported storage URL `ftp://u:***@host/p`",
        ))
        .stderr(predicate::str::contains("pw1234").not());
    env.cmd(&[
        "connections",
        "add",
        "x",
        "--url",
        "s3://b/p",
        "--extra",
        r#"{"colour": "blue"}"#,
    ])
    .assert()
    .code(1)
    .stderr(predicate::str::contains("`colour` is not an S3 setting"));
    env.cmd(&[
        "connections",
        "add",
        "x",
        "--url",
        "s3://b/p",
        "--extra",
        "{nope",
    ])
    .assert()
    .code(1)
    .stderr(predicate::str::contains("--extra is not valid JSON"));
    env.cmd(&["connections", "add", "x y", "--url", "memory://"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("invalid connection name `x y`"));
}
