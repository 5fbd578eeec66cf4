//! dag-factory and Airflow files that load unchanged: a corpus of dag-factory-style files
//! (`tests/corpus/dag_factory/`) loaded as its golden file says — folder `defaults.yml`,
//! `.airflowignore`, `default:` templates with tasks, dataset URIs, lists, conditions, config
//! files and assets, timetables, dataset-or-time schedules, Airflow keys that take effect,
//! task-group ids, callbacks in dict form, ExternalTaskSensor and the HTTP operators — and
//! what is refused, with its location and hint.
//!
//! `DAGCTL_UPDATE_GOLDEN=1 cargo test --test dag_factory` rewrites the golden files (review
//! the diff: it is the expected behaviour).

use crate::common;

use std::path::{Path, PathBuf};

use dagctl::engine::DagBag;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/dag_factory")
}

/// Compares `actual` with the golden file, or rewrites it under `DAGCTL_UPDATE_GOLDEN`.
fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(name);
    if std::env::var_os("DAGCTL_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(expected.lines().count().min(actual.lines().count()));
        panic!(
            "{} differs from what was loaded, first at line {}:\nexpected: {:?}\nactual:   {:?}",
            path.display(),
            first + 1,
            expected.lines().nth(first),
            actual.lines().nth(first)
        );
    }
}

#[test]
fn the_corpus_loads_as_its_golden_file_says() {
    let bag = DagBag::load_folder(&corpus(), &dagctl::shipped_operators());
    assert!(
        bag.diagnostics().is_empty(),
        "the corpus loads without a problem:\n{}",
        bag.diagnostics()
    );
    let root = corpus();
    let mut files: Vec<String> = bag
        .files()
        .iter()
        .map(|f| f.strip_prefix(&root).unwrap().display().to_string())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "datasets/consumers.yml",
            "datasets/producers.yml",
            "groups.yml",
            "keys.yml",
            "mapping.yml",
            "teams/ml/operators.yml",
            "template.yml",
            "timetables.yml",
        ],
        "defaults.yml, what .airflowignore names and YAML below the folder that mentions no operator are not DAG files"
    );
    let mut all = serde_json::Map::new();
    for dag in bag.dags() {
        let mut json = dag.to_json();
        let file = json["file"].as_str().unwrap().to_string();
        json["file"] = Path::new(&file)
            .strip_prefix(&root)
            .unwrap()
            .display()
            .to_string()
            .into();
        all.insert(dag.id().to_string(), json);
    }
    golden(
        "dag_factory.golden.json",
        &(serde_json::to_string_pretty(&all).unwrap() + "\n"),
    );
}

