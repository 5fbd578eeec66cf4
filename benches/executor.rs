//! Executor figures on no-op DAGs, comparable with `../shared/peers` (Airflow, Prefect):
//! a chain of 50, a fan-out of 200 between a start and an end task, 1,000 independent tasks.
//!
//! `cargo bench --bench executor` prints, per shape: the median wall time of a whole run and
//! the per-task overhead, in process (library, SQLite file and in-memory store) and as a whole
//! `dagctl trigger` process (start-up, store opening and persistence included), and the latency
//! from an upstream's end to its downstream's start along the chain.

use std::path::Path;
use std::time::{Duration, Instant};

use std::sync::{Arc, Mutex};

use dagctl::engine::{
    ArgsError, Dag, DagBuilder, Engine, MemoryStore, Operator, RunState, TaskContext, TaskError,
    TaskOutcome, TriggerOptions, async_trait,
};
use serde_json::json;

/// Records when each try's work starts and ends, in real time.
#[derive(Clone, Default)]
struct Stamp(Arc<Mutex<Vec<(String, Instant, Instant)>>>);

#[async_trait]
impl Operator for Stamp {
    fn name(&self) -> &str {
        "stamp"
    }
    fn summary(&self) -> &str {
        "records start and end instants"
    }
    fn check_args(&self, _args: &serde_json::Value) -> Result<(), ArgsError> {
        Ok(())
    }
    async fn execute(&self, ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
        let start = Instant::now();
        let end = Instant::now();
        self.0
            .lock()
            .unwrap()
            .push((ctx.task_id.clone(), start, end));
        Ok(TaskOutcome::Success(None))
    }
}

const ROUNDS: usize = 7;

fn shape(name: &str) -> (Dag, String) {
    let mut b = DagBuilder::new(name).key("max_active_tasks", json!(10_000));
    let mut yaml = format!("dag_id: {name}\nmax_active_tasks: 10000\ntasks:\n");
    let mut add = |b: DagBuilder, id: &str, ups: &[&str]| {
        yaml.push_str(&format!("  {id}:\n    operator: noop\n"));
        if !ups.is_empty() {
            yaml.push_str(&format!("    dependencies: [{}]\n", ups.join(", ")));
        }
        b.task_after(id, "noop", json!({}), ups)
    };
    match name {
        "chain50" => {
            b = add(b, "t0", &[]);
            for i in 1..50 {
                let up = format!("t{}", i - 1);
                b = add(b, &format!("t{i}"), &[&up]);
            }
        }
        "fan200" => {
            b = add(b, "start", &[]);
            let mids: Vec<String> = (0..200).map(|i| format!("m{i}")).collect();
            for m in &mids {
                b = add(b, m, &["start"]);
            }
            let refs: Vec<&str> = mids.iter().map(String::as_str).collect();
            b = add(b, "end", &refs);
        }
        _ => {
            for i in 0..1000 {
                b = add(b, &format!("t{i}"), &[]);
            }
        }
    }
    (
        b.build(&dagctl::shipped_operators()).expect("valid shape"),
        yaml,
    )
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn fmt(d: Duration) -> String {
    if d >= Duration::from_millis(10) {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{:.0} µs", d.as_secs_f64() * 1e6)
    }
}

async fn in_process(dag: &Dag, store: Option<&Path>) -> (Duration, Engine) {
    let mut b = Engine::builder()
        .registry(dagctl::shipped_operators())
        .dag(dag.clone());
    b = match store {
        Some(home) => b.home(home),
        None => b.store(std::sync::Arc::new(MemoryStore::new())),
    };
    let engine = b.build().await.expect("engine");
    // One warm-up run (prepared statements, page cache).
    engine
        .trigger(dag.id(), TriggerOptions::default())
        .await
        .expect("run");
    let mut walls = Vec::new();
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let o = engine
            .trigger(dag.id(), TriggerOptions::default())
            .await
            .expect("run");
        walls.push(start.elapsed());
        assert_eq!(o.state, RunState::Success);
    }
    (median(walls), engine)
}

