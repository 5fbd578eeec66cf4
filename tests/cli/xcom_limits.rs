//! XCom values larger than the state store keeps (`DAGCTL_XCOM_MAX_BYTES`, 256 KiB by default)
//! go to the data location with a small reference in the store; downstream tasks and
//! templates read them back as if nothing happened. Secrets are masked before they go
//! anywhere. Without a data location, the task fails cleanly and the run goes on.

use crate::common;

use std::sync::Arc;

use dagctl::engine::{
    ArgsError, Operator, TaskContext, TaskError, TaskOutcome, TriggerOptions, async_trait,
};

const DAG: &str = r#"
dag_id: big
tasks:
  big:
    operator: command
    bash_command: |
      head -c 50000 /dev/zero | tr '\0' x; echo " {{ var.value.db_password }}"
  count:
    operator: command
    bash_command: "echo len={{ ti.xcom_pull(task_ids='big') | length }}"
    dependencies: [big]
"#;

#[tokio::test]
async fn a_large_xcom_spills_to_the_data_location_and_reads_back() {
    let env = common::Env::new(&[("big.yaml", DAG)]);
    env.cmd(&["variables", "set", "db_password", "planted-pw-8Hn3"])
        .assert()
        .success();
    let out = env
        .process(&["trigger", "big", "--run-id", "r1"])
        .env("DAGCTL_XCOM_MAX_BYTES", "1024")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::out_text(&out));
    let log = env
        .process(&["tasks", "logs", "r1", "count"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&log.stdout),
        "len=50004\n",
        "50000 x, a space, ***"
    );
    let kept = env
        .home()
        .join("data/xcom/big/r1/big/try-1/return_value.json");
    let text = std::fs::read_to_string(&kept).unwrap();
    assert_eq!(text.len(), 50_006);
    assert!(text.ends_with(" ***\""), "masked before it was kept");
    // The store holds the reference only.
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}/dagctl.db", env.home().display());
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    let (len,): (i64,) = sqlx::query_as(
        "SELECT CAST(length(value) AS BIGINT) FROM xcom WHERE task_id = 'big' AND key = 'return_value'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(len < 200, "the state store keeps {len} bytes");
    // `xcom list` says where each value is kept; `xcom get` reads a kept one back, masked.
    let list = env.json(&["xcom", "list", "r1", "--json"]);
    let big = list
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["task_id"] == "big")
        .unwrap();
    assert_eq!(big["size"], "50006 B in the data location", "{list}");
    let count = list
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["task_id"] == "count")
        .unwrap();
    assert_eq!(count["value"], "len=50004");
    let table = env.cmd(&["xcom", "list", "r1"]).output().unwrap();
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.lines()
            .any(|l| l.starts_with("big") && l.contains("in the data location")),
        "{text}"
    );
    let got = env.json(&["xcom", "get", "r1", "big"]);
    let got = got.as_str().unwrap();
    assert_eq!(got.len(), 50_004);
    assert!(got.ends_with(" ***"), "masked");
    let out = env
        .cmd(&["xcom", "get", "r1", "big", "--key", "nope"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        common::out_text(&out).contains("its keys: return_value"),
        "{}",
        common::out_text(&out)
    );
    let out = env.cmd(&["xcom", "get", "r1", "ghost"]).output().unwrap();
    assert!(!out.status.success());
    assert!(common::out_text(&out).contains("pushed no XCom"));
}

/// Pushes `size` bytes as an XCom and returns as much.
struct Push;

#[async_trait]
impl Operator for Push {
    fn name(&self) -> &str {
        "push"
    }
    fn summary(&self) -> &str {
        "pushes a large value"
    }
    fn check_args(&self, _: &serde_json::Value) -> Result<(), ArgsError> {
        Ok(())
    }
    async fn execute(&self, ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
        let rows: Vec<u64> = (0..300_000).collect();
        ctx.xcom_push("rows", serde_json::json!(rows));
        Ok(TaskOutcome::Success(Some(serde_json::json!(
            "y".repeat(2_000_000)
        ))))
    }
}

/// Pulls what `push` pushed and checks it whole.
struct Pull;

#[async_trait]
impl Operator for Pull {
    fn name(&self) -> &str {
        "pull"
    }
    fn summary(&self) -> &str {
        "reads the large value back"
    }
    fn check_args(&self, _: &serde_json::Value) -> Result<(), ArgsError> {
        Ok(())
    }
    async fn execute(&self, ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
        let rows = ctx.xcom_pull("push", "rows").await?.unwrap_or_default();
        let text = ctx
            .xcom_pull("push", "return_value")
            .await?
            .unwrap_or_default();
        let n = rows.as_array().map_or(0, Vec::len);
        let len = text.as_str().map_or(0, str::len);
        if n != 300_000 || len != 2_000_000 {
            return Err(TaskError::fatal(format!("got {n} rows and {len} bytes")));
        }
        Ok(TaskOutcome::Success(None))
    }
}

const LIB_DAG: &str = "dag_id: lib\ntasks:\n  push: {operator: push}\n  pull: {operator: pull, dependencies: [push]}\n  other: {operator: noop}\n";

async fn engine(dir: &std::path::Path, spill: bool) -> dagctl::Engine {
    std::fs::create_dir_all(dir.join("dags")).unwrap();
    std::fs::write(dir.join("dags/lib.yaml"), LIB_DAG).unwrap();
    let mut b = dagctl::engine::Engine::builder()
        .registry(dagctl::shipped_operators())
        .dags_folder(dir.join("dags"))
        .home(dir.join("home"))
        .operator(Push)
        .operator(Pull);
    if spill {
        b = b.resource(dagctl::engine::SpillTo(Arc::new(
            dagctl::operators::xcom_store::DataLocationSpill::new(format!(
                "file://{}/data",
                dir.display()
            )),
        )));
    }
    b.build().await.unwrap()
}

#[tokio::test]
async fn an_embedded_engine_passes_megabytes_through_xcom_or_fails_the_task_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path(), true).await;
    let o = e.trigger("lib", TriggerOptions::default()).await.unwrap();
    assert_eq!(o.state.as_str(), "success", "{:?}", o.tasks);
    let run_folder = o.run_id.replace([':', '+'], "_");
    let kept = dir.path().join("data/xcom/lib").join(run_folder);
    assert!(kept.join("push/try-1/rows.json").exists());

    // No data location: `push` fails saying why, `pull` never runs, `other` succeeds.
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path(), false).await;
    let o = e.trigger("lib", TriggerOptions::default()).await.unwrap();
    assert_eq!(o.state.as_str(), "failed");
    let task = |id: &str| o.tasks.iter().find(|t| t.task_id == id).unwrap();
    let error = task("push").error.clone().unwrap_or_default();
    assert!(
        error.contains("more than the 262144 kept in the state store"),
        "{error}"
    );
    assert_eq!(task("pull").state.as_str(), "upstream_failed");
    assert_eq!(task("other").state.as_str(), "success");
}
