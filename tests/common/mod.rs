//! A DAG folder and a state home in a temporary directory, and `dagctl` run against them.
#![allow(dead_code)] // each test crate uses a part

pub mod deployment;
pub mod faulty_store;
pub mod pg;
pub mod s3;
pub mod web;
pub mod webhook;

use std::path::PathBuf;

use serde_json::Value;
use tempfile::TempDir;

/// A temporary dagctl environment: `dags/` and `home/` in one directory.
pub struct Env {
    /// The directory (removed on drop).
    pub dir: TempDir,
    /// Whether the DAG folder is the repository's `dags/` (the shipped ML loop).
    shipped: bool,
}

impl Env {
    /// An environment whose DAG folder holds these files.
    pub fn new(dags: &[(&str, &str)]) -> Env {
        let dir = TempDir::new().unwrap();
        std::fs::create_dir_all(dir.path().join("dags")).unwrap();
        for (name, text) in dags {
            std::fs::write(dir.path().join("dags").join(name), text).unwrap();
        }
        Env {
            dir,
            shipped: false,
        }
    }

    /// An environment on the shipped DAGs (run from the repository by default; the DAGs do
    /// not depend on the working directory).
    pub fn shipped() -> Env {
        Env {
            dir: TempDir::new().unwrap(),
            shipped: true,
        }
    }

    /// The DAG folder.
    pub fn dags(&self) -> PathBuf {
        if self.shipped {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/dags"))
        } else {
            self.dir.path().join("dags")
        }
    }

    /// `DAGCTL_HOME`: the state store and, under `data/`, the data location.
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    fn configure<'c>(&self, c: &'c mut std::process::Command) -> &'c mut std::process::Command {
        c.env("DAGCTL_HOME", self.home())
            .env("DAGCTL_DAGS_FOLDER", self.dags())
            .env_remove("DAGCTL_STORE_URL")
            .env_remove("DAGCTL_DATA_URL")
            .env_remove("DAGCTL_FERNET_KEY")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
    }

    /// `dagctl ARGS` in this environment, to assert on.
    pub fn cmd(&self, args: &[&str]) -> assert_cmd::Command {
        assert_cmd::Command::from_std(self.process(args))
    }

    /// `dagctl ARGS` as a plain process, to spawn and signal.
    pub fn process(&self, args: &[&str]) -> std::process::Command {
        use assert_cmd::cargo::CommandCargoExt;
        let mut c = std::process::Command::cargo_bin("dagctl").unwrap();
        self.configure(&mut c).args(args);
        c
    }

    /// `dagctl ARGS` run from `dir` (not the repository), which must succeed; its output.
    pub fn ok_in(&self, dir: &std::path::Path, args: &[&str]) -> std::process::Output {
        let out = self.process(args).current_dir(dir).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?} in {}: {}",
            dir.display(),
            out_text(&out)
        );
        out
    }

    /// The JSON that `dagctl ARGS` prints.
    pub fn json(&self, args: &[&str]) -> Value {
        let out = self.cmd(args).output().unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{args:?}: {e}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        })
    }

    /// `runs show --json` of every run, newest first.
    pub fn shown(&self) -> Vec<Value> {
        self.runs()
            .iter()
            .map(|r| {
                self.json(&[
                    "runs",
                    "show",
                    r["run_id"].as_str().unwrap(),
                    "--dag",
                    r["dag_id"].as_str().unwrap(),
                    "--json",
                ])
            })
            .collect()
    }

    /// Every run (`runs list --json`), newest first.
    pub fn runs(&self) -> Vec<Value> {
        self.json(&["runs", "list", "--json", "--limit", "10000"])
            .as_array()
            .unwrap()
            .clone()
    }
}

/// How many times each line occurs in a file (none if it does not exist): what tasks that
/// append a line per piece of work did.
pub fn line_counts(path: &std::path::Path) -> std::collections::BTreeMap<String, usize> {
    let mut n = std::collections::BTreeMap::new();
    for line in std::fs::read_to_string(path).unwrap_or_default().lines() {
        *n.entry(line.to_string()).or_insert(0) += 1;
    }
    n
}

/// A process's stdout then stderr, for assertion messages.
pub fn out_text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The test virtualenv's Python (`DAGCTL_TEST_PYTHON`, set by `scripts/test.sh` with pyarrow,
/// DuckDB and scipy); `None` outside it, which fails under CI, where the tests must run.
pub fn test_python() -> Option<String> {
    match std::env::var("DAGCTL_TEST_PYTHON") {
        Ok(p) => Some(p),
        Err(_) => {
            assert!(
                std::env::var("CI").is_err(),
                "CI must run this test: set DAGCTL_TEST_PYTHON (scripts/test.sh does)"
            );
            eprintln!("skipped: DAGCTL_TEST_PYTHON is not set (scripts/test.sh sets it)");
            None
        }
    }
}

/// Whether headless Chromium is here; outside CI a test without it is skipped (with a
/// note), under CI its absence fails the test (`scripts/test.sh` installs it).
pub fn chromium_found() -> bool {
    let found = std::env::var("DAGCTL_CHROMIUM").is_ok()
        || ["chromium", "chromium-browser"].iter().any(|b| {
            std::process::Command::new("sh")
                .args(["-c", &format!("command -v {b}")])
                .output()
                .is_ok_and(|o| o.status.success())
        });
    if !found {
        assert!(
            std::env::var("CI").is_err(),
            "CI must run this test: install chromium (scripts/test.sh does)"
        );
        eprintln!("skipped: no chromium (scripts/test.sh installs it)");
    }
    found
}

/// Renders a self-contained HTML page in headless Chromium (`tests/python/render_check.py`):
/// a screenshot that is not blank, no console error, no request leaving the page. Skipped
/// outside CI when Chromium is missing (`scripts/test.sh` installs it); a failure panics with
/// what the browser saw.
pub fn render_in_chromium(page: &std::path::Path) {
    if !chromium_found() {
        return;
    }
    let png = page.with_extension("png");
    let out = std::process::Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/python/render_check.py"
        ))
        .arg(page)
        .arg(&png)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{} in Chromium: {}",
        page.display(),
        out_text(&out)
    );
    assert!(png.metadata().unwrap().len() > 1000);
}

/// Copies a folder and everything below it (the shipped DAGs into a test's own folder).
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// The stdout of a finished process that had to succeed; its stderr says why when it did not.
pub fn stdout_ok(out: std::process::Output) -> Vec<u8> {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Task instance `id` in `runs show --json` output.
pub fn task_instance<'a>(run: &'a Value, id: &str) -> &'a Value {
    run["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["task_id"] == id)
        .unwrap_or_else(|| panic!("no task instance {id} in {run}"))
}