fn whole_process(name: &str, yaml: &str) -> Duration {
    let dir = tempfile::tempdir().expect("tempdir");
    let dags = dir.path().join("dags");
    std::fs::create_dir_all(&dags).expect("dags");
    std::fs::write(dags.join(format!("{name}.yaml")), yaml).expect("dag file");
    let mut walls = Vec::new();
    for round in 0..ROUNDS {
        let start = Instant::now();
        let status = std::process::Command::new(env!("CARGO_BIN_EXE_dagctl"))
            .args(["trigger", name])
            .env("DAGCTL_HOME", dir.path().join(format!("home{round}")))
            .env("DAGCTL_DAGS_FOLDER", &dags)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("dagctl runs");
        walls.push(start.elapsed());
        assert!(status.success());
    }
    median(walls)
}

/// Upstream end → downstream start along a chain of 50 `stamp` tasks (SQLite store):
/// the time the executor takes to record an end, decide, claim and start the next task.
async fn chain_latency(home: &Path) -> (Duration, Duration) {
    let stamp = Stamp::default();
    let mut b = DagBuilder::new("latency");
    let mut registry = dagctl::shipped_operators();
    registry.register(stamp.clone());
    b = b.task("t0", "stamp", json!({}));
    for i in 1..50 {
        let up = format!("t{}", i - 1);
        b = b.task_after(&format!("t{i}"), "stamp", json!({}), &[&up]);
    }
    let dag = b.build(&registry).expect("valid");
    let engine = Engine::builder()
        .home(home)
        .registry(registry)
        .dag(dag)
        .build()
        .await
        .expect("engine");
    let mut gaps = Vec::new();
    for _ in 0..ROUNDS {
        stamp.0.lock().unwrap().clear();
        engine
            .trigger("latency", TriggerOptions::default())
            .await
            .expect("run");
        let stamps = stamp.0.lock().unwrap().clone();
        for w in stamps.windows(2) {
            gaps.push(w[1].1.duration_since(w[0].2));
        }
    }
    gaps.sort();
    (gaps[gaps.len() / 2], gaps[gaps.len() * 99 / 100])
}

fn main() {
    // `cargo test --benches` runs this with no `--bench`: keep that quick.
    if !std::env::args().any(|a| a == "--bench") {
        println!("executor bench: run with `cargo bench --bench executor`");
        return;
    }
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    println!("no-op DAGs, median of {ROUNDS} runs, release build\n");
    println!(
        "{:<10} {:>5}  {:>22}  {:>22}  {:>22}",
        "shape", "tasks", "in process, SQLite", "in process, memory", "dagctl trigger process"
    );
    println!(
        "{:<10} {:>5}  {:>22}  {:>22}  {:>22}",
        "", "", "wall / per task", "wall / per task", "wall / per task"
    );
    for name in ["chain50", "fan200", "indep1000"] {
        let (dag, yaml) = shape(name);
        let n = dag.tasks().len() as u32;
        let home = tempfile::tempdir().expect("tempdir");
        let (sqlite, _) = rt.block_on(in_process(&dag, Some(home.path())));
        let (memory, _) = rt.block_on(in_process(&dag, None));
        let process = whole_process(name, &yaml);
        let cell = |d: Duration| format!("{} / {}", fmt(d), fmt(d / n));
        println!(
            "{name:<10} {n:>5}  {:>22}  {:>22}  {:>22}",
            cell(sqlite),
            cell(memory),
            cell(process)
        );
    }
    let home = tempfile::tempdir().expect("tempdir");
    let (med, p99) = rt.block_on(chain_latency(home.path()));
    println!(
        "\nupstream end → downstream start, chain of 50 (SQLite): median {}, p99 {}",
        fmt(med),
        fmt(p99)
    );
}
