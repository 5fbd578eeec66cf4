//! The PostgreSQL server restarts under load (a failover, an upgrade): a worker loses its
//! connections in the middle of commits for a few seconds, then every run still completes
//! without waiting for a lease, nothing succeeds twice, and the worker goes on without being
//! restarted.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::deployment::{Deployment, stop};

/// A PostgreSQL server of this test's own (the suite's is shared with other tests).
struct Server {
    bin: PathBuf,
    dir: tempfile::TempDir,
}

impl Server {
    fn pg_ctl(&self, args: &[&str]) {
        let data = self.dir.path().join("data");
        let mut c = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"])
                .arg(self.bin.join("pg_ctl"));
            c
        } else {
            Command::new(self.bin.join("pg_ctl"))
        };
        let out = c.arg("-D").arg(&data).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "pg_ctl {args:?}: {}",
            common::out_text(&out)
        );
    }
}

fn own_server() -> Option<(Server, String)> {
    std::env::var("DAGCTL_TEST_PG_URL").ok()?;
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/pg-server.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg("start")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::out_text(&out));
    let url = String::from_utf8_lossy(&out.stdout)
        .trim()
        .trim_start_matches("export DAGCTL_TEST_PG_URL=")
        .to_string();
    let bin = std::fs::read_dir("/usr/lib/postgresql")
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("pg_ctl").exists())
        .max()
        .unwrap();
    Some((Server { bin, dir }, url))
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(|| self.pg_ctl(&["-m", "immediate", "-w", "stop"]));
    }
}

#[test]
fn workers_ride_out_a_postgresql_restart() {
    let Some((server, url)) = own_server() else {
        return;
    };
    let d = Deployment::on(&url, "pgrestart");
    let out = d.out();
    let mut dag = String::from("dag_id: steady\nmax_active_runs: 10\ntasks:\n");
    for i in 1..=4 {
        let dep = if i > 1 {
            format!("    dependencies: [t{}]\n", i - 1)
        } else {
            String::new()
        };
        dag.push_str(&format!(
            "  t{i}:\n    operator: command\n    bash_command: 'sleep 0.5; echo \"{{{{ run_id }}}} t{i}\" >> {}'\n{dep}",
            out.display()
        ));
    }
    // And no-op tasks beside them, so that statements are in flight when the server stops.
    for i in 0..60 {
        dag.push_str(&format!("  n{i}: {{operator: noop, dependencies: [t1]}}\n"));
    }
    std::fs::write(d.dir.path().join("dags/d.yaml"), dag).unwrap();
    for i in 0..12 {
        d.ok(&[
            "trigger",
            "steady",
            "--run-id",
            &format!("s{i}"),
            "--no-wait",
        ]);
    }
    // One worker: no other process would take over what it drops.
    let w1 = d.spawn("w1", &["worker", "--poll", "200ms", "--concurrency", "4"]);
    // Once work is under way, the server stops for three seconds and comes back.
    let start = Instant::now();
    while common::line_counts(&out).len() < 4 {
        assert!(start.elapsed() < Duration::from_secs(60), "{}", d.log("w1"));
        std::thread::sleep(Duration::from_millis(50));
    }
    server.pg_ctl(&["-m", "immediate", "-w", "stop"]);
    std::thread::sleep(Duration::from_secs(3));
    let port = url.rsplit_once(':').unwrap().1.split('/').next().unwrap();
    let opts = format!(
        "-c listen_addresses=127.0.0.1 -p {port} -k {} -c fsync=off",
        server.dir.path().display()
    );
    let log = server.dir.path().join("log").display().to_string();
    server.pg_ctl(&["-w", "-l", &log, "-o", &opts, "start"]);
    // Well within a lease (30 s): the worker itself goes on with what the outage cut.
    let runs = d.wait_finished(12, Duration::from_secs(25));
    assert!(stop(w1), "{}", d.log("w1"));
    assert!(
        runs.iter().all(|r| r["state"] == "success"),
        "{runs:?}\n{}",
        d.log("w1")
    );
    let lines = common::line_counts(&out);
    assert_eq!(lines.len(), 48, "{lines:?}");
    let mut lost = 0;
    for r in &runs {
        let run = r["run_id"].as_str().unwrap();
        for (task, tries) in d.tries(run) {
            let ok = tries.iter().filter(|t| t["state"] == "success").count();
            assert_eq!(ok, 1, "{run}.{task}: {tries:?}");
            lost += tries.len() - 1;
            if !task.starts_with('t') {
                continue;
            }
        }
    }
    // A line twice only where a try ran while its end could not be recorded.
    let repeats: usize = lines.values().map(|n| n - 1).sum();
    assert!(
        repeats <= lost,
        "{repeats} repeats, {lost} tries not recorded: {lines:?}"
    );
}

/// Whether this process runs as root (PostgreSQL's programs then run as `postgres`).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}
