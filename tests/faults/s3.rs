//! Storage against a real S3 API (SeaweedFS, started by `scripts/test.sh`): Parquet days
//! round-trip, and a wrong secret is a clear, prompt authentication error.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::common;
use arrow::array::{Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};

use chrono::NaiveDate;
use dagctl::operators::dataset::{BATCH_ROWS, Dataset};
use dagctl::operators::storage;
use futures::TryStreamExt;

fn bucket() -> Option<String> {
    match std::env::var("DAGCTL_TEST_S3_BUCKET") {
        Ok(b) => Some(b),
        Err(_) => {
            assert!(
                std::env::var("CI").is_err(),
                "CI must run this test (scripts/test.sh starts S3)"
            );
            eprintln!("skipped: no S3 test server (scripts/test.sh starts one)");
            None
        }
    }
}

fn unique_prefix() -> String {
    format!(
        "t{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
    )
}

fn batch(n: usize) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
    RecordBatch::try_new(
        schema,
        vec![Arc::new(Int64Array::from_iter_values(0..n as i64))],
    )
    .unwrap()
}

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, d).unwrap()
}

#[tokio::test]
async fn partitioned_days_round_trip_on_s3() {
    let Some(bucket) = bucket() else { return };
    let loc = storage::open(
        &format!("s3://{bucket}/{}", unique_prefix()),
        &BTreeMap::new(),
    )
    .unwrap();
    let ds = Dataset::new(loc, "raw_data");
    for d in 1..=3 {
        ds.write_day(day(d), vec![batch(1500)]).await.unwrap();
    }
    let batches: Vec<RecordBatch> = ds.read(day(1), day(3)).try_collect().await.unwrap();
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 4500);
    assert!(batches.iter().all(|b| b.num_rows() <= BATCH_ROWS));
    ds.write_day(day(2), vec![batch(10)]).await.unwrap();
    let rows: usize = ds
        .read(day(1), day(3))
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .iter()
        .map(|b| b.num_rows())
        .sum();
    assert_eq!(rows, 3010, "a rewritten day replaces its data on S3 too");
    assert_eq!(
        ds.days(day(1), day(4)).await.unwrap(),
        [day(1), day(2), day(3)]
    );
}

#[tokio::test]
async fn a_wrong_secret_is_a_clear_error_not_a_hang() {
    let Some(bucket) = bucket() else { return };
    let wrong = "definitely-not-the-secret-42";
    let extra = BTreeMap::from([("aws_secret_access_key".to_string(), wrong.to_string())]);
    let loc = storage::open(&format!("s3://{bucket}/{}", unique_prefix()), &extra).unwrap();
    let ds = Dataset::new(loc, "raw_data");
    let result = tokio::time::timeout(
        Duration::from_secs(60),
        ds.write_day(day(1), vec![batch(5)]),
    )
    .await
    .expect("an authentication failure must not hang");
    let err = result
        .expect_err("a wrong secret must be refused")
        .to_string();
    assert!(
        [
            "403",
            "Forbidden",
            "SignatureDoesNotMatch",
            "AccessDenied",
            "InvalidAccessKeyId"
        ]
        .iter()
        .any(|w| err.contains(w)),
        "not an authentication error: {err}"
    );
    let real = std::env::var("AWS_SECRET_ACCESS_KEY").unwrap_or_default();
    assert!(
        !err.contains(wrong) && (real.is_empty() || !err.contains(&real)),
        "secret leaked: {err}"
    );
}

