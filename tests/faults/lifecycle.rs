//! The run lifecycle as a user meets it, through the real binary on real SQLite homes: runs a
//! run causes are never forgotten, several processes on one home never run a task instance
//! twice nor break `max_active_runs`, a trigger drives only its own runs, failures show in the
//! exit code, and runs can be cleared, marked, cancelled and DAGs paused.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{Env, line_counts, out_text};
use serde_json::Value;

/// Three DAGs shaped like the shipped loop, with shell tasks: `gen` (one run at a time)
/// appends `gen <ds>` to `effects` and triggers `prep` for its date; `prep` appends and updates
/// the dataset `ds1`; `train`, scheduled on `ds1`, appends `train <ds>`.
fn loop_dags(effects: &Path, gen_sleep: f64) -> Vec<(&'static str, String)> {
    let e = effects.display();
    vec![
        (
            "gen.yaml",
            format!(
                "dag_id: gen\nschedule: '@daily'\nstart_date: 2026-01-01\ncatchup: false\n\
                 max_active_runs: 1\ntasks:\n  make:\n    operator: command\n    \
                 bash_command: 'sleep {gen_sleep}; echo gen {{{{ ds }}}} >> {e}'\n  go:\n    \
                 operator: trigger_dag\n    dag_id: prep\n    logical_date: '{{{{ logical_date }}}}'\n    \
                 reset_dag_run: true\n    dependencies: [make]\n"
            ),
        ),
        (
            "prep.yaml",
            format!(
                "dag_id: prep\nmax_active_runs: 1\ntasks:\n  shape:\n    operator: command\n    \
                 bash_command: 'echo prep {{{{ ds }}}} >> {e}'\n    outlets: [ds1]\n"
            ),
        ),
        (
            "train.yaml",
            format!(
                "dag_id: train\nmax_active_runs: 1\nschedule:\n  datasets: [ds1]\ntasks:\n  fit:\n    \
                 operator: command\n    bash_command: 'echo train {{{{ ds }}}} >> {e}'\n"
            ),
        ),
    ]
}

