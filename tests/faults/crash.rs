//! Crash safety: a real `dagctl` process is killed with SIGKILL in the middle of a run, at
//! several points; `dagctl runs resume` takes the run over, records the killed try as
//! `orphaned`, runs the task again at once without using a retry, and finishes the run.
//! Nothing recorded before the kill is lost; a `dagctl trigger` of the same DAG leaves the
//! crashed run alone (it is not its run).

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;
use tempfile::TempDir;

/// A chain t1 → t2 → t3 → t4; each try leaves `<task>.started.<try>` in the marker folder,
/// prints a line, sleeps, then leaves `<task>.done`.
fn dag(marks: &Path, retries: u32) -> String {
    let mut tasks = String::new();
    for i in 1..=4 {
        let dep = if i > 1 {
            format!("    dependencies: [t{}]\n", i - 1)
        } else {
            String::new()
        };
        tasks.push_str(&format!(
            "  t{i}:\n    operator: command\n    bash_command: >-\n      echo \"t{i} try {{{{ ti.try_number }}}}\";\n      touch {m}/t{i}.started.{{{{ ti.try_number }}}};\n      sleep 0.4;\n      touch {m}/t{i}.done\n{dep}",
            m = marks.display()
        ));
    }
    format!(
        "dag_id: crashy\ndefault_args:\n  retries: {retries}\n  retry_delay: 0\ntasks:\n{tasks}"
    )
}

struct Setup {
    _dir: TempDir,
    home: PathBuf,
    dags: PathBuf,
    marks: PathBuf,
}

fn setup(retries: u32) -> Setup {
    let dir = TempDir::new().unwrap();
    let home = dir.path().join("home");
    let dags = dir.path().join("dags");
    let marks = dir.path().join("marks");
    std::fs::create_dir_all(&dags).unwrap();
    std::fs::create_dir_all(&marks).unwrap();
    std::fs::write(dags.join("crashy.yaml"), dag(&marks, retries)).unwrap();
    Setup {
        _dir: dir,
        home,
        dags,
        marks,
    }
}

