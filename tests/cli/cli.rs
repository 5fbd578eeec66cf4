//! The `dagctl` binary as a user types it: exit codes, stdout and stderr.

use std::fs;
use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;
use tempfile::TempDir;

fn dagctl() -> Command {
    let mut cmd = Command::cargo_bin("dagctl").unwrap();
    cmd.env_remove("DAGCTL_DAGS_FOLDER")
        .env_remove("DAGCTL_HOME");
    cmd
}

fn folder(files: &[(&str, &str)]) -> TempDir {
    let dir = TempDir::new().unwrap();
    for (name, text) in files {
        fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

const GOOD: &str = "dag_id: good\nschedule: '@daily'\ntags: [t1]\ntasks:\n  a: {operator: noop}\n  b:\n    operator: command\n    bash_command: echo hi\n    dependencies: [a]\n  c:\n    operator: noop\n    dependencies: [a]\n  d:\n    operator: noop\n    dependencies: [b, c]\n";

const BROKEN: &str = "dag_id: broken\ndefault_args:\n  retires: 3\ntasks:\n  a:\n    operator: noop\n    dependencies: [b]\n  b:\n    operator: noop\n    dependencies: [a]\n";

#[test]
fn shipped_dags_are_valid() {
    dagctl()
        .arg("validate")
        .assert()
        .success()
        .stdout("ok: 4 DAGs in 4 files valid\n");
}

#[test]
fn validate_prints_every_problem_with_location_and_exits_1() {
    let dir = folder(&[("good.yaml", GOOD), ("broken.yaml", BROKEN)]);
    let broken = dir.path().join("broken.yaml");
    let b = broken.display();
    dagctl()
        .arg("validate")
        .arg("--dags-folder")
        .arg(dir.path())
        .assert()
        .code(1)
        .stdout(format!(
            "{b}:3:3: error: unknown key `retires` in `default_args`\n    hint: did you mean `retries`?\n\
             {b}:7:20: error: dependency cycle in DAG `broken`: a -> b -> a\n    hint: a DAG cannot loop: remove one of these dependencies, for example `a` depending on `b` here\n\
             2 errors and 0 warnings in 2 files; 1 DAG loaded\n"
        ));
}

#[test]
fn validate_reads_the_dag_folder_from_the_environment_and_paths_from_arguments() {
    let dir = folder(&[("broken.yaml", BROKEN)]);
    dagctl()
        .arg("validate")
        .env("DAGCTL_DAGS_FOLDER", dir.path())
        .assert()
        .code(1)
        .stdout(predicate::str::contains("unknown key `retires`"));
    let good = folder(&[("good.yaml", GOOD)]);
    dagctl()
        .arg("validate")
        .arg(good.path().join("good.yaml"))
        .env("DAGCTL_DAGS_FOLDER", dir.path())
        .assert()
        .success()
        .stdout("ok: 1 DAG in 1 file valid\n");
}

#[test]
fn validate_json_is_machine_readable() {
    let dir = folder(&[("broken.yaml", BROKEN)]);
    let out = dagctl()
        .args(["validate", "--json"])
        .arg(dir.path())
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["errors"], 2);
    let first = &v["diagnostics"][0];
    assert_eq!(first["line"], 3);
    assert_eq!(first["column"], 3);
    assert_eq!(first["kind"], "unknown-key");
    assert_eq!(first["hint"], "did you mean `retries`?");
    assert_eq!(v["diagnostics"][1]["kind"], "cycle");
}

#[test]
fn duplicate_dag_ids_across_files() {
    let dir = folder(&[("a.yaml", GOOD), ("b.yaml", GOOD)]);
    dagctl()
        .arg("validate")
        .arg(dir.path())
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "b.yaml:1:9: error: DAG id `good` is already defined",
        ))
        .stdout(predicate::str::contains("first defined at"));
}

#[test]
fn missing_folder_is_a_clear_error() {
    dagctl()
        .args(["validate", "--dags-folder", "/nonexistent/dags"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "/nonexistent/dags: error: no such file or folder",
        ))
        .stdout(predicate::str::contains("DAGCTL_DAGS_FOLDER"));
}

