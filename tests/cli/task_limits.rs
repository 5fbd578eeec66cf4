//! `max_active_tasks` counts a DAG's running task instances across all its runs, as in
//! Airflow, and holds when those runs are driven by several `dagctl` processes on one home.

use crate::common;

use std::process::{Child, Stdio};

use common::{Env, out_text};

#[test]
fn max_active_tasks_holds_across_runs_driven_by_several_processes() {
    let dir = tempfile::TempDir::new().unwrap();
    let spans = dir.path().join("spans");
    let s = spans.display();
    // Each try appends `start <ns>` and `end <ns>` from inside the task: those instants lie
    // between the claim's commit and the try's end, so they may not interleave.
    let task = format!(
        "{{operator: command, bash_command: 'echo start $(date +%s%N) >> {s}; sleep 0.2; \
         echo end $(date +%s%N) >> {s}'}}"
    );
    let dag = format!(
        "dag_id: wide\nmax_active_runs: 3\nmax_active_tasks: 1\ntasks:\n  a: {task}\n  \
         b: {task}\n"
    );
    let env = Env::new(&[("wide.yaml", &dag)]);
    let children: Vec<Child> = (1..=3)
        .map(|d| {
            env.process(&[
                "trigger",
                "wide",
                "--logical-date",
                &format!("2026-01-0{d}"),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", out_text(&out));
    }
    let text = std::fs::read_to_string(&spans).unwrap();
    let mut events: Vec<(u128, &str)> = text
        .lines()
        .map(|l| {
            let (what, at) = l.split_once(' ').unwrap();
            (at.parse().unwrap(), what)
        })
        .collect();
    assert_eq!(
        events.len(),
        12,
        "six tries, each started and ended: {text}"
    );
    events.sort();
    let mut running = 0;
    for (at, what) in &events {
        running += if *what == "start" { 1 } else { -1 };
        assert!(
            (0..=1).contains(&running),
            "{running} tries of `wide` running at {at}: {events:?}"
        );
    }
    // The runs did overlap (three runs at once), only their tasks were limited.
    let runs = env.runs();
    assert_eq!(runs.len(), 3);
    assert!(runs.iter().all(|r| r["state"] == "success"), "{runs:?}");
}