/// `dagctl` finds its S3 keys and endpoint in an AWS profile (`AWS_PROFILE`, the shared
/// credentials and config files) when the environment has none, as the AWS CLI does; a
/// profile that does not exist is named in a clear error.
#[test]
fn keys_and_endpoint_come_from_an_aws_profile() {
    use assert_cmd::cargo::CommandCargoExt;
    let Some(bucket) = bucket() else { return };
    let var = |k: &str| std::env::var(k).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let credentials = dir.path().join("credentials");
    let config = dir.path().join("config");
    std::fs::write(
        &credentials,
        format!(
            "[default]\naws_access_key_id = wrong\n\n[loop]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            var("AWS_ACCESS_KEY_ID"),
            var("AWS_SECRET_ACCESS_KEY")
        ),
    )
    .unwrap();
    std::fs::write(
        &config,
        format!(
            "[profile loop]\nregion = us-east-1\nendpoint_url = {}\n",
            var("AWS_ENDPOINT_URL")
        ),
    )
    .unwrap();
    let prefix = unique_prefix();
    std::fs::create_dir_all(dir.path().join("dags")).unwrap();
    std::fs::write(
        dir.path().join("dags/gen.yaml"),
        format!("dag_id: gen\ntasks:\n  gen: {{operator: generate_customers, url: 's3://{bucket}/{prefix}'}}\n"),
    )
    .unwrap();
    let run = |profile: &str, run_id: &str| {
        let mut c = std::process::Command::cargo_bin("dagctl").unwrap();
        for k in [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT",
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            "AWS_ALLOW_HTTP",
            "DAGCTL_STORE_URL",
            "DAGCTL_DATA_URL",
        ] {
            c.env_remove(k);
        }
        c.env("AWS_PROFILE", profile)
            .env("AWS_SHARED_CREDENTIALS_FILE", &credentials)
            .env("AWS_CONFIG_FILE", &config)
            .env("DAGCTL_HOME", dir.path().join("home"))
            .args(["--dags-folder"])
            .arg(dir.path().join("dags"))
            .args([
                "trigger",
                "gen",
                "--logical-date",
                "2026-01-05",
                "--run-id",
                run_id,
            ])
            .output()
            .unwrap()
    };
    let out = run("loop", "with-profile");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(
        !text.contains(&var("AWS_SECRET_ACCESS_KEY")),
        "secret leaked: {text}"
    );
    // Read back with the environment's keys: the day is there.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let loc = storage::open(&format!("s3://{bucket}/{prefix}"), &BTreeMap::new()).unwrap();
    let days = rt
        .block_on(Dataset::new(loc, "raw_data").days(day(1), day(9)))
        .unwrap();
    assert_eq!(days, [day(5)]);
    let out = run("nowhere", "no-profile");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success());
    let log = std::process::Command::cargo_bin("dagctl")
        .unwrap()
        .env("DAGCTL_HOME", dir.path().join("home"))
        .args(["--dags-folder"])
        .arg(dir.path().join("dags"))
        .args(["tasks", "logs", "no-profile", "gen"])
        .output()
        .unwrap();
    let text = text + &String::from_utf8_lossy(&log.stdout);
    assert!(
        text.contains("AWS_PROFILE `nowhere` is in neither"),
        "{text}"
    );
}

fn dagctl(home: &std::path::Path) -> std::process::Command {
    use assert_cmd::cargo::CommandCargoExt;
    let mut c = std::process::Command::cargo_bin("dagctl").unwrap();
    c.env_remove("DAGCTL_STORE_URL")
        .env_remove("DAGCTL_DATA_URL")
        .env("DAGCTL_HOME", home)
        .env(
            "DAGCTL_DAGS_FOLDER",
            concat!(env!("CARGO_MANIFEST_DIR"), "/dags"),
        );
    c
}

fn ok(c: &mut std::process::Command) -> String {
    let out = c.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{c:?}: {text}");
    text
}

/// Adds connection `lake` to `url`, with the S3 server's settings as its extras.
fn add_lake(home: &std::path::Path, url: &str) {
    let extra = common::s3::extra();
    ok(dagctl(home).args([
        "connections",
        "add",
        "lake",
        "--url",
        url,
        "--extra",
        &extra,
    ]));
}

/// `dagctl` without any S3 setting in its environment (only connections can provide them).
fn dagctl_without_s3_env(home: &std::path::Path) -> std::process::Command {
    let mut c = dagctl(home);
    for k in common::s3::VARS {
        c.env_remove(k);
    }
    c
}