#[test]
fn dags_list_text_and_json() {
    let dir = folder(&[("good.yaml", GOOD), ("broken.yaml", BROKEN)]);
    dagctl()
        .args(["dags", "list", "--dags-folder"])
        .arg(dir.path())
        .assert()
        .success()
        .stdout(predicate::str::starts_with(
            "dag_id  schedule  tasks  tags  file\ngood    @daily    4      t1    ",
        ))
        .stderr(predicate::str::contains("2 errors in the DAG folder"));
    let out = dagctl()
        .args(["dags", "list", "--json", "--dags-folder"])
        .arg(dir.path())
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["dag_id"], "good");
    assert_eq!(v[0]["tasks"], 4);
}

#[test]
fn dags_show_tree_dot_and_json() {
    let dir = folder(&[("good.yaml", GOOD)]);
    let show = || {
        let mut c = dagctl();
        c.args(["dags", "show", "good", "--dags-folder"])
            .arg(dir.path());
        c
    };
    show().assert().success().stdout(predicate::str::ends_with(
        "a  [noop]\n├── b  [command]\n│   └── d  [noop]\n└── c  [noop]\n    └── d  (see above)\n",
    ));
    show()
        .arg("--dot")
        .assert()
        .success()
        .stdout(predicate::str::starts_with("digraph \"good\" {"))
        .stdout(predicate::str::contains("  \"b\" -> \"d\";\n"));
    let out = show().arg("--json").output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["tasks"][3]["task_id"], "d");
    assert_eq!(v["tasks"][3]["upstream"], serde_json::json!(["b", "c"]));
}

#[test]
fn dags_show_unknown_suggests() {
    let dir = folder(&[("good.yaml", GOOD)]);
    dagctl()
        .args(["dags", "show", "godo", "--dags-folder"])
        .arg(dir.path())
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no valid DAG `godo`"))
        .stderr(predicate::str::contains("did you mean `good`?"));
}

#[test]
fn operators_list() {
    let out = dagctl().args(["operators", "list"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted, "listed by name");
    for op in [
        "branch",
        "command",
        "noop",
        "short_circuit",
        "trigger_dag",
        "file_sensor",
    ] {
        assert!(names.contains(&op), "{op} missing from {names:?}");
    }
    assert!(
        text.lines()
            .any(|l| l.starts_with("command") && l.contains("runs a program"))
    );
}

#[test]
fn dag_factory_example_validates_with_airflows_group_ids() {
    dagctl()
        .arg("validate")
        .arg(Path::new("examples/dags"))
        .assert()
        .success()
        .stdout("ok: 2 DAGs in 1 file valid\n");
    dagctl()
        .args(["dags", "show", "example_dag_factory", "--dags-folder"])
        .arg(Path::new("examples/dags"))
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "extract.pull_orders  [command, group=extract]\n└── transform.join  [noop, group=transform]\n    └── load  [command]",
        ));
}

#[test]
fn next_runs_lists_logical_dates_and_intervals() {
    let dag = "dag_id: daily\nschedule: '@daily'\nstart_date: 2026-01-01\nend_date: 2026-01-04\ntasks:\n  a: {operator: noop}\n";
    let dir = folder(&[("daily.yaml", dag)]);
    dagctl()
        .args([
            "dags",
            "next-runs",
            "daily",
            "-n",
            "3",
            "--after",
            "2026-01-02T12:00:00",
            "--dags-folder",
        ])
        .arg(dir.path())
        .assert()
        .success()
        .stdout(
            "logical_date               data_interval_start        data_interval_end (runs after)\n\
             2026-01-03T00:00:00+00:00  2026-01-03T00:00:00+00:00  2026-01-04T00:00:00+00:00\n\
             2026-01-04T00:00:00+00:00  2026-01-04T00:00:00+00:00  2026-01-05T00:00:00+00:00\n",
        );
    let out = dagctl()
        .args([
            "dags",
            "next-runs",
            "daily",
            "--json",
            "--after",
            "2025-12-01",
            "--dags-folder",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v.as_array().unwrap().len(),
        4,
        "bounded by start_date and end_date"
    );
    assert_eq!(v[0]["logical_date"], "2026-01-01T00:00:00+00:00");
}
