//! Tries shared between workers, through the library, on one SQLite file: a worker's runs
//! hand the tasks of pools it does not serve to the worker that serves them; outcomes,
//! XCom, retries and a dead worker's tries come back to the driver.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use dagctl::engine::executor::TrySharing;
use dagctl::engine::scheduler::{SchedulerOptions, SchedulerReport, run_scheduler};
use dagctl::engine::store::RunKey;
use dagctl::engine::{
    ArgsError, Engine, ExecutorConfig, Operator, RunState, TaskContext, TaskError, TaskOutcome,
    TaskState, TriggerOptions, async_trait,
};
use serde_json::json;
use tempfile::TempDir;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Returns its engine's label (and the rendered `say` argument); fails the first `fail`
/// tries it runs; sleeps `sleep_ms` first.
struct Whoami {
    label: &'static str,
    fail: usize,
    seen: AtomicUsize,
}

#[async_trait]
impl Operator for Whoami {
    fn name(&self) -> &str {
        "whoami"
    }
    fn summary(&self) -> &str {
        "returns the label of the worker that ran it"
    }
    fn check_args(&self, _args: &serde_json::Value) -> Result<(), ArgsError> {
        Ok(())
    }
    async fn execute(&self, ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
        if let Some(ms) = ctx.args["sleep_ms"].as_u64() {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        ctx.log(format!("{} runs {}", self.label, ctx.task_id));
        if self.seen.fetch_add(1, Ordering::SeqCst) < self.fail {
            return Err(TaskError::retryable(format!("{} fails once", self.label)));
        }
        Ok(TaskOutcome::Success(Some(
            json!({"by": self.label, "say": ctx.args["say"]}),
        )))
    }
}

const DAG: &str = "\
dag_id: mix
tasks:
  a:
    operator: whoami
  g:
    operator: whoami
    pool: gpu
    retries: 1
    retry_delay: 0s
    dependencies: [a]
  b:
    operator: whoami
    say: \"{{ ti.xcom_pull('g')['by'] }}\"
    dependencies: [g]
";

struct Worker {
    engine: Arc<Engine>,
    stop: CancellationToken,
    handle: JoinHandle<SchedulerReport>,
}

impl Worker {
    async fn stop(self) -> SchedulerReport {
        self.stop.cancel();
        self.handle.await.unwrap()
    }
}

async fn worker(dir: &TempDir, label: &'static str, fail: usize, pools: &[&str]) -> Worker {
    let engine = Arc::new(
        Engine::builder()
            .dags_folder(dir.path().join("dags"))
            .home(dir.path().join("home"))
            .operator(Whoami {
                label,
                fail,
                seen: AtomicUsize::new(0),
            })
            .executor_config(ExecutorConfig {
                lease: Duration::from_secs(3),
                heartbeat: Duration::from_millis(300),
            })
            .build()
            .await
            .unwrap(),
    );
    assert!(
        !engine.diagnostics().has_errors(),
        "{:?}",
        engine.diagnostics()
    );
    let stop = CancellationToken::new();
    let options = SchedulerOptions {
        create_runs: false,
        poll: Duration::from_millis(100),
        grace: Duration::from_secs(5),
        sharing: Some(TrySharing {
            concurrency: 4,
            pools: Some(pools.iter().map(|p| p.to_string()).collect()),
            poll: Duration::from_millis(100),
        }),
        ..SchedulerOptions::default()
    };
    let handle = tokio::spawn({
        let (engine, stop) = (Arc::clone(&engine), stop.clone());
        async move { run_scheduler(engine, stop, options, |_| {}).await.unwrap() }
    });
    Worker {
        engine,
        stop,
        handle,
    }
}

fn folder(dag: &str) -> TempDir {
    let dir = TempDir::new().unwrap();
    std::fs::create_dir_all(dir.path().join("dags")).unwrap();
    std::fs::write(dir.path().join("dags/mix.yaml"), dag).unwrap();
    std::fs::write(dir.path().join("dags/pools.yaml"), "gpu: 1\n").unwrap();
    dir
}

/// Waits until worker `worker_id` holds a try of `g` in `key`.
async fn held_by(store: &dyn dagctl::engine::Store, key: &RunKey, worker_id: &str) {
    for _ in 0..400 {
        let tries = store.tries(key, Some("g")).await.unwrap();
        if tries.iter().any(|t| t.worker_id == worker_id) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("worker {worker_id} never took g");
}

/// Triggers a run of `mix` and waits until `w` drives it (the other workers start after).
async fn driven_by(w: &Worker) -> RunKey {
    let run = w
        .engine
        .create_run("mix", TriggerOptions::default())
        .await
        .unwrap();
    let key = RunKey::new("mix", &run.run_id);
    for _ in 0..200 {
        let run = w.engine.store().run(&key).await.unwrap().unwrap();
        if run
            .owner
            .is_some_and(|o| o.worker_id == w.engine.worker_id())
        {
            return key;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{key} was not driven");
}

async fn finished(engine: &Engine, key: &RunKey) -> RunState {
    for _ in 0..300 {
        let run = engine.store().run(key).await.unwrap().unwrap();
        if run.state.is_finished() {
            return run.state;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let tries = engine.store().tries(key, None).await.unwrap();
    let tis = engine.store().task_instances(key).await.unwrap();
    panic!("{key} did not finish: {tis:#?} {tries:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_served_elsewhere_runs_there_and_its_outcome_comes_back() {
    let dir = folder(DAG);
    // `cpu` serves the default pool and drives the run; `gpu` serves only `gpu`, and its
    // first try of `g` fails (a retry, decided by the driver).
    let cpu = worker(&dir, "cpu", 0, &["default_pool"]).await;
    let key = driven_by(&cpu).await;
    let gpu = worker(&dir, "gpu", 1, &["gpu"]).await;
    assert_eq!(finished(&cpu.engine, &key).await, RunState::Success);
    let store = cpu.engine.store();
    let tries = store.tries(&key, None).await.unwrap();
    let of = |task: &str| -> Vec<_> { tries.iter().filter(|t| t.task_id == task).collect() };
    let (cpu_id, gpu_id) = (cpu.engine.worker_id(), gpu.engine.worker_id());
    assert_eq!(of("a").len(), 1);
    assert_eq!(
        of("a")[0].worker_id,
        cpu_id,
        "a ran where its run is driven"
    );
    assert!(!of("a")[0].handed && !of("b")[0].handed);
    let g = of("g");
    assert_eq!(g.len(), 2, "{g:?}");
    assert!(g.iter().all(|t| t.handed && t.worker_id == gpu_id), "{g:?}");
    assert_eq!(
        (g[0].state, g[1].state),
        (TaskState::Failed, TaskState::Success)
    );
    assert_eq!(g[0].error.as_deref(), Some("gpu fails once"));
    // The worker's log and XCom reached the store; the downstream task read the XCom.
    assert!(
        store
            .log(&key, "g", 2)
            .await
            .unwrap()
            .contains("gpu runs g")
    );
    assert!(
        store
            .log(&key, "g", 1)
            .await
            .unwrap()
            .contains("ERROR: gpu fails once")
    );
    assert_eq!(
        store.xcom(&key, "g", "return_value").await.unwrap(),
        Some(json!({"by": "gpu", "say": null}))
    );
    assert_eq!(
        store.xcom(&key, "b", "return_value").await.unwrap(),
        Some(json!({"by": "cpu", "say": "gpu"}))
    );
    let tis = store.task_instances(&key).await.unwrap();
    assert!(tis.iter().all(|t| t.state == TaskState::Success), "{tis:?}");
    cpu.stop().await;
    gpu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_workers_try_runs_again_on_another_without_using_a_retry() {
    let slow = DAG
        .replace("    retries: 1\n", "    retries: 0\n    sleep_ms: 60000\n")
        .replace("dag_id: mix", "dag_id: mix\nmax_active_tasks: 8");
    let dir = folder(&slow);
    let cpu = worker(&dir, "cpu", 0, &["default_pool"]).await;
    let key = driven_by(&cpu).await;
    let doomed = worker(&dir, "doomed", 0, &["gpu"]).await;
    let store = Arc::clone(cpu.engine.store());
    // Wait until the doomed worker holds `g`, then it dies with its engine.
    let doomed_id = doomed.engine.worker_id();
    held_by(store.as_ref(), &key, doomed_id).await;
    doomed.handle.abort();
    let _ = doomed.handle.await;
    drop(doomed.engine);
    // Another gpu worker, with a quick `g` this time: it reruns `g`, and the run succeeds
    // although `g` has no retries.
    std::fs::write(
        dir.path().join("dags/mix.yaml"),
        DAG.replace("    retries: 1\n", "    retries: 0\n"),
    )
    .unwrap();
    let gpu = worker(&dir, "gpu", 0, &["gpu"]).await;
    assert_eq!(finished(&cpu.engine, &key).await, RunState::Success);
    let g = store.tries(&key, Some("g")).await.unwrap();
    assert_eq!(g.len(), 2, "{g:?}");
    assert_eq!(g[0].state, TaskState::Orphaned);
    assert!(
        g[0].error
            .as_deref()
            .unwrap_or("")
            .contains("uses no retry"),
        "{g:?}"
    );
    assert_eq!(g[1].state, TaskState::Success);
    assert_eq!(g[1].worker_id, gpu.engine.worker_id());
    cpu.stop().await;
    gpu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_driver_follows_the_tries_other_workers_hold() {
    let slow = DAG.replace("    pool: gpu\n", "    pool: gpu\n    sleep_ms: 1500\n");
    let dir = folder(&slow);
    let first = worker(&dir, "cpu", 0, &["default_pool"]).await;
    let key = driven_by(&first).await;
    let gpu = worker(&dir, "gpu", 0, &["gpu"]).await;
    let store = Arc::clone(first.engine.store());
    let gpu_id = gpu.engine.worker_id().to_string();
    held_by(store.as_ref(), &key, &gpu_id).await;
    // The driver dies while the gpu worker runs `g`; another takes the run over.
    first.handle.abort();
    let _ = first.handle.await;
    drop(first.engine);
    let second = worker(&dir, "cpu2", 0, &["default_pool"]).await;
    assert_eq!(finished(&second.engine, &key).await, RunState::Success);
    let g = store.tries(&key, Some("g")).await.unwrap();
    assert_eq!(g.len(), 1, "followed, not orphaned: {g:?}");
    assert_eq!(
        (g[0].state, g[0].worker_id.as_str()),
        (TaskState::Success, gpu_id.as_str())
    );
    assert_eq!(
        store.xcom(&key, "b", "return_value").await.unwrap(),
        Some(json!({"by": "cpu2", "say": "gpu"}))
    );
    second.stop().await;
    gpu.stop().await;
}