/// A version records where its files are: trained with `DAGCTL_DATA_URL` somewhere else, it
/// is scored and verified from a shell without it. Input and output of `models predict` may
/// be `s3://` URLs, opened through a connection (`--conn`) when the environment has no keys.
#[test]
fn a_model_is_scored_from_anywhere_and_on_s3() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let lake = dir.path().join("lake");
    ok(dagctl(&home)
        .env("DAGCTL_DATA_URL", format!("file://{}", lake.display()))
        .args([
            "trigger",
            "01_data_generation_pipeline",
            "--logical-date",
            "2026-01-05",
        ]));
    let day = lake.join("raw_data/year=2026/month=01/day=05/part-00000.parquet");
    assert!(day.exists());
    assert!(
        !home.join("data/registry").exists(),
        "nothing in the default location"
    );
    // No DAGCTL_DATA_URL now: the version says where its files are.
    let scored = dir.path().join("scored.parquet");
    let text = ok(dagctl(&home).args([
        "models",
        "predict",
        "churn_model",
        "--input",
        day.to_str().unwrap(),
        "--output",
        scored.to_str().unwrap(),
    ]));
    assert!(text.contains("with churn_model v1"), "{text}");
    assert!(scored.exists());
    let text = ok(dagctl(&home).args(["models", "verify", "churn_model"]));
    assert!(text.contains("churn_model v1: ok"), "{text}");

    let Some(bucket) = bucket() else { return };
    let var = |k: &str| std::env::var(k).unwrap();
    let prefix = unique_prefix();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let loc = storage::open(&format!("s3://{bucket}/{prefix}"), &BTreeMap::new()).unwrap();
    rt.block_on(loc.put_bytes(&loc.key("in/day.parquet"), std::fs::read(&day).unwrap()))
        .unwrap();
    add_lake(&home, &format!("s3://{bucket}"));
    let mut c = dagctl_without_s3_env(&home);
    let text = ok(c.args([
        "models",
        "predict",
        "churn_model",
        "--conn",
        "lake",
        "--input",
        &format!("s3://{bucket}/{prefix}/in/day.parquet"),
        "--output",
        &format!("s3://{bucket}/{prefix}/out/scored.parquet"),
    ]));
    assert!(!text.contains(&var("AWS_SECRET_ACCESS_KEY")), "{text}");
    let bytes = rt
        .block_on(loc.get_bytes(&loc.key("out/scored.parquet")))
        .unwrap();
    let reader =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap();
    assert!(reader.schema().field_with_name("prediction").is_ok());
    let local = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(&scored).unwrap(),
    )
    .unwrap();
    assert_eq!(
        reader.metadata().file_metadata().num_rows(),
        local.metadata().file_metadata().num_rows()
    );
}

/// The whole shipped loop with its data on S3 through one deployment connection
/// (`DAGCTL_DATA_CONN`): no `conn_id` on any task, no S3 variable in the environment. The
/// registry's files land on S3 and the model is scored from there afterwards.
#[test]
fn the_shipped_loop_runs_on_s3_through_the_deployment_connection() {
    let Some(bucket) = bucket() else { return };
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let prefix = unique_prefix();
    add_lake(&home, &format!("s3://{bucket}/{prefix}"));
    let mut c = dagctl_without_s3_env(&home);
    let text = ok(c.env("DAGCTL_DATA_CONN", "lake").args([
        "trigger",
        "01_data_generation_pipeline",
        "--logical-date",
        "2026-01-05",
    ]));
    assert!(text.contains("summary: 4 of 4 runs succeeded"), "{text}");
    assert!(!home.join("data").exists(), "nothing written locally");
    // Everything is on S3: the raw day, the prepared set, the registry.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let loc = storage::open(&format!("s3://{bucket}/{prefix}"), &BTreeMap::new()).unwrap();
    for key in [
        "raw_data/year=2026/month=01/day=05/part-00000.parquet",
        "prepared_data/2026-01-05/feature_metadata.json",
    ] {
        rt.block_on(loc.get_bytes(&loc.key(key)))
            .unwrap_or_else(|e| panic!("{key}: {e}"));
    }
    // Scored later from a shell without DAGCTL_DATA_CONN or S3 variables: the version
    // recorded its connection.
    let mut c = dagctl_without_s3_env(&home);
    let text = ok(c.args([
        "models",
        "predict",
        "churn_model",
        "--conn",
        "lake",
        "--input",
        &format!("s3://{bucket}/{prefix}/raw_data/year=2026/month=01/day=05/part-00000.parquet"),
        "--output",
        &format!("s3://{bucket}/{prefix}/scored/day.parquet"),
    ]));
    assert!(text.contains("with churn_model v1"), "{text}");
    rt.block_on(loc.get_bytes(&loc.key("scored/day.parquet")))
        .unwrap();
    let mut c = dagctl_without_s3_env(&home);
    assert!(ok(c.args(["models", "verify", "churn_model"])).contains("v1: ok"));
    no_secret_anywhere(&home, &loc, &rt);
}

