//! Workers serving pools (`dagctl worker --pools`), as processes on one PostgreSQL store:
//! each task runs on a worker serving its pool, whichever worker drives its run; a worker
//! killed with SIGKILL in the middle of a taken try loses it to another without using a
//! retry, and nothing succeeds twice; a pool's slots hold across the workers.

use crate::common;

use std::process::Child;
use std::time::{Duration, Instant};

use common::deployment::{Deployment, stop};
use serde_json::Value;

/// `prep` → `train` (pool `gpu`, `train_s` seconds) → `report`; each appends a line.
fn pooled(out: &std::path::Path, train_s: &str) -> String {
    let line = |task: &str| {
        format!(
            "operator: command\n    bash_command: 'sleep {s}; echo \"{{{{ run_id }}}} {task}\" >> {out}'",
            s = if task == "train" { train_s } else { "0" },
            out = out.display()
        )
    };
    format!(
        "dag_id: pooled\nmax_active_runs: 20\ntasks:\n  prep:\n    {}\n  train:\n    {}\n    pool: gpu\n    dependencies: [prep]\n  report:\n    {}\n    dependencies: [train]\n",
        line("prep"),
        line("train"),
        line("report")
    )
}

/// The pid in a worker id (`host:pid:nonce-n`).
fn pid_of(worker_id: &str) -> u32 {
    worker_id.rsplit(':').nth(1).unwrap().parse().unwrap()
}

fn setup(prefix: &str, train_s: &str, runs: usize) -> Option<Deployment> {
    let d = Deployment::new(prefix, "")?;
    std::fs::write(d.dir.path().join("dags/d.yaml"), pooled(&d.out(), train_s)).unwrap();
    std::fs::write(d.dir.path().join("dags/pools.yaml"), "gpu: 2\n").unwrap();
    for i in 0..runs {
        d.ok(&[
            "trigger",
            "pooled",
            "--run-id",
            &format!("p{i}"),
            "--no-wait",
        ]);
    }
    Some(d)
}

#[test]
fn each_task_runs_on_a_worker_serving_its_pool() {
    let Some(d) = setup("workerpools", "0.2", 6) else {
        return;
    };
    let cpu = d.spawn(
        "cpu",
        &["worker", "--poll", "200ms", "--pools", "default_pool"],
    );
    let gpu = d.spawn(
        "gpu",
        &[
            "worker",
            "--poll",
            "200ms",
            "--pools",
            "gpu",
            "--concurrency",
            "2",
        ],
    );
    let (cpu_pid, gpu_pid) = (cpu.id(), gpu.id());
    let runs = d.wait_finished(6, Duration::from_secs(120));
    assert!(stop(cpu), "{}", d.log("cpu"));
    assert!(stop(gpu), "{}", d.log("gpu"));
    assert!(runs.iter().all(|r| r["state"] == "success"), "{runs:?}");
    let mut trains = Vec::new();
    for r in &runs {
        let run = r["run_id"].as_str().unwrap();
        for (task, tries) in d.tries(run) {
            assert_eq!(tries.len(), 1, "{run}.{task}: {tries:?}");
            let pid = pid_of(tries[0]["worker_id"].as_str().unwrap());
            let want = if task == "train" { gpu_pid } else { cpu_pid };
            assert_eq!(pid, want, "{run}.{task} ran on the worker serving its pool");
            if task == "train" {
                trains.push(tries[0].clone());
            }
        }
    }
    // `--concurrency 2` and `gpu: 2`: never more than two trainings at once.
    let most = most_at_once(&trains);
    assert!(most <= 2, "{most} trainings at once");
    let lines = common::line_counts(&d.out());
    assert_eq!(lines.len(), 18, "{lines:?}");
    assert!(lines.values().all(|n| *n == 1), "{lines:?}");
}

