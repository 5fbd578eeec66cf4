//! `dagctl db clean` as a user types it: old finished runs go with their logs and XCom, the
//! newer ones stay, a dry run removes nothing, bad input says what to write.

use crate::common;

use common::{Env, out_text};

const DAG: &str = "dag_id: d\ntasks:\n  t:\n    operator: command\n    bash_command: echo hello\n";

#[test]
fn db_clean_removes_exactly_the_runs_that_ended_before_the_cut() {
    let env = Env::new(&[("d.yaml", DAG)]);
    for id in ["r1", "r2", "r3"] {
        env.cmd(&["trigger", "d", "--run-id", id])
            .assert()
            .success();
    }
    let r3 = env
        .runs()
        .into_iter()
        .find(|r| r["run_id"] == "r3")
        .unwrap();
    // r1 and r2 ended before r3 started.
    let cut = r3["start_date"].as_str().unwrap().to_string();
    let out = env
        .cmd(&["db", "clean", "--before", &cut, "--dry-run"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", out_text(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with(
            "would remove 2 run(s), 2 task instance(s), 2 tr(ies), 2 log chunk(s), 2 XCom value(s)"
        ),
        "{text}"
    );
    assert_eq!(env.runs().len(), 3, "a dry run removes nothing");
    let out = env
        .cmd(&["db", "clean", "--before", &cut])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", out_text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("removed 2 run(s)"));
    let left: Vec<String> = env
        .runs()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(left, ["r3"]);
    env.cmd(&["tasks", "logs", "r1", "t"]).assert().failure();
    env.cmd(&["tasks", "logs", "r3", "t"]).assert().success();
    // Nothing is that old.
    let out = env
        .cmd(&["db", "clean", "--older-than", "1000d"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("removed 0 run(s)"));
    assert_eq!(env.runs().len(), 1);
}

#[test]
fn db_clean_says_what_to_write() {
    let env = Env::new(&[("d.yaml", DAG)]);
    let out = env
        .cmd(&["db", "clean", "--older-than", "soon"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        out_text(&out).contains("--older-than `soon`"),
        "{}",
        out_text(&out)
    );
    // A number without its unit would be seconds: refused, and nothing removed.
    env.cmd(&["trigger", "d", "--run-id", "kept"])
        .assert()
        .success();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    for (args, says) in [
        // Read as seconds, 1 would remove the run (it ended over a second ago).
        (
            ["--older-than", "1"],
            "--older-than `1` has no unit: write it like 90d",
        ),
        (["--dag", "typo"], "--dag `typo`: no DAG of that id"),
    ] {
        let mut full = vec!["db", "clean"];
        full.extend(args);
        if args[0] == "--dag" {
            full.extend(["--older-than", "1s"]);
        }
        let out = env.cmd(&full).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{full:?}: {}", out_text(&out));
        assert!(out_text(&out).contains(says), "{}", out_text(&out));
    }
    assert_eq!(env.runs().len(), 1, "a refused clean removes nothing");
    let out = env
        .cmd(&["db", "clean", "--before", "yesterday"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out_text(&out).contains("2026-01-01"), "{}", out_text(&out));
    let out = env.cmd(&["db", "clean"]).output().unwrap();
    assert!(!out.status.success());
    assert!(
        out_text(&out).contains("--older-than"),
        "{}",
        out_text(&out)
    );
}

const BIG: &str = "dag_id: big\ntasks:\n  big:\n    operator: command\n    bash_command: \"head -c 5000 /dev/zero | tr '\\\\0' x; echo\"\n";

#[test]
fn db_clean_removes_the_xcom_values_kept_in_the_data_location_too() {
    let env = Env::new(&[("big.yaml", BIG)]);
    for id in ["r1", "r2", "r3"] {
        let out = env
            .process(&["trigger", "big", "--run-id", id])
            .env("DAGCTL_XCOM_MAX_BYTES", "1024")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", out_text(&out));
    }
    let kept = |id: &str| {
        env.home()
            .join(format!("data/xcom/big/{id}/big/try-1/return_value.json"))
    };
    assert!(kept("r1").exists() && kept("r2").exists() && kept("r3").exists());
    let started = |id: &str| {
        env.runs().into_iter().find(|r| r["run_id"] == id).unwrap()["start_date"]
            .as_str()
            .unwrap()
            .to_string()
    };
    // A dry run says how many values were kept there and removes none.
    let out = env
        .cmd(&["db", "clean", "--before", &started("r2"), "--dry-run"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("1 of the XCom values were kept in the data location"),
        "{}",
        out_text(&out)
    );
    assert!(kept("r1").exists());
    let out = env
        .cmd(&["db", "clean", "--before", &started("r2")])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", out_text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("removed 1 XCom value(s) from the data location"),
        "{}",
        out_text(&out)
    );
    assert!(!kept("r1").exists(), "r1's value is gone with r1");
    assert!(kept("r2").exists() && kept("r3").exists());

    // A data location that refuses (a directory where the file was: even root cannot
    // remove it as a file): the runs go, the exit code and the message say which file stayed.
    std::fs::remove_file(kept("r2")).unwrap();
    std::fs::create_dir_all(kept("r2").join("inside")).unwrap();
    let out = env
        .cmd(&["db", "clean", "--before", &started("r3")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", out_text(&out));
    assert_eq!(env.runs().len(), 1, "the runs are removed all the same");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("xcom/big/r2/big/try-1/return_value.json"),
        "{err}"
    );
    assert!(err.contains("could not be removed"), "{err}");
    assert!(kept("r2").exists() && kept("r3").exists());
}

const CHATTY: &str = "dag_id: chatty\ntasks:\n  t:\n    operator: command\n    bash_command: \"head -c 200000 /dev/zero | tr '\\\\0' x; echo\"\n";

/// `--vacuum` gives the removed rows' space back: the SQLite file shrinks, and says so; on
/// PostgreSQL the same verb runs VACUUM (ANALYZE).
#[test]
fn db_clean_vacuum_shrinks_the_file() {
    let env = Env::new(&[("chatty.yaml", CHATTY)]);
    for i in 0..20 {
        env.cmd(&["trigger", "chatty", "--run-id", &format!("r{i}")])
            .assert()
            .success();
    }
    let db = env.home().join("dagctl.db");
    let size = || {
        let wal = std::path::PathBuf::from(format!("{}-wal", db.display()));
        std::fs::metadata(&db).unwrap().len() + std::fs::metadata(&wal).map_or(0, |m| m.len())
    };
    let before = size();
    assert!(before > 2_000_000, "{before}");
    let out = env
        .cmd(&["db", "clean", "--before", "2100-01-01", "--vacuum"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", out_text(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("removed 20 run(s)"), "{text}");
    assert!(text.contains("vacuumed: the database file is"), "{text}");
    let after = size();
    assert!(after < before / 4, "{before} -> {after}");
    assert!(env.runs().is_empty());
    // A dry run cannot vacuum.
    let out = env
        .cmd(&[
            "db",
            "clean",
            "--before",
            "2100-01-01",
            "--dry-run",
            "--vacuum",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", out_text(&out));

    let Some(url) = common::pg::fresh_database("clean_vacuum") else {
        return;
    };
    let on_pg = |args: &[&str]| {
        env.cmd(args)
            .env("DAGCTL_STORE_URL", &url)
            .output()
            .unwrap()
    };
    let out = on_pg(&["trigger", "chatty", "--run-id", "p1"]);
    assert!(out.status.success(), "{}", out_text(&out));
    let out = on_pg(&["db", "clean", "--before", "2100-01-01", "--vacuum"]);
    assert!(out.status.success(), "{}", out_text(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("removed 1 run(s)") && text.contains("vacuumed"),
        "{text}"
    );
}

const HOURLY: &str = "dag_id: hourly\nschedule: \"@hourly\"\nstart_date: 2026-01-01\ncatchup: false\nmax_active_runs: 64\ntasks:\n  t:\n    operator: command\n    bash_command: \"head -c 20000 /dev/zero | tr '\\\\0' y; echo\"\n";

/// `db clean --vacuum` killed (SIGKILL) at many points: the store always opens whole
/// (SQLite's integrity check passes) and holds every run or none of them, and a clean run
/// again finishes the work.
#[test]
fn db_clean_killed_at_any_point_leaves_all_runs_or_none() {
    let made = Env::new(&[("hourly.yaml", HOURLY)]);
    let out = made
        .cmd(&[
            "backfill",
            "hourly",
            "--start",
            "2026-01-01",
            "--end",
            "2026-01-09T07:00:00",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", out_text(&out));
    let runs = made.runs().len();
    assert_eq!(runs, 200);
    let mut outcomes = std::collections::BTreeSet::new();
    for delay_ms in [0u64, 5, 15, 30, 60, 100, 160, 250, 400] {
        let env = Env::new(&[("hourly.yaml", HOURLY)]);
        common::copy_dir(&made.home(), &env.home());
        let mut child = env
            .process(&["db", "clean", "--before", "2100-01-01", "--vacuum"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        let check = std::process::Command::new("python3")
            .args([
                "-c",
                "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('PRAGMA integrity_check').fetchone()[0])",
            ])
            .arg(env.home().join("dagctl.db"))
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&check.stdout).trim(),
            "ok",
            "killed after {delay_ms} ms: {}",
            out_text(&check)
        );
        let left = env.runs().len();
        assert!(
            left == runs || left == 0,
            "killed after {delay_ms} ms: {left} runs left"
        );
        outcomes.insert(left);
        let out = env
            .cmd(&["db", "clean", "--before", "2100-01-01", "--vacuum"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", out_text(&out));
        assert!(env.runs().is_empty());
    }
    eprintln!("runs left after the kills: {outcomes:?}");
}
