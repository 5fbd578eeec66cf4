//! Scheduler overhead: the time from a run becoming due (its data interval ending) to its
//! first task starting, with the real scheduler loop and SQLite store.
//!
//! `cargo bench --bench scheduler` waits for the next minute boundary (up to a minute): 20
//! DAGs scheduled `* * * * *` all become due then; each first task records when it started.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, DurationRound, Utc};
use dagctl::engine::scheduler::{SchedulerOptions, run_scheduler};
use dagctl::engine::{
    ArgsError, DagBuilder, Operator, TaskContext, TaskError, TaskOutcome, async_trait,
};
use serde_json::json;
use tokio_util::sync::CancellationToken;

const DAGS: usize = 20;

/// When each DAG's first task started.
type Starts = Arc<Mutex<Vec<(String, DateTime<Utc>)>>>;

#[derive(Clone, Default)]
struct Stamp(Starts);

#[async_trait]
impl Operator for Stamp {
    fn name(&self) -> &str {
        "stamp"
    }
    fn summary(&self) -> &str {
        "records when it starts"
    }
    fn check_args(&self, _args: &serde_json::Value) -> Result<(), ArgsError> {
        Ok(())
    }
    async fn execute(&self, ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
        self.0
            .lock()
            .unwrap()
            .push((ctx.dag_id.clone(), Utc::now()));
        Ok(TaskOutcome::Success(None))
    }
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("scheduler bench: run with `cargo bench --bench scheduler`");
        return;
    }
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let stamp = Stamp::default();
        let mut registry = dagctl::shipped_operators();
        registry.register(stamp.clone());
        let now = Utc::now();
        let boundary = now.duration_trunc(chrono::Duration::minutes(1)).unwrap()
            + chrono::Duration::minutes(1);
        // The interval [boundary - 1m, boundary) becomes due at `boundary`; earlier ones are
        // skipped (catchup false) by starting just at the previous minute.
        let start = boundary - chrono::Duration::minutes(1);
        let mut validation = dagctl::shipped_operators();
        validation.register(stamp.clone());
        let home = tempfile::tempdir().expect("tempdir");
        let mut b = dagctl::builder().home(home.path()).registry(registry);
        for i in 0..DAGS {
            let dag = DagBuilder::new(format!("every_minute_{i}"))
                .schedule("* * * * *")
                .key("start_date", json!(start.to_rfc3339()))
                .task("first", "stamp", json!({}))
                .build(&validation)
                .expect("valid");
            b = b.dag(dag);
        }
        let engine = Arc::new(b.build().await.expect("engine"));
        let stop = CancellationToken::new();
        let options = SchedulerOptions {
            reload_every: Duration::from_secs(3600),
            grace: Duration::from_secs(10),
            ..SchedulerOptions::default()
        };
        println!("waiting for {} (up to a minute)…", boundary.format("%H:%M:%S"));
        let sched = tokio::spawn(run_scheduler(Arc::clone(&engine), stop.clone(), options, |_| {}));
        while stamp.0.lock().unwrap().len() < DAGS {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stop.cancel();
        let _ = sched.await;
        let mut lat: Vec<Duration> = stamp
            .0
            .lock()
            .unwrap()
            .iter()
            .map(|(_, t)| (*t - boundary).to_std().unwrap_or_default())
            .collect();
        lat.sort();
        println!(
            "{DAGS} runs due at the same instant: due → first task started: min {:.1} ms, median {:.1} ms, max {:.1} ms",
            lat[0].as_secs_f64() * 1e3,
            lat[lat.len() / 2].as_secs_f64() * 1e3,
            lat[lat.len() - 1].as_secs_f64() * 1e3
        );
    });
}
