//! Several machines on one PostgreSQL store: `dagctl worker` processes execute the runs that
//! `dagctl scheduler --no-execute` (or `trigger --no-wait`) create, each process with its own
//! home as on its own machine. Every task instance succeeds exactly once; a worker killed with
//! SIGKILL loses its runs to the others; two schedulers never create a run twice.

use crate::common;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::deployment::{Deployment, stop};
use serde_json::Value;

/// 40 no-op tasks and two commands that append a line each (after a short sleep, so that a
/// run lasts long enough for every worker to be up while runs are left).
fn wide(out: &Path) -> String {
    let mut dag =
        String::from("dag_id: wide\nmax_active_runs: 50\nmax_active_tasks: 500\ntasks:\n");
    for i in 0..40 {
        dag.push_str(&format!("  n{i}: {{operator: noop}}\n"));
    }
    for c in ["c1", "c2"] {
        dag.push_str(&format!(
            "  {c}:\n    operator: command\n    bash_command: 'sleep 0.3; echo \"{{{{ run_id }}}} {c}\" >> {}'\n    dependencies: [n0, n39]\n",
            out.display()
        ));
    }
    dag
}

#[test]
fn three_workers_run_every_task_instance_exactly_once() {
    let Some(d) = Deployment::new("workers3", "") else {
        return;
    };
    std::fs::write(d.dir.path().join("dags/d.yaml"), wide(&d.out())).unwrap();
    for i in 0..25 {
        d.ok(&[
            "trigger",
            "wide",
            "--run-id",
            &format!("r{i:02}"),
            "--no-wait",
        ]);
    }
    let workers: Vec<Child> = ["m1", "m2", "m3"]
        .iter()
        .map(|m| d.spawn(m, &["worker", "--poll", "200ms", "--concurrency", "8"]))
        .collect();
    let runs = d.wait_finished(25, Duration::from_secs(180));
    for (w, m) in workers.into_iter().zip(["m1", "m2", "m3"]) {
        assert!(stop(w), "a worker stopped badly: {}", d.log(m));
    }
    assert!(runs.iter().all(|r| r["state"] == "success"), "{runs:?}");
    // Per worker, the span of every try it ran (start, start + duration).
    let mut spans: std::collections::BTreeMap<String, Vec<(f64, f64)>> = Default::default();
    let mut handed = 0;
    for r in &runs {
        let run = r["run_id"].as_str().unwrap();
        let tasks = d.tries(run);
        assert_eq!(tasks.len(), 42);
        for (task, tries) in tasks {
            assert_eq!(tries.len(), 1, "{run}.{task}: {tries:?}");
            let t = &tries[0];
            assert_eq!(t["state"], "success");
            let start = chrono::DateTime::parse_from_rfc3339(t["start_date"].as_str().unwrap())
                .unwrap()
                .timestamp_micros() as f64
                / 1e6;
            let end = start + t["duration_s"].as_f64().unwrap();
            let worker = t["worker_id"].as_str().unwrap().to_string();
            spans.entry(worker).or_default().push((start, end));
            handed += usize::from(t["handed"] == true);
        }
    }
    assert_eq!(spans.values().map(Vec::len).sum::<usize>(), 25 * 42);
    assert!(spans.len() >= 2, "the work was shared: {:?}", spans.keys());
    assert!(handed > 0, "some tries were handed between workers");
    // `--concurrency 8`: no worker ever ran more than eight tries at once.
    for (w, list) in &spans {
        for (s, _) in list {
            let at_once = list.iter().filter(|(s2, e2)| s2 <= s && s < e2).count();
            assert!(at_once <= 8, "{w} ran {at_once} tries at once");
        }
    }
    let lines = common::line_counts(&d.out());
    assert_eq!(lines.len(), 50, "{lines:?}");
    assert!(lines.values().all(|n| *n == 1), "{lines:?}");
}

