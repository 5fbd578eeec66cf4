//! A home on a disk that fills up or turns read-only: dagctl stops with the cause and exit 1,
//! loses nothing, and `runs resume` finishes the run once there is room. The disks are small
//! tmpfs mounts (root only: skipped, saying so, where mounting is not allowed).

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs of `size` mounted on a fresh folder, unmounted on drop.
struct Disk {
    dir: tempfile::TempDir,
}

impl Disk {
    fn mount(size: &str) -> Option<Disk> {
        let dir = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            assert!(
                std::env::var("CI").is_err(),
                "CI runs as root and must run the disk fault tests"
            );
            eprintln!("skipped: cannot mount a tmpfs here (not root?)");
            return None;
        }
        Some(Disk { dir })
    }

    fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    fn remount(&self, options: &str) {
        let s = Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(self.dir.path())
            .status()
            .unwrap();
        assert!(s.success(), "remount {options}");
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

const LOUD: &str = "dag_id: loud\ntasks:\n  loud:\n    operator: command\n    bash_command: seq 1 1000000\n  after:\n    operator: noop\n    dependencies: [loud]\n";

fn dagctl(home: &Path, dags: &Path, args: &[&str]) -> std::process::Output {
    use assert_cmd::cargo::CommandCargoExt;
    Command::cargo_bin("dagctl")
        .unwrap()
        .env("DAGCTL_HOME", home)
        .env("DAGCTL_DAGS_FOLDER", dags)
        .env_remove("DAGCTL_STORE_URL")
        .env_remove("DAGCTL_FERNET_KEY")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn a_full_disk_stops_the_run_with_its_cause_and_resume_finishes_it() {
    let Some(disk) = Disk::mount("3m") else {
        return;
    };
    let dags = tempfile::tempdir().unwrap();
    std::fs::write(dags.path().join("loud.yaml"), LOUD).unwrap();
    let home = disk.path().join("home");
    // 6.9 MB of log into a 3 MB disk.
    let out = dagctl(&home, dags.path(), &["trigger", "loud", "--run-id", "r1"]);
    let text = common::out_text(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("disk is full") && text.contains("then `dagctl runs resume`"),
        "{text}"
    );
    disk.remount("size=64m");
    let out = dagctl(&home, dags.path(), &["runs", "resume"]);
    let text = common::out_text(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("run r1 of loud: success"), "{text}");
    let log = dagctl(&home, dags.path(), &["tasks", "logs", "r1", "loud"]);
    let log = String::from_utf8_lossy(&log.stdout);
    assert!(log.starts_with("1\n2\n") && log.ends_with("999999\n1000000\n"));
    let show = dagctl(&home, dags.path(), &["runs", "show", "r1", "--json"]);
    let show: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    for t in show["tasks"].as_array().unwrap() {
        let tries = t["tries"].as_array().unwrap();
        let ok = tries.iter().filter(|x| x["state"] == "success").count();
        assert_eq!(ok, 1, "{} succeeded once: {tries:?}", t["task_id"]);
    }
}

#[test]
fn a_read_only_home_is_refused_at_once_naming_the_file() {
    let Some(disk) = Disk::mount("8m") else {
        return;
    };
    let dags = tempfile::tempdir().unwrap();
    std::fs::write(dags.path().join("loud.yaml"), LOUD).unwrap();
    let home = disk.path().join("home");
    let out = dagctl(&home, dags.path(), &["variables", "set", "a", "1"]);
    assert!(out.status.success(), "{}", common::out_text(&out));
    disk.remount("ro");
    // Reading may work (SQLite reads a WAL database on a read-only disk when its shared-memory
    // file is there); if it does not, it says why.
    let out = dagctl(&home, dags.path(), &["variables", "list"]);
    let text = common::out_text(&out);
    assert!(
        (out.status.success() && text.contains("a    1"))
            || (out.status.code() == Some(1) && text.contains("cannot open the state store")),
        "{text}"
    );
    // Writing fails at once with the cause.
    let out = dagctl(&home, dags.path(), &["trigger", "loud"]);
    let text = common::out_text(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let lower = text.to_lowercase();
    assert!(
        lower.contains("read-only") || lower.contains("readonly"),
        "{text}"
    );
    let fresh = disk.path().join("other");
    let out = dagctl(&fresh, dags.path(), &["runs", "list"]);
    let text = common::out_text(&out);
    assert!(text.contains("Read-only file system"), "{text}");
    assert!(!fresh.exists());
}
