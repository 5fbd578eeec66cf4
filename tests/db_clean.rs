//! `dagctl db clean` as a user types it: old finished runs go with their logs and XCom, the
//! newer ones stay, a dry run removes nothing, bad input says what to write.

mod common;

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
