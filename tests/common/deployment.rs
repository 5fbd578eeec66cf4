//! A deployment on one PostgreSQL database: every `dagctl` process with its own home, as
//! on its own machine, sharing the DAG folder and the Fernet key.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;

/// The fixed key every process of the deployment shares.
pub const KEY: &str = "dGhpcy1pcy10aGUtdGVzdC1rZXktb2YtMzItYnl0ZXM=";

pub struct Deployment {
    /// The PostgreSQL database.
    pub url: String,
    /// Homes, DAG folder and logs.
    pub dir: tempfile::TempDir,
}

impl Deployment {
    pub fn new(prefix: &str, dag: &str) -> Option<Deployment> {
        let url = super::pg::fresh_database(prefix)?;
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("dags")).unwrap();
        std::fs::write(dir.path().join("dags/d.yaml"), dag).unwrap();
        Some(Deployment { url, dir })
    }

    /// A deployment on a fresh database of the PostgreSQL server `admin` (a database URL).
    pub fn on(admin: &str, prefix: &str) -> Deployment {
        let url = super::pg::fresh_database_at(admin, prefix);
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("dags")).unwrap();
        Deployment { url, dir }
    }

    pub fn out(&self) -> std::path::PathBuf {
        self.dir.path().join("out.txt")
    }

    /// `dagctl ARGS` as machine `machine` (its own home).
    pub fn dagctl(&self, machine: &str, args: &[&str]) -> Command {
        let mut c = Command::cargo_bin("dagctl").unwrap();
        c.env("DAGCTL_HOME", self.dir.path().join(machine))
            .env("DAGCTL_DAGS_FOLDER", self.dir.path().join("dags"))
            .env("DAGCTL_STORE_URL", &self.url)
            .env("DAGCTL_FERNET_KEY", KEY)
            .env_remove("DAGCTL_DATA_URL")
            .args(args);
        c
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.dagctl("cli", args).output().unwrap();
        let text = super::out_text(&out);
        assert!(out.status.success(), "{args:?}: {text}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A long-running `dagctl` whose stderr goes to `<machine>.log` (a pipe nobody reads
    /// would stall it).
    pub fn spawn(&self, machine: &str, args: &[&str]) -> Child {
        let log = std::fs::File::create(self.dir.path().join(format!("{machine}.log"))).unwrap();
        self.dagctl(machine, args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap()
    }

    pub fn log(&self, machine: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{machine}.log"))).unwrap_or_default()
    }

    pub fn runs(&self) -> Vec<Value> {
        serde_json::from_str::<Value>(&self.ok(&["runs", "list", "--json", "--limit", "1000"]))
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }

    /// Waits until `n` runs exist and all are finished.
    pub fn wait_finished(&self, n: usize, limit: Duration) -> Vec<Value> {
        let start = Instant::now();
        loop {
            let runs = self.runs();
            if runs.len() >= n
                && runs
                    .iter()
                    .all(|r| r["state"] == "success" || r["state"] == "failed")
            {
                return runs;
            }
            assert!(
                start.elapsed() < limit,
                "not finished in {limit:?}: {runs:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Every try of every task instance of `run`.
    pub fn tries(&self, run: &str) -> Vec<(String, Vec<Value>)> {
        let v: Value = serde_json::from_str(&self.ok(&["runs", "show", run, "--json"])).unwrap();
        v["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["task_id"].as_str().unwrap().to_string(),
                    t["tries"].as_array().unwrap().clone(),
                )
            })
            .collect()
    }
}

/// SIGTERM, then whether it exited 0 (a drained worker does).
pub fn stop(mut child: Child) -> bool {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    child.wait().unwrap().success()
}