#[test]
fn a_killed_worker_loses_its_runs_to_the_others_and_nothing_succeeds_twice() {
    let Some(d) = Deployment::new("workerkill", "") else {
        return;
    };
    let out = d.out();
    let mut dag = String::from("dag_id: slow\nmax_active_runs: 20\ntasks:\n");
    for i in 1..=3 {
        let dep = if i > 1 {
            format!("    dependencies: [t{}]\n", i - 1)
        } else {
            String::new()
        };
        dag.push_str(&format!(
            "  t{i}:\n    operator: command\n    bash_command: 'sleep 0.3; echo \"{{{{ run_id }}}} t{i}\" >> {}'\n{dep}",
            out.display()
        ));
    }
    std::fs::write(d.dir.path().join("dags/d.yaml"), dag).unwrap();
    for i in 0..8 {
        d.ok(&["trigger", "slow", "--run-id", &format!("s{i}"), "--no-wait"]);
    }
    // One worker starts alone and takes every run; once it is busy, a second starts and the
    // first is killed: the second takes its runs over.
    let mut first = d.spawn("m1", &["worker", "--poll", "200ms"]);
    let start = Instant::now();
    while common::line_counts(&out).len() < 3 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the first worker did nothing"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let second = d.spawn("m2", &["worker", "--poll", "200ms"]);
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    let runs = d.wait_finished(8, Duration::from_secs(120));
    assert!(stop(second), "{}", d.log("m2"));
    assert!(runs.iter().all(|r| r["state"] == "success"), "{runs:?}");
    let lines = common::line_counts(&out);
    let mut orphaned = 0;
    for r in &runs {
        let run = r["run_id"].as_str().unwrap();
        for (task, tries) in d.tries(run) {
            let ok = tries.iter().filter(|t| t["state"] == "success").count();
            assert_eq!(ok, 1, "{run}.{task} succeeded once: {tries:?}");
            orphaned += tries.iter().filter(|t| t["state"] == "orphaned").count();
            assert!(lines.contains_key(&format!("{run} {task}")), "{run} {task}");
        }
    }
    assert!(orphaned >= 1, "the killed worker had tries running");
    // A line twice only where a killed try had written it before it was recorded.
    let repeats: usize = lines.values().map(|n| n - 1).sum();
    assert!(
        repeats <= orphaned,
        "{repeats} repeated lines, {orphaned} orphaned tries"
    );
}