impl Setup {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::cargo_bin("dagctl").unwrap();
        c.args(args)
            .env("DAGCTL_HOME", &self.home)
            .env("DAGCTL_DAGS_FOLDER", &self.dags)
            .env_remove("DAGCTL_STORE_URL");
        c
    }

    fn spawn_trigger(&self) -> Child {
        self.cmd(&["trigger", "crashy"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    /// Waits (bounded) for a marker file, i.e. for a try to be running.
    fn wait_for(&self, mark: &str) {
        let path = self.marks.join(mark);
        let start = Instant::now();
        while !path.exists() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "{mark} never appeared"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn runs(&self) -> Vec<Value> {
        let out = self.cmd(&["runs", "list", "--json"]).output().unwrap();
        serde_json::from_slice::<Value>(&out.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }

    /// `runs show --json` of the given run, or of the newest one.
    fn run_json(&self, run_id: Option<&str>) -> Value {
        let newest = self.runs()[0]["run_id"].as_str().unwrap().to_string();
        let id = run_id.unwrap_or(&newest);
        let out = self.cmd(&["runs", "show", id, "--json"]).output().unwrap();
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// `dagctl runs resume`, which must succeed; then the newest run.
    fn resume_ok(&self) -> Value {
        let out = self.cmd(&["runs", "resume"]).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.run_json(None)
    }

    fn log(&self, run_id: &str, task: &str, try_number: u32) -> String {
        let out = self
            .cmd(&[
                "tasks",
                "logs",
                run_id,
                task,
                "--try",
                &try_number.to_string(),
            ])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    }
}

/// The states of a task instance's tries, in order.
fn try_states(ti: &Value) -> Vec<&str> {
    ti["tries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["state"].as_str().unwrap())
        .collect()
}

/// Kills `dagctl trigger` while `victim` runs, resumes with `resume_args`, and checks the run.
fn kill_and_resume(victim: &str, resume_args: &[&str]) {
    let s = setup(1);
    let mut child = s.spawn_trigger();
    s.wait_for(&format!("{victim}.started.1"));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    // What was recorded before the kill is there: the victim's try is still `running`.
    let before = s.run_json(None);
    let run_id = before["run_id"].as_str().unwrap().to_string();
    assert_eq!(before["state"], "running");
    assert_eq!(common::task_instance(&before, victim)["state"], "running");

    let out = s.cmd(resume_args).output().unwrap();
    assert!(
        out.status.success(),
        "{resume_args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if resume_args[0] == "trigger" {
        // The next trigger ran its own run only: the crashed one is still as it was.
        let runs = s.runs();
        assert_eq!(runs.len(), 2);
        assert_eq!(s.run_json(Some(&run_id))["state"], "running");
        let resumed = s.cmd(&["runs", "resume"]).output().unwrap();
        assert!(resumed.status.success());
    }
    let run = s.run_json(Some(&run_id));
    let run_id = run_id.as_str();
    assert_eq!(run["state"], "success");
    let n: u32 = victim[1..].parse().unwrap();
    for i in 1..=4u32 {
        let t = common::task_instance(&run, &format!("t{i}"));
        assert_eq!(t["state"], "success", "t{i}");
        let tries = t["tries"].as_array().unwrap();
        if i == n {
            assert_eq!(tries.len(), 2, "the killed try, then one more");
            assert_eq!(tries[0]["state"], "orphaned");
            assert_eq!(
                t["max_tries"], 3,
                "the orphaned try used no retry (retries: 1)"
            );
            assert!(
                tries[0]["error"].as_str().unwrap().contains("orphaned"),
                "{}",
                tries[0]
            );
            assert_eq!(tries[1]["state"], "success");
            assert_eq!(s.log(run_id, &format!("t{i}"), 2), format!("t{i} try 2\n"));
        } else {
            assert_eq!(tries.len(), 1, "t{i} ran once");
        }
        if i < n {
            // Logs of tasks finished before the kill survive it.
            assert_eq!(s.log(run_id, &format!("t{i}"), 1), format!("t{i} try 1\n"));
        }
    }
    // The metrics count each end once, the killed try's included, nothing twice.
    let runs = s.runs();
    assert!(runs.iter().all(|r| r["state"] == "success"));
    let dag = run["dag_id"].as_str().unwrap();
    let out = s.cmd(&["metrics"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let sample = |name: &str, labels: &str| -> f64 {
        let head = format!("{name}{{{labels}}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&head))
            .unwrap_or_else(|| panic!("no {head} in {text}"))
            .parse()
            .unwrap()
    };
    let success = format!("dag_id=\"{dag}\",state=\"success\"");
    assert_eq!(sample("dagctl_dag_runs_total", &success), runs.len() as f64);
    assert_eq!(
        sample("dagctl_task_instances_total", &success),
        4.0 * runs.len() as f64
    );
    // Every try ended: four per run, and the orphaned one.
    assert_eq!(
        sample(
            "dagctl_task_try_duration_seconds_count",
            &format!("dag_id=\"{dag}\"")
        ),
        4.0 * runs.len() as f64 + 1.0
    );
}

#[test]
fn killed_during_the_first_task_then_resumed() {
    kill_and_resume("t1", &["runs", "resume"]);
}

#[test]
fn killed_mid_chain_then_resumed() {
    kill_and_resume("t3", &["runs", "resume"]);
}

#[test]
fn killed_during_the_last_task_then_left_alone_by_the_next_trigger() {
    kill_and_resume("t4", &["trigger", "crashy"]);
}

#[test]
fn an_orphaned_try_without_retries_runs_again_at_once() {
    let s = setup(0);
    let mut child = s.spawn_trigger();
    s.wait_for("t2.started.1");
    child.kill().unwrap();
    child.wait().unwrap();
    let run = s.resume_ok();
    assert_eq!(run["state"], "success");
    let t2 = common::task_instance(&run, "t2");
    assert_eq!(t2["state"], "success");
    let states = try_states(t2);
    assert_eq!(states, ["orphaned", "success"]);
    // Resuming a finished run changes nothing.
    let again = s.cmd(&["runs", "resume"]).output().unwrap();
    assert!(String::from_utf8_lossy(&again.stdout).contains("no unfinished runs"));
}

/// A task that kills its own process (`kill -9 $PPID`): the first time it kills the driver,
/// which cannot tell that death from one from outside, so the try is orphaned and uses no
/// retry; its next tries run in a process of their own, whose death by SIGKILL under a live
/// driver is the task's doing: each is a failed try, and the task's retries bound them.
#[test]
fn a_task_that_kills_its_process_fails_once_its_retries_are_used() {
    let dir = TempDir::new().unwrap();
    let dags = dir.path().join("dags");
    std::fs::create_dir_all(&dags).unwrap();
    std::fs::write(
        dags.join("killer.yaml"),
        "dag_id: killer\ndefault_args: {retries: 1, retry_delay: 0}\ntasks:\n  \
         k: {operator: command, bash_command: 'kill -9 $PPID; sleep 5'}\n",
    )
    .unwrap();
    let s = Setup {
        home: dir.path().join("home"),
        dags,
        marks: dir.path().to_path_buf(),
        _dir: dir,
    };
    let first = s.cmd(&["trigger", "killer"]).output().unwrap();
    assert_eq!(first.status.code(), None, "killed by its task");
    let out = s.cmd(&["runs", "resume"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "the resume lives and reports the failure: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = s.run_json(None);
    assert_eq!(run["state"], "failed");
    let k = common::task_instance(&run, "k");
    assert_eq!(k["state"], "failed");
    let tries = k["tries"].as_array().unwrap();
    let states = try_states(k);
    assert_eq!(states, ["orphaned", "failed", "failed"], "{tries:?}");
    for t in &tries[1..] {
        let error = t["error"].as_str().unwrap();
        assert!(
            error.contains("killed by signal 9 (SIGKILL) while its driver lived"),
            "{error}"
        );
    }
}

/// Kills from outside never use up a task's tries: a task without retries whose driver is
/// killed with SIGKILL five times while it runs (the later times while it runs in a process
/// of its own) succeeds on the next resume, its try run once to the end.
#[test]
fn a_driver_killed_from_outside_again_and_again_never_fails_its_task() {
    let s = setup(0);
    let mut child = s.spawn_trigger();
    s.wait_for("t1.started.1");
    child.kill().unwrap();
    child.wait().unwrap();
    for n in 2..=5 {
        let mut resume = s
            .cmd(&["runs", "resume"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        s.wait_for(&format!("t1.started.{n}"));
        resume.kill().unwrap();
        resume.wait().unwrap();
    }
    let run = s.resume_ok();
    assert_eq!(run["state"], "success");
    let t1 = common::task_instance(&run, "t1");
    let states = try_states(t1);
    assert_eq!(
        states,
        [
            "orphaned", "orphaned", "orphaned", "orphaned", "orphaned", "success"
        ]
    );
    // The isolated try wrote its log through its driver, as any try.
    let run_id = run["run_id"].as_str().unwrap();
    assert!(
        s.log(run_id, "t1", 6).contains("t1 try 6"),
        "{}",
        s.log(run_id, "t1", 6)
    );
}