fn env_with(dags: &[(&'static str, String)]) -> Env {
    let files: Vec<(&str, &str)> = dags.iter().map(|(n, t)| (*n, t.as_str())).collect();
    Env::new(&files)
}

/// Asserts that no task instance of any run has more than one `success` try, and returns
/// how many runs each DAG has, by state.
fn no_double_success(env: &Env) -> BTreeMap<(String, String), usize> {
    let mut count = BTreeMap::new();
    for run in env.shown() {
        for t in run["tasks"].as_array().unwrap() {
            let ok = t["tries"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|x| x["state"] == "success")
                .count();
            assert!(
                ok <= 1,
                "{} of {}: {ok} successful tries",
                t["task_id"],
                run["run_id"]
            );
        }
        *count
            .entry((
                run["dag_id"].as_str().unwrap().to_string(),
                run["state"].as_str().unwrap().to_string(),
            ))
            .or_insert(0) += 1;
    }
    count
}

#[test]
fn concurrent_triggers_on_one_home_never_succeed_twice_and_hold_max_active_runs() {
    for trial in 0..3 {
        let dir = tempfile::TempDir::new().unwrap();
        let fx = dir.path().join("effects");
        let env = env_with(&loop_dags(&fx, 0.3));
        let children: Vec<Child> = (1..=3)
            .map(|d| {
                env.process(&["trigger", "gen", "--logical-date", &format!("2026-01-0{d}")])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for c in children {
            let out = c.wait_with_output().unwrap();
            assert!(out.status.success(), "trial {trial}: {}", out_text(&out));
        }
        let count = no_double_success(&env);
        for dag in ["gen", "prep", "train"] {
            assert_eq!(
                count.get(&(dag.to_string(), "success".to_string())),
                Some(&3),
                "trial {trial}: {count:?}"
            );
        }
        // Every day's work happened once.
        let fx = line_counts(&fx);
        for day in 1..=3 {
            for dag in ["gen", "prep", "train"] {
                assert_eq!(fx.get(&format!("{dag} 2026-01-0{day}")), Some(&1), "{fx:?}");
            }
        }
        // `max_active_runs: 1` held across the three processes: gen's runs never overlap.
        let mut spans: Vec<(String, String)> = env
            .runs()
            .iter()
            .filter(|r| r["dag_id"] == "gen")
            .map(|r| {
                (
                    r["start_date"].as_str().unwrap().to_string(),
                    r["end_date"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        spans.sort();
        for w in spans.windows(2) {
            let parse = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap();
            assert!(
                parse(&w[0].1) <= parse(&w[1].0),
                "trial {trial}: runs of gen overlap: {spans:?}"
            );
        }
    }
}

#[test]
fn resume_runs_every_run_a_no_follow_backfill_left_queued() {
    let dir = tempfile::TempDir::new().unwrap();
    let fx = dir.path().join("effects");
    let env = env_with(&loop_dags(&fx, 0.0));
    env.cmd(&[
        "backfill",
        "gen",
        "--start",
        "2026-01-01",
        "--end",
        "2026-01-03",
        "--no-follow",
    ])
    .assert()
    .success();
    let queued: Vec<Value> = env
        .runs()
        .into_iter()
        .filter(|r| r["state"] == "queued")
        .collect();
    assert_eq!(queued.len(), 3, "prep's runs wait");
    let out = env.cmd(&["runs", "resume"]).output().unwrap();
    assert!(out.status.success(), "{}", out_text(&out));
    let count = no_double_success(&env);
    assert_eq!(count.len(), 3, "{count:?}");
    for dag in ["gen", "prep", "train"] {
        assert_eq!(
            count[&(dag.to_string(), "success".to_string())],
            3,
            "{count:?}"
        );
    }
    // train ran once per day, on that day (its logical date is the preparation's).
    let fx = line_counts(&fx);
    for day in 1..=3 {
        assert_eq!(fx.get(&format!("train 2026-01-0{day}")), Some(&1), "{fx:?}");
    }
    env.cmd(&["runs", "resume"])
        .assert()
        .success()
        .stdout(predicates::str::contains("no unfinished runs"));
}

#[test]
fn trigger_no_follow_says_which_runs_wait() {
    let dir = tempfile::TempDir::new().unwrap();
    let env = env_with(&loop_dags(&dir.path().join("fx"), 0.0));
    env.cmd(&["trigger", "gen", "--no-follow"])
        .assert()
        .success()
        .stderr(predicates::str::contains(
            "1 run(s) it caused wait (queued)",
        ));
}

#[test]
fn a_trigger_drives_its_own_runs_and_leaves_unrelated_ones_alone() {
    let dir = tempfile::TempDir::new().unwrap();
    let env = env_with(&loop_dags(&dir.path().join("fx"), 0.0));
    env.cmd(&["trigger", "prep", "--no-wait", "--run-id", "stranger"])
        .assert()
        .success();
    let out = env.cmd(&["trigger", "gen"]).output().unwrap();
    assert!(out.status.success(), "{}", out_text(&out));
    assert!(!out_text(&out).contains("stranger"), "{}", out_text(&out));
    let runs = env.runs();
    let state = |dag: &str, id: &str| {
        runs.iter()
            .find(|r| r["dag_id"] == dag && r["run_id"] == id)
            .map(|r| r["state"].as_str().unwrap().to_string())
    };
    assert_eq!(state("prep", "stranger").as_deref(), Some("queued"));
    // The trigger's own chain ran to its end: gen → prep → train.
    let done: Vec<&Value> = runs.iter().filter(|r| r["state"] == "success").collect();
    assert_eq!(done.len(), 3, "{runs:?}");
}

#[test]
fn a_failed_task_under_an_all_done_leaf_still_fails_the_run_and_the_exit_code() {
    let env = Env::new(&[(
        "fails.yaml",
        "dag_id: fails\ntasks:\n  work: {operator: command, bash_command: 'exit 3'}\n  \
         report: {operator: noop, dependencies: [work], trigger_rule: all_done}\n  \
         work_succeeded: {operator: noop, dependencies: [work]}\n",
    )]);
    let out = env.cmd(&["trigger", "fails"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", out_text(&out));
    let run = &env.shown()[0];
    assert_eq!(run["state"], "failed");
    let state = |id: &str| {
        run["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["task_id"] == id)
            .unwrap()["state"]
            .clone()
    };
    assert_eq!(state("report"), "success", "the summary still ran");
    assert_eq!(state("work_succeeded"), "upstream_failed");
}

/// A DAG whose one task sleeps until a file appears (so the test controls when it ends),
/// leaving a marker when it starts.
fn sleeper(dir: &Path) -> String {
    format!(
        "dag_id: sleeper\ntasks:\n  nap:\n    operator: command\n    bash_command: 'touch {d}/started; \
         while [ ! -e {d}/wake ]; do sleep 0.05; done; touch {d}/finished'\n  after:\n    \
         operator: noop\n    dependencies: [nap]\n",
        d = dir.display()
    )
}

fn wait_for(path: &Path) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn runs_cancel_stops_the_running_try_and_fails_the_run() {
    let marks = tempfile::TempDir::new().unwrap();
    let env = Env::new(&[("sleeper.yaml", &sleeper(marks.path()))]);
    let child = env
        .process(&["trigger", "sleeper", "--run-id", "r1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&marks.path().join("started"));
    env.cmd(&["runs", "cancel", "r1"])
        .assert()
        .success()
        .stdout(predicates::str::contains("cancelled: run r1 of sleeper"));
    // The trigger notices within a heartbeat, stops its try and reports the failed run.
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", out_text(&out));
    std::fs::write(marks.path().join("wake"), "").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !marks.path().join("finished").exists(),
        "the try's process was stopped"
    );
    let run = &env.shown()[0];
    assert_eq!(run["state"], "failed");
    let nap = &run["tasks"][0];
    assert_eq!(nap["state"], "failed");
    assert!(
        nap["tries"][0]["error"]
            .as_str()
            .unwrap()
            .contains("cancelled")
    );
    assert_eq!(run["tasks"][1]["state"], "skipped");
    // Cancelling a finished run is refused, clearly.
    env.cmd(&["runs", "cancel", "r1"])
        .assert()
        .failure()
        .stderr(predicates::str::contains("nothing to cancel"));
}

#[test]
fn tasks_clear_runs_a_task_and_its_downstream_again() {
    let marks = tempfile::TempDir::new().unwrap();
    std::fs::write(marks.path().join("wake"), "").unwrap();
    let env = Env::new(&[("sleeper.yaml", &sleeper(marks.path()))]);
    env.cmd(&["trigger", "sleeper", "--run-id", "r1"])
        .assert()
        .success();
    env.cmd(&["tasks", "clear", "r1", "nap", "--downstream"])
        .assert()
        .success()
        .stdout(predicates::str::contains("cleared 2 task(s)"));
    assert_eq!(env.runs()[0]["state"], "queued");
    env.cmd(&["runs", "resume"]).assert().success();
    let run = &env.shown()[0];
    assert_eq!(run["state"], "success");
    assert_eq!(run["tasks"][0]["tries"].as_array().unwrap().len(), 2);
    assert_eq!(
        run["tasks"][0]["max_tries"], 2,
        "one fresh retry budget: 1 try + retries 0 + 1"
    );
    env.cmd(&["tasks", "clear", "r1", "nope"])
        .assert()
        .failure()
        .stderr(predicates::str::contains("has no task `nope`"));
}

#[test]
fn runs_mark_success_and_mark_failed_end_a_queued_run() {
    let env = Env::new(&[(
        "m.yaml",
        "dag_id: m\ntasks:\n  a: {operator: noop}\n  b: {operator: noop, dependencies: [a]}\n",
    )]);
    env.cmd(&["trigger", "m", "--no-wait", "--run-id", "ok"])
        .assert()
        .success();
    env.cmd(&["trigger", "m", "--no-wait", "--run-id", "ko"])
        .assert()
        .success();
    env.cmd(&["runs", "mark-success", "ok"]).assert().success();
    env.cmd(&["runs", "mark-failed", "ko"]).assert().success();
    let runs = env.shown();
    let by_id = |id: &str| runs.iter().find(|r| r["run_id"] == id).unwrap();
    assert_eq!(by_id("ok")["state"], "success");
    assert!(
        by_id("ok")["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["state"] == "success")
    );
    assert_eq!(by_id("ko")["state"], "failed");
    assert!(
        by_id("ko")["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["state"] == "skipped")
    );
    // Nothing is left for resume, and its exit code says all is well.
    env.cmd(&["runs", "resume"])
        .assert()
        .success()
        .stdout(predicates::str::contains("no unfinished runs"));
}

#[test]
fn a_backfill_over_a_day_that_failed_before_fails_unless_rerun() {
    let marks = tempfile::TempDir::new().unwrap();
    let flag = marks.path().join("ok");
    let env = Env::new(&[(
        "d.yaml",
        &format!(
            "dag_id: d\nschedule: '@daily'\nstart_date: 2026-01-01\ntasks:\n  \
             t: {{operator: command, bash_command: 'test -e {}'}}\n",
            flag.display()
        ),
    )]);
    let backfill = [
        "backfill",
        "d",
        "--start",
        "2026-01-01",
        "--end",
        "2026-01-02",
    ];
    env.cmd(&backfill).assert().code(1);
    std::fs::write(&flag, "").unwrap();
    env.cmd(&backfill)
        .assert()
        .code(1)
        .stderr(predicates::str::contains(
            "failed in an earlier run and was not rerun",
        ));
    let mut rerun = backfill.to_vec();
    rerun.push("--rerun-failed");
    env.cmd(&rerun).assert().success();
    assert!(env.runs().iter().all(|r| r["state"] == "success"));
}

#[test]
fn a_paused_dag_gets_no_dataset_runs_until_unpaused() {
    let dir = tempfile::TempDir::new().unwrap();
    let fx = dir.path().join("fx");
    let env = env_with(&loop_dags(&fx, 0.0));
    env.cmd(&["dags", "pause", "train"])
        .assert()
        .success()
        .stdout(predicates::str::contains("paused train"));
    env.cmd(&["trigger", "prep"]).assert().success();
    assert!(
        env.runs().iter().all(|r| r["dag_id"] != "train"),
        "no run while paused"
    );
    env.cmd(&["dags", "unpause", "train"]).assert().success();
    // The event waited: the next resume turns it into a run.
    env.cmd(&["runs", "resume"]).assert().success();
    let train: Vec<Value> = env
        .runs()
        .into_iter()
        .filter(|r| r["dag_id"] == "train")
        .collect();
    assert_eq!(train.len(), 1);
    assert_eq!(train[0]["state"], "success");
    env.cmd(&["dags", "pause", "nope"])
        .assert()
        .failure()
        .stderr(predicates::str::contains("no valid DAG `nope`"));
}

/// Waits for a process, killing it (and failing) if it has not ended within `limit`.
fn wait_bounded(mut child: Child, limit: Duration, what: &str) -> std::process::Output {
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            child.kill().unwrap();
            panic!("{what} did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn a_run_driven_to_its_end_by_another_process_ends_the_wait_for_it() {
    let marks = tempfile::TempDir::new().unwrap();
    let env = Env::new(&[("sleeper.yaml", &sleeper(marks.path()))]);
    env.cmd(&["trigger", "sleeper", "--no-wait", "--run-id", "r1"])
        .assert()
        .success();
    let driver = env
        .process(&["runs", "resume"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&marks.path().join("started"));
    // This one finds r1 driven by the other process and waits for it.
    let waiter = env
        .process(&["runs", "resume", "r1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(400));
    std::fs::write(marks.path().join("wake"), "").unwrap();
    let out = wait_bounded(driver, Duration::from_secs(30), "the driving resume");
    assert!(out.status.success(), "{}", out_text(&out));
    let out = wait_bounded(waiter, Duration::from_secs(30), "the waiting resume");
    assert!(out.status.success(), "{}", out_text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("run r1 of sleeper: success"),
        "{}",
        out_text(&out)
    );
}

#[test]
fn a_trigger_blocked_by_a_crashed_run_says_so_instead_of_waiting() {
    let marks = tempfile::TempDir::new().unwrap();
    let env = Env::new(&[(
        "one.yaml",
        &format!(
            "dag_id: one\nmax_active_runs: 1\ntasks:\n  nap: {{operator: command, \
             bash_command: 'touch {}/started; sleep 30'}}\n",
            marks.path().display()
        ),
    )]);
    let mut first = env
        .process(&["trigger", "one", "--run-id", "crashed"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&marks.path().join("started"));
    first.kill().unwrap();
    first.wait().unwrap();
    let second = env
        .process(&["trigger", "one", "--run-id", "next"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = wait_bounded(second, Duration::from_secs(30), "the second trigger");
    assert_eq!(out.status.code(), Some(1), "{}", out_text(&out));
    let text = out_text(&out);
    assert!(
        text.contains("left unfinished: run next of one")
            && text.contains("held by crashed of one")
            && text.contains("`dagctl runs resume` continues it"),
        "{text}"
    );
}

/// On a terminal the progress bar counts the tasks of every run the trigger drives, so it
/// never shows more done than there are (it showed 9/3, then 3/3).
#[test]
fn the_progress_bar_never_overshoots_on_a_terminal() {
    let dir = tempfile::TempDir::new().unwrap();
    let env = env_with(&loop_dags(&dir.path().join("fx"), 0.2));
    let bin = assert_cmd::cargo::cargo_bin("dagctl");
    let out = env
        .process(&[])
        .get_envs()
        .fold(std::process::Command::new("script"), |mut c, (k, v)| {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
            c
        })
        .args([
            "-qec",
            &format!("{} trigger gen", bin.display()),
            "/dev/null",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "\n");
    assert!(out.status.success(), "{text}");
    let mut last = (0, 0);
    for line in text.lines() {
        let Some(at) = line.find(" tasks") else {
            continue;
        };
        let Some((done, total)) = line[..at]
            .rsplit(' ')
            .next()
            .and_then(|f| f.split_once('/'))
            .and_then(|(d, t)| Some((d.parse::<u32>().ok()?, t.parse::<u32>().ok()?)))
        else {
            continue;
        };
        assert!(done <= total, "{done}/{total} in:\n{text}");
        last = (done, total);
    }
    assert_eq!(last, (4, 4), "gen's 2 tasks, prep's and train's:\n{text}");
}