#[test]
fn a_killed_pool_worker_loses_its_tries_without_using_a_retry() {
    let Some(d) = setup("poolkill", "1.5", 4) else {
        return;
    };
    let cpu = d.spawn(
        "cpu",
        &["worker", "--poll", "200ms", "--pools", "default_pool"],
    );
    let mut doomed = d.spawn("gpu1", &["worker", "--poll", "200ms", "--pools", "gpu"]);
    let doomed_pid = doomed.id();
    // Wait until the gpu worker holds a training, then SIGKILL it and start another.
    let start = Instant::now();
    'wait: loop {
        for i in 0..4 {
            let held = d.tries(&format!("p{i}")).into_iter().any(|(task, tries)| {
                task == "train"
                    && tries.iter().any(|t| {
                        t["state"] == "running"
                            && pid_of(t["worker_id"].as_str().unwrap()) == doomed_pid
                    })
            });
            if held {
                break 'wait;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the gpu worker took nothing: {}",
            d.log("gpu1")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let killed_at = chrono::Utc::now();
    doomed.kill().unwrap(); // SIGKILL
    doomed.wait().unwrap();
    let gpu: Child = d.spawn("gpu2", &["worker", "--poll", "200ms", "--pools", "gpu"]);
    let gpu_pid = gpu.id();
    let runs = d.wait_finished(4, Duration::from_secs(120));
    assert!(stop(cpu), "{}", d.log("cpu"));
    assert!(stop(gpu), "{}", d.log("gpu2"));
    assert!(runs.iter().all(|r| r["state"] == "success"), "{runs:?}");
    let mut orphaned = 0;
    let mut rerun_after = chrono::Duration::zero();
    for r in &runs {
        let run = r["run_id"].as_str().unwrap();
        for (task, tries) in d.tries(run) {
            let ok: Vec<&Value> = tries.iter().filter(|t| t["state"] == "success").collect();
            assert_eq!(ok.len(), 1, "{run}.{task} succeeded once: {tries:?}");
            if task == "train" {
                let pid = pid_of(ok[0]["worker_id"].as_str().unwrap());
                assert!(pid == gpu_pid || pid == doomed_pid, "{tries:?}");
                for t in tries.iter().filter(|t| t["state"] == "orphaned") {
                    orphaned += 1;
                    let next = tries
                        .iter()
                        .find(|n| n["try_number"] == t["try_number"].as_u64().unwrap() + 1)
                        .unwrap();
                    let at =
                        chrono::DateTime::parse_from_rfc3339(next["start_date"].as_str().unwrap())
                            .unwrap();
                    rerun_after = rerun_after.max(at.with_timezone(&chrono::Utc) - killed_at);
                    assert_eq!(pid_of(t["worker_id"].as_str().unwrap()), doomed_pid);
                    assert!(
                        t["error"].as_str().unwrap().contains("uses no retry"),
                        "{t:?}"
                    );
                }
            }
        }
    }
    // A figure, not a check: from SIGKILL to the last of its tries running elsewhere (the
    // second worker starts right after the kill; on another host, add the 30 s lease).
    eprintln!(
        "a killed worker's tries ran again within {} ms",
        rerun_after.num_milliseconds()
    );
    // Training has no retries: a success after an orphaned try used none.
    assert!(orphaned >= 1, "the killed worker held a training");
    let lines = common::line_counts(&d.out());
    assert_eq!(lines.len(), 12, "{lines:?}");
    let repeats: usize = lines.values().map(|n| n - 1).sum();
    assert!(repeats <= orphaned, "{lines:?}");
}

/// The most tries of `tries` (with `start_date` and `duration_s`) running at one instant.
fn most_at_once(tries: &[Value]) -> usize {
    let span = |t: &Value| {
        let s = chrono::DateTime::parse_from_rfc3339(t["start_date"].as_str().unwrap())
            .unwrap()
            .timestamp_micros() as f64
            / 1e6;
        (s, s + t["duration_s"].as_f64().unwrap())
    };
    let spans: Vec<(f64, f64)> = tries.iter().map(span).collect();
    spans
        .iter()
        .map(|(s, _)| spans.iter().filter(|(s2, e2)| s2 <= s && s < e2).count())
        .max()
        .unwrap_or(0)
}

// A pool's slots hold across the deployment, as Airflow's do: three workers serving every
// pool, with 2 try slots each (the driver of the runs hands the other tries to the others),
// never run more than the pool's 4 tries at once (pools held per process would let 6 run),
// read from the tries' own start and end stamps.
#[test]
fn a_pool_of_four_slots_shared_by_three_workers_never_runs_a_fifth_try() {
    let Some(d) = Deployment::new("poolshared", "") else {
        return;
    };
    let mut dag = String::from("dag_id: wide\nmax_active_runs: 10\nmax_active_tasks: 64\ntasks:\n");
    for i in 0..12 {
        dag.push_str(&format!(
            "  t{i}:\n    operator: command\n    bash_command: 'sleep 0.3; echo \"{{{{ run_id }}}} t{i}\" >> {}'\n    pool: gpu\n",
            d.out().display()
        ));
    }
    std::fs::write(d.dir.path().join("dags/d.yaml"), dag).unwrap();
    std::fs::write(d.dir.path().join("dags/pools.yaml"), "gpu: 4\n").unwrap();
    for i in 0..3 {
        d.ok(&["trigger", "wide", "--run-id", &format!("w{i}"), "--no-wait"]);
    }
    let workers: Vec<Child> = (0..3)
        .map(|w| {
            d.spawn(
                &format!("w{w}"),
                &["worker", "--poll", "200ms", "--concurrency", "2"],
            )
        })
        .collect();
    let runs = d.wait_finished(3, Duration::from_secs(120));
    for (w, child) in workers.into_iter().enumerate() {
        assert!(stop(child), "{}", d.log(&format!("w{w}")));
    }
    assert!(runs.iter().all(|r| r["state"] == "success"), "{runs:?}");
    let mut all = Vec::new();
    let mut workers_used = std::collections::HashSet::new();
    for r in &runs {
        let run = r["run_id"].as_str().unwrap();
        for (task, tries) in d.tries(run) {
            assert_eq!(tries.len(), 1, "{run}.{task}: {tries:?}");
            workers_used.insert(pid_of(tries[0]["worker_id"].as_str().unwrap()));
            all.extend(tries);
        }
    }
    assert_eq!(all.len(), 36);
    let most = most_at_once(&all);
    assert!(most <= 4, "{most} tries of a pool of 4 slots ran at once");
    assert!(most >= 2, "the pool's slots were used in parallel: {most}");
    assert!(
        workers_used.len() >= 2,
        "the runs were shared by the workers: {workers_used:?}"
    );
    let lines = common::line_counts(&d.out());
    assert_eq!(lines.len(), 36, "{lines:?}");
    // The claims the full pool refused are counted (`dagctl_claims_refused_total`).
    let stats = tokio::runtime::Runtime::new().unwrap().block_on(async {
        use dagctl_engine::Store;
        let store = dagctl_engine::SqlStore::connect(&d.url).await.unwrap();
        store.stats(chrono::Utc::now()).await.unwrap()
    });
    let refused = stats
        .claims_refused
        .get(&("wide".to_string(), "gpu".to_string()))
        .copied()
        .unwrap_or(0);
    assert!(refused >= 1, "{:?}", stats.claims_refused);
    // Every claim that started a try observed its wait for a slot of the pool.
    let waits = &stats.slot_wait[&("wide".to_string(), "gpu".to_string())];
    assert_eq!(waits.count, 36, "{waits:?}");
    assert!(
        waits.sum > 0.3,
        "tries waited for the pool's 4 slots: {waits:?}"
    );
}