/// A file in a temporary DAG folder, validated by the CLI: its output, paths made relative.
fn validate(files: &[(&str, &str)]) -> (i32, String) {
    let env = common::Env::new(files);
    let out = env.cmd(&["validate"]).output().unwrap();
    let dags = env.dir.path().join("dags");
    let text = String::from_utf8_lossy(&out.stdout).replace(&format!("{}/", dags.display()), "");
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn what_cannot_take_effect_is_refused_where_it_is_written() {
    let (code, text) = validate(&[
        ("defaults.yml", "default_args:\n  retries: 2\n  sla: 1h\n"),
        (
            "datasets.yml",
            "datasets:\n  - {name: orders, uri: s3://lake/orders}\n  - {name: users, uri: s3://lake/users}\n",
        ),
        (
            "refused.yml",
            include_str!("../corpus/dag_factory_refused.yml"),
        ),
    ]);
    assert_eq!(code, 1, "{text}");
    golden("dag_factory_refused.golden.txt", &text);
}

#[test]
fn folder_defaults_apply_below_and_the_closest_wins() {
    let env = common::Env::new(&[
        (
            "defaults.yml",
            "default_args: {owner: root, retries: 4}\nschedule: '@daily'\n",
        ),
        ("top.yml", "top:\n  tasks: [{task_id: t, operator: noop}]\n"),
    ]);
    let sub = env.dir.path().join("dags/team");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::write(sub.join("defaults.yaml"), "default_args: {owner: team}\n").unwrap();
    std::fs::write(
        sub.join("low.yml"),
        "default:\n  schedule: '@hourly'\nlow:\n  default_args: {retries: 0}\n  tasks: [{task_id: t, operator: noop}]\n",
    )
    .unwrap();
    let top = env.json(&["dags", "show", "top", "--json"]);
    assert_eq!(top["schedule"], "@daily");
    assert_eq!(top["tasks"][0]["owner"], "root");
    assert_eq!(top["tasks"][0]["retries"], 4);
    let low = env.json(&["dags", "show", "low", "--json"]);
    assert_eq!(
        low["schedule"], "@hourly",
        "the file's default: beats defaults.yml"
    );
    assert_eq!(
        low["tasks"][0]["owner"], "team",
        "the closest defaults file wins"
    );
    assert_eq!(low["tasks"][0]["retries"], 0, "the DAG's own keys win");
    // A defaults file's problem is reported once, in that file, and stops the DAGs below.
    std::fs::write(
        sub.join("defaults.yaml"),
        "default_args: {owner: team, retry_delay: soon}\n",
    )
    .unwrap();
    std::fs::write(
        sub.join("low2.yml"),
        "low2:\n  tasks: [{task_id: t, operator: noop}]\n",
    )
    .unwrap();
    let out = env.cmd(&["validate"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert_eq!(
        text.matches(": error:").count(),
        1,
        "reported once for two DAGs: {text}"
    );
    assert!(
        text.contains("team/defaults.yaml:1:42: error: bad duration `soon` for `retry_delay`"),
        "{text}"
    );
    assert!(text.contains("1 DAG loaded"), "{text}");
}

#[test]
fn timetables_run_when_airflow_runs_them() {
    let next = |dag: &str| -> String {
        let out = assert_cmd::Command::cargo_bin("dagctl")
            .unwrap()
            .args([
                "dags",
                "next-runs",
                dag,
                "-n",
                "2",
                "--after",
                "2026-01-01T00:00:00",
            ])
            .arg("--dags-folder")
            .arg(corpus())
            .output()
            .unwrap();
        String::from_utf8(common::stdout_ok(out)).unwrap()
    };
    // CronTriggerTimetable: a run at each tick (Wednesdays 01:00 in Paris), for that instant.
    assert!(next("cron_trigger").contains(
        "2026-01-07T01:00:00+01:00  2026-01-07T01:00:00+01:00  2026-01-07T01:00:00+01:00\n\
         2026-01-14T01:00:00+01:00"
    ));
    // A timedelta: data intervals of that length from start_date.
    assert!(next("every_six_hours").contains(
        "2026-01-01T00:00:00+00:00  2026-01-01T00:00:00+00:00  2026-01-01T06:00:00+00:00\n\
         2026-01-01T06:00:00+00:00  2026-01-01T06:00:00+00:00  2026-01-01T12:00:00+00:00\n"
    ));
    // DeltaTriggerTimetable with an interval: runs every 30 minutes, each for the 30 before.
    assert!(next("delta_trigger_as_timetable_key").contains(
        "2026-01-01T00:00:00+00:00  2026-01-01T00:00:00+00:00  2026-01-01T00:30:00+00:00\n"
    ));
    // Datasets or time: the time part runs on its own (Fridays 01:00).
    assert!(next("datasets_or_time").contains("2026-01-02T01:00:00+00:00"));
}

/// dag-factory forms Airflow loads: a dataset alias in `outlets` (its own example file's DAG),
/// relative start dates (`start_date: 2 days`), DAG keys in `default_args` — each loads, with
/// a warning where it has no effect, and runs.
#[test]
fn airflow_loads_these_forms_so_dagctl_does() {
    let env = common::Env::new(&[(
        "forms.yml",
        "default:\n  default_args:\n    owner: default_owner\n    start_date: 2 days\n    catchup: false\n\nexample_simple_dataset_alias_dag:\n  schedule: \"0 5 * * *\"\n  catchup: false\n  tasks:\n    - task_id: task_1\n      operator: airflow.operators.bash.BashOperator\n      bash_command: \"echo 'may set dynamic_outputs'\"\n      inlets: ['s3://bucket_example/raw/dataset1_source.json']\n      outlets:\n        - __type__: airflow.datasets.DatasetAlias\n          name: dynamic_outputs\n",
    )]);
    let out = env.cmd(&["validate"]).output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).replace(&format!("{}/", env.dags().display()), "");
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        [
            "forms.yml:5:5: warning: `catchup` has no effect in `default_args`: it is a DAG key, which Airflow ignores there",
            "    hint: move it up to the DAG (or the file's `default:` block)",
            "forms.yml:16:21: warning: `DatasetAlias` `dynamic_outputs` in `outlets` records no dataset event: events reach an alias only from a task's Python code (`outlet_events[alias].add(…)`), and this task has none",
            "    hint: list the datasets the task updates by URI to record their events",
            "ok: 1 DAG in 1 file valid (2 warnings)",
        ],
        "{text}"
    );
    // Two days before the start of today: the first intervals are those two days.
    let today = chrono::Utc::now().date_naive();
    let runs = env.json(&[
        "dags",
        "next-runs",
        "example_simple_dataset_alias_dag",
        "-n",
        "1",
        "--after",
        "2000-01-01",
        "--json",
    ]);
    let first = runs[0]["logical_date"].as_str().unwrap().to_string();
    assert_eq!(
        first,
        format!("{}T05:00:00+00:00", today - chrono::Duration::days(2)),
        "{runs}"
    );
    env.cmd(&["trigger", "example_simple_dataset_alias_dag"])
        .assert()
        .success();
}