/// Two schedulers that only create runs, racing over three hours of minutely catch-up runs:
/// each interval gets exactly one run, none is missing; one is killed and the other goes on
/// creating the runs that come due after.
#[test]
fn two_schedulers_create_each_due_run_once_and_survive_each_other() {
    use chrono::{DurationRound, Utc};
    let Some(d) = Deployment::new("schedulers2", "") else {
        return;
    };
    let minute = chrono::Duration::minutes(1);
    let start = (Utc::now() - chrono::Duration::hours(3))
        .duration_trunc(minute)
        .unwrap();
    std::fs::write(
        d.dir.path().join("dags/d.yaml"),
        format!(
            "dag_id: tick\nschedule: '*/1 * * * *'\nstart_date: {}\ncatchup: true\nmax_active_runs: 100000\ntasks:\n  t: {{operator: noop}}\n",
            start.format("%Y-%m-%dT%H:%M:%S")
        ),
    )
    .unwrap();
    let s1 = d.spawn("s1", &["scheduler", "--no-execute", "--reload-every", "1s"]);
    let mut s2 = d.spawn("s2", &["scheduler", "--no-execute", "--reload-every", "1s"]);
    std::thread::sleep(Duration::from_millis(700));
    s2.kill().unwrap(); // SIGKILL, perhaps in the middle of its catch-up
    s2.wait().unwrap();
    // Every interval that has ended by the time we look has its run: the last full minute is
    // the last logical date (a run covers [date, date + 1 min)).
    let expect = |now: chrono::DateTime<Utc>| -> Vec<String> {
        let mut out = Vec::new();
        let mut t = start;
        while t + minute <= now {
            out.push(t.to_rfc3339());
            t += minute;
        }
        out
    };
    let check = |wanted: &[String], limit: Duration| {
        let begun = Instant::now();
        loop {
            let runs = d.runs();
            let mut dates: Vec<String> = runs
                .iter()
                .map(|r| {
                    chrono::DateTime::parse_from_rfc3339(r["logical_date"].as_str().unwrap())
                        .unwrap()
                        .with_timezone(&Utc)
                        .to_rfc3339()
                })
                .collect();
            let n = dates.len();
            dates.sort();
            dates.dedup();
            assert_eq!(dates.len(), n, "a logical date has two runs");
            assert!(
                runs.iter().all(|r| r["state"] == "queued"),
                "--no-execute ran something"
            );
            if wanted.iter().all(|w| dates.contains(w)) {
                return;
            }
            let missing: Vec<&String> = wanted.iter().filter(|w| !dates.contains(w)).collect();
            assert!(
                begun.elapsed() < limit,
                "missing runs {missing:?} ({} of {}); the survivor said:\n{}",
                dates.len(),
                wanted.len(),
                d.log("s1")
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    };
    check(&expect(Utc::now()), Duration::from_secs(30));
    // The next minute comes due: the survivor creates its run.
    let next = Utc::now().duration_trunc(minute).unwrap() + minute;
    let wait = (next - Utc::now()).to_std().unwrap_or_default() + Duration::from_secs(1);
    std::thread::sleep(wait);
    check(&expect(next), Duration::from_secs(20));
    assert!(stop(s1), "{}", d.log("s1"));
}

/// The shipped loop as a deployment runs it: state in PostgreSQL, data on S3 through one
/// connection (`DAGCTL_DATA_CONN`), two workers executing 01 → 02 → 03 (02 and 03 start from
/// dataset events), then `models predict` reading and writing `s3://` from another machine.
#[test]
fn the_shipped_loop_runs_on_two_workers_with_postgresql_and_s3() {
    let Some(d) = Deployment::new("loopworkers", "") else {
        return;
    };
    let Ok(bucket) = std::env::var("DAGCTL_TEST_S3_BUCKET") else {
        assert!(std::env::var("CI").is_err(), "CI must run this test");
        return;
    };
    let prefix = format!("workers-{}", std::process::id());
    let dags = concat!(env!("CARGO_MANIFEST_DIR"), "/dags");
    let extra = common::s3::extra();
    // Every process: the shipped DAGs, the connection, no S3 variables of its own.
    let machine = |m: &str, args: &[&str]| {
        let mut c = d.dagctl(m, args);
        c.env("DAGCTL_DAGS_FOLDER", dags)
            .env("DAGCTL_DATA_CONN", "lake");
        for k in common::s3::VARS {
            c.env_remove(k);
        }
        c
    };
    let ok = |m: &str, args: &[&str]| {
        let out = machine(m, args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", common::out_text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let url = format!("s3://{bucket}/{prefix}");
    ok(
        "cli",
        &[
            "connections",
            "add",
            "lake",
            "--url",
            &url,
            "--extra",
            &extra,
        ],
    );
    ok(
        "cli",
        &[
            "trigger",
            "01_data_generation_pipeline",
            "--logical-date",
            "2026-01-05",
            "--no-wait",
        ],
    );
    let spawn = |m: &str| {
        let log = std::fs::File::create(d.dir.path().join(format!("{m}.log"))).unwrap();
        machine(m, &["worker", "--poll", "200ms"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap()
    };
    let (w1, w2) = (spawn("w1"), spawn("w2"));
    // 01, then 02 and 03 from its dataset events: three DAGs, one run each at least.
    let start = Instant::now();
    let runs = loop {
        let runs: Vec<Value> =
            serde_json::from_str::<Value>(&ok("cli", &["runs", "list", "--json"]))
                .unwrap()
                .as_array()
                .unwrap()
                .clone();
        let dags: std::collections::BTreeSet<&str> =
            runs.iter().map(|r| r["dag_id"].as_str().unwrap()).collect();
        let finished = runs
            .iter()
            .all(|r| r["state"] == "success" || r["state"] == "failed");
        if dags.len() >= 3 && finished {
            break runs;
        }
        assert!(
            start.elapsed() < Duration::from_secs(240),
            "{runs:?}\n{}\n{}",
            d.log("w1"),
            d.log("w2")
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(stop(w1) && stop(w2), "{}\n{}", d.log("w1"), d.log("w2"));
    assert!(
        runs.iter().all(|r| r["state"] == "success"),
        "{runs:?}\n{}",
        d.log("w1")
    );
    assert!(
        !d.dir.path().join("w1/data").exists() && !d.dir.path().join("w2/data").exists(),
        "nothing local"
    );
    let out = ok(
        "m3",
        &[
            "models",
            "predict",
            "churn_model",
            "--conn",
            "lake",
            "--input",
            &format!("{url}/raw_data/year=2026/month=01/day=05/part-00000.parquet"),
            "--output",
            &format!("{url}/scored/day.parquet"),
        ],
    );
    assert!(out.contains("with churn_model v1"), "{out}");
    ok("m3", &["models", "verify", "churn_model"]);
}

/// When a run of `runs` (as `runs list --json` gives them) ended, in seconds.
fn ended_at(run: &Value) -> f64 {
    chrono::DateTime::parse_from_rfc3339(run["end_date"].as_str().unwrap())
        .unwrap()
        .timestamp_micros() as f64
        / 1e6
}

// Fairness: 100 queued runs of one DAG do not starve another DAG's run queued after them, nor
// the tasks of another pool. Two workers; the other DAG's run ends before half of the flood's.
#[test]
fn a_hundred_queued_runs_of_one_dag_do_not_starve_another_dag_or_pool() {
    let Some(d) = Deployment::new("fairness", "") else {
        return;
    };
    let chain = |dag: &str, pool: &str| {
        let mut s = format!("dag_id: {dag}\nmax_active_runs: 4\ntasks:\n");
        for i in 0..3 {
            s.push_str(&format!(
                "  t{i}:\n    operator: command\n    bash_command: 'sleep 0.05'\n    pool: {pool}\n"
            ));
            if i > 0 {
                s.push_str(&format!("    dependencies: [t{}]\n", i - 1));
            }
        }
        s
    };
    std::fs::write(d.dir.path().join("dags/d.yaml"), chain("flood", "busy")).unwrap();
    std::fs::write(d.dir.path().join("dags/e.yaml"), chain("other", "quiet")).unwrap();
    std::fs::write(d.dir.path().join("dags/pools.yaml"), "busy: 4\nquiet: 1\n").unwrap();
    for i in 0..100 {
        d.ok(&[
            "trigger",
            "flood",
            "--run-id",
            &format!("f{i:03}"),
            "--no-wait",
        ]);
    }
    d.ok(&["trigger", "other", "--run-id", "late", "--no-wait"]);
    let workers: Vec<Child> = (0..2)
        .map(|w| d.spawn(&format!("w{w}"), &["worker"]))
        .collect();
    let runs = d.wait_finished(101, Duration::from_secs(300));
    for (w, child) in workers.into_iter().enumerate() {
        assert!(stop(child), "{}", d.log(&format!("w{w}")));
    }
    assert!(runs.iter().all(|r| r["state"] == "success"), "{runs:?}");
    let late = runs.iter().find(|r| r["run_id"] == "late").unwrap();
    let mut flood: Vec<f64> = runs
        .iter()
        .filter(|r| r["dag_id"] == "flood")
        .map(ended_at)
        .collect();
    flood.sort_by(f64::total_cmp);
    assert_eq!(flood.len(), 100);
    let before = flood.iter().filter(|t| **t < ended_at(late)).count();
    eprintln!("the other DAG's run ended after {before} of the flood's 100 runs");
    assert!(
        before < 50,
        "the other DAG's run ended after {before} of the flood's 100 runs"
    );
}