/// After the loop on S3: neither the S3 secret key nor a planted secret Variable is in any
/// CLI output (runs, tries, logs, connections, Variables, models, experiments), in any file of
/// the home (the database and its WAL included), or in any object the loop wrote to S3.
fn no_secret_anywhere(
    home: &std::path::Path,
    loc: &storage::Location,
    rt: &tokio::runtime::Runtime,
) {
    const PLANTED: &str = "planted-db-password-4Rt9";
    let s3_secret = std::env::var("AWS_SECRET_ACCESS_KEY").unwrap();
    let secrets = [s3_secret.as_str(), PLANTED];
    ok(dagctl(home).args(["variables", "set", "db_password", PLANTED]));
    let mut shown = String::new();
    let mut show = |args: &[&str]| {
        let out = dagctl_without_s3_env(home).args(args).output().unwrap();
        shown.push_str(&String::from_utf8_lossy(&out.stdout));
        shown.push_str(&String::from_utf8_lossy(&out.stderr));
        out
    };
    for args in [
        &["connections", "list"][..],
        &["connections", "get", "lake", "--json"],
        &["variables", "list", "--json"],
        &["models", "show", "churn_model", "--json"],
        &["experiments", "runs", "--json"],
    ] {
        show(args);
    }
    let runs: serde_json::Value =
        serde_json::from_slice(&show(&["runs", "list", "--json"]).stdout).unwrap();
    let mut logs = 0;
    for r in runs.as_array().unwrap() {
        let (dag, run) = (r["dag_id"].as_str().unwrap(), r["run_id"].as_str().unwrap());
        let detail: serde_json::Value =
            serde_json::from_slice(&show(&["runs", "show", run, "--dag", dag, "--json"]).stdout)
                .unwrap();
        for t in detail["tasks"].as_array().unwrap() {
            if t["try_number"].as_u64().unwrap_or(0) > 0 {
                show(&[
                    "tasks",
                    "logs",
                    run,
                    t["task_id"].as_str().unwrap(),
                    "--dag",
                    dag,
                ]);
                logs += 1;
            }
        }
    }
    assert!(logs >= 10, "{logs} task logs read");
    assert!(
        shown.contains("***"),
        "the secrets were there to show, masked"
    );
    for secret in secrets {
        assert!(!shown.contains(secret), "a secret was shown by the CLI");
    }
    let mut stack = vec![home.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let text = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned();
            for secret in secrets {
                assert!(!text.contains(secret), "{} holds a secret", p.display());
            }
        }
    }
    use futures::TryStreamExt;
    use object_store::ObjectStoreExt;
    let objects: Vec<_> = rt
        .block_on(loc.store.list(Some(&loc.prefix)).try_collect::<Vec<_>>())
        .unwrap();
    assert!(objects.len() > 5, "{} objects", objects.len());
    for o in objects {
        let bytes = rt.block_on(loc.store.get(&o.location)).unwrap();
        let bytes = rt.block_on(bytes.bytes()).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for secret in secrets {
            assert!(!text.contains(secret), "{} holds a secret", o.location);
        }
    }
}
