//! A run that reads and writes through an S3 connection never shows its secret: not in the
//! CLI's output, not in debug logs, not in task logs, not in `runs show`.

mod common;

use common::Env;

#[test]
fn a_run_through_an_s3_connection_never_prints_its_secret() {
    let Ok(bucket) = std::env::var("DAGCTL_TEST_S3_BUCKET") else {
        assert!(
            std::env::var("CI").is_err(),
            "CI must run this test (scripts/test.sh starts S3)"
        );
        eprintln!("skipped: no S3 test server");
        return;
    };
    let secret = std::env::var("AWS_SECRET_ACCESS_KEY").unwrap();
    let key_id = std::env::var("AWS_ACCESS_KEY_ID").unwrap();
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap();
    let prefix = format!("secrets-{}", std::process::id());
    let dag = "dag_id: lake\nmax_active_tasks: 1\ntasks:\n  wait:\n    operator: partition_sensor\n    dataset: raw_data\n    conn_id: lake\n    poke_interval: 50ms\n    timeout: 60s\n  gen:\n    operator: generate_customers\n    conn_id: lake\n  seen:\n    operator: object_sensor\n    key: raw_data/year=2026/month=01/day=05/part-00000.parquet\n    conn_id: lake\n    dependencies: [wait]\n";
    let env = Env::new(&[("lake.yaml", dag)]);
    let extra = format!(
        r#"{{"endpoint_url": "{endpoint}", "region": "us-east-1", "aws_access_key_id": "{key_id}", "aws_secret_access_key": "{secret}", "allow_http": "true"}}"#
    );
    let mut outputs = Vec::new();
    let run = |args: &[&str], outputs: &mut Vec<String>| {
        // Only the connection knows the credentials.
        let out = env
            .cmd(args)
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_ENDPOINT_URL")
            .env("DAGCTL_LOG", "debug")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        outputs.push(format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)));
        (out.status.success(), stdout)
    };
    let url = format!("s3://{bucket}/{prefix}");
    let (ok, text) = run(
        &[
            "connections",
            "add",
            "lake",
            "--url",
            &url,
            "--extra",
            &extra,
        ],
        &mut outputs,
    );
    assert!(ok, "{text}");
    let (ok, text) = run(
        &[
            "trigger",
            "lake",
            "--logical-date",
            "2026-01-05",
            "--run-id",
            "r",
        ],
        &mut outputs,
    );
    assert!(
        ok,
        "the run reads and writes S3 through the connection: {text}"
    );
    let (_, show) = run(&["runs", "show", "r", "--json"], &mut outputs);
    let v: serde_json::Value = serde_json::from_str(&show).unwrap();
    let wait_tries = v["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["task_id"] == "wait")
        .unwrap()["tries"]
        .as_array()
        .unwrap()
        .len();
    assert!(
        wait_tries >= 2,
        "the sensor deferred (one slot) while the data was written"
    );
    for task in ["wait", "gen", "seen"] {
        for n in 1..=wait_tries {
            run(
                &["tasks", "logs", "r", task, "--try", &n.to_string()],
                &mut outputs,
            );
        }
    }
    run(&["connections", "list", "--json"], &mut outputs);
    for text in &outputs {
        assert!(!text.contains(&secret), "the secret leaked: {text}");
    }
}
