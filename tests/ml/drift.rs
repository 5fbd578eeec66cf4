//! `detect_drift` through the CLI: a day generated with drift against earlier days, and one
//! without; the JSON report, the self-contained page, and the task's log and XCom.

use crate::common;

use common::Env;
use serde_json::Value;

const DAG: &str = "dag_id: drifting
schedule: '@daily'
start_date: 2026-01-01
tasks:
  gen:
    operator: generate_customers
    drift: {from: '2026-01-15', monthly_spend: 1.8, sessions: 0.5, age_shift: 8}
  drift:
    operator: detect_drift
    reference: {from: 2026-01-01, to: 2026-01-07}
    share: 0.3
    dependencies: [gen]
";

fn report(env: &Env, day: &str) -> Value {
    let path = env.home().join(format!("data/drift/{day}/report.json"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn a_drifted_day_is_reported_and_a_normal_one_is_not() {
    let env = Env::new(&[("drifting.yaml", DAG)]);
    env.cmd(&[
        "backfill",
        "drifting",
        "--start",
        "2026-01-01",
        "--end",
        "2026-01-07",
    ])
    .assert()
    .success();
    for day in ["2026-01-12", "2026-01-16"] {
        env.cmd(&[
            "trigger",
            "drifting",
            "--logical-date",
            day,
            "--run-id",
            day,
        ])
        .assert()
        .success();
    }
    let calm = report(&env, "2026-01-12");
    assert_eq!(calm["dataset_drift"], false, "{calm}");
    let drifted = report(&env, "2026-01-16");
    assert_eq!(drifted["dataset_drift"], true);
    let features = drifted["features"].as_array().unwrap();
    let by = |name: &str| features.iter().find(|f| f["name"] == name).unwrap();
    for name in ["monthly_spend", "sessions", "age"] {
        assert_eq!(by(name)["drifted"], true, "{name}: {}", by(name));
        assert!(by(name)["psi"].as_f64().unwrap() > 0.25);
    }
    assert_eq!(by("region")["drifted"], false);
    assert_eq!(by("region")["kind"], "categorical");
    // Sorted by PSI, largest first; every feature has both sides' summaries and bins.
    let psis: Vec<f64> = features
        .iter()
        .map(|f| f["psi"].as_f64().unwrap())
        .collect();
    assert!(psis.windows(2).all(|w| w[0] >= w[1]), "{psis:?}");
    for f in features {
        assert!(
            f["reference"]["count"].as_u64().unwrap() > 0
                && f["current"]["count"].as_u64().unwrap() > 0
        );
        assert_eq!(
            f["bins"]["reference"].as_array().unwrap().len(),
            f["bins"]["labels"].as_array().unwrap().len()
        );
    }
    assert_eq!(
        drifted["reference"]["description"],
        "raw_data 2026-01-01..2026-01-07"
    );
    // The page stands alone and draws every feature.
    let page =
        std::fs::read_to_string(env.home().join("data/drift/2026-01-16/report.html")).unwrap();
    assert!(page.contains("Dataset drift") && page.matches("<svg").count() == features.len());
    for external in [
        "<script", "<link", "src=", "http:", "https:", "@import", "url(",
    ] {
        assert!(!page.contains(external), "{external}");
    }
    // And a browser shows it: not blank, no console error, nothing fetched.
    common::render_in_chromium(&env.home().join("data/drift/2026-01-16/report.html"));
    // The log names both files; the XCom says what drifted.
    let log = env
        .cmd(&["tasks", "logs", "2026-01-16", "drift"])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&log.stdout);
    assert!(
        log.contains("DATASET DRIFT")
            && log.contains("drift/2026-01-16/report.json")
            && log.contains("report.html"),
        "{log}"
    );
}

/// The shipped DAGs plus one more (`name`, `text`), after the loop ran up to `end`.
fn loop_with(name: &str, text: &str, end: &str) -> Env {
    let env = Env::new(&[]);
    common::copy_dir(
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/dags")),
        &env.dags(),
    );
    std::fs::write(env.dags().join(name), text).unwrap();
    env.cmd(&[
        "backfill",
        "01_data_generation_pipeline",
        "--start",
        "2026-01-01",
        "--end",
        end,
    ])
    .assert()
    .success();
    env
}

/// By default the reference is the production model's training rows, found through the
/// registry: its window's raw days without the day it held out.
#[test]
fn the_default_reference_is_the_production_models_training_rows() {
    let env = loop_with(
        "watch.yaml",
        "dag_id: watch\ntasks:\n  gen: {operator: generate_customers}\n  drift: {operator: detect_drift, dependencies: [gen]}\n  perf:\n    operator: check_performance\n    thresholds: {accuracy: 0.99, f1_macro: 0.5}\n    dependencies: [gen]\n",
        "2026-01-03",
    );
    let shown = env.json(&["models", "show", "churn_model", "--json"]);
    let production = shown["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["stage"] == "production")
        .unwrap()
        .clone();
    env.cmd(&[
        "trigger",
        "watch",
        "--logical-date",
        "2026-01-03",
        "--run-id",
        "w",
    ])
    .assert()
    .success();
    let r = report(&env, "2026-01-03");
    let version = production["version"].as_u64().unwrap();
    let reference = production["data"]["reference"].as_str().unwrap();
    let description = r["reference"]["description"].as_str().unwrap();
    assert!(
        description.starts_with(&format!(
            "the training rows of churn_model v{version} (raw_data "
        )) && description.contains(&format!("..{}", &reference["prepared_data/".len()..])),
        "{description} for {reference}"
    );
    if reference != "prepared_data/2026-01-01" {
        // Its held-out day is not part of the reference.
        let held_out = &reference["prepared_data/".len()..];
        assert!(
            description.ends_with(&format!("without {held_out})")),
            "{description}"
        );
    }
    assert!(r["reference"]["rows"].as_u64().unwrap() > 500);
    // The production model's own columns are compared (its numeric and categorical inputs).
    let names: Vec<&str> = r["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"monthly_spend") && names.contains(&"plan"),
        "{names:?}"
    );

    // The production model on a day it never saw: accuracy below 0.99 fires, F1 above 0.5
    // does not; the check is in the model's history and `models show` lists it.
    let log = env.cmd(&["tasks", "logs", "w", "perf"]).output().unwrap();
    let log = String::from_utf8_lossy(&log.stdout);
    assert!(
        log.contains(&format!(
            "churn_model v{version} on raw_data 2026-01-03..2026-01-03"
        )),
        "{log}"
    );
    assert!(
        log.contains("FIRES: accuracy") && log.contains("below 0.99"),
        "{log}"
    );
    assert!(
        !log.contains("below 0.5"),
        "the F1 threshold is reached: {log}"
    );
    let shown = env.json(&["models", "show", "churn_model", "--json"]);
    // The loop's own monitoring (DAG 04) checks every day too, against 0.70 F1: never fired.
    let all = shown["model"]["performance"].as_array().unwrap();
    let checks: Vec<&Value> = all
        .iter()
        .filter(|c| !c["below"].as_array().unwrap().is_empty())
        .collect();
    assert_eq!(checks.len(), 1, "{all:?}");
    assert_eq!(checks[0]["version"], version);
    assert_eq!(checks[0]["below"].as_array().unwrap().len(), 1);
    assert!(checks[0]["metrics"]["accuracy"].as_f64().unwrap() < 0.99);
    assert_eq!(
        (checks[0]["from"].as_str(), checks[0]["to"].as_str()),
        (Some("2026-01-03"), Some("2026-01-03"))
    );
    let text = env
        .cmd(&["models", "show", "churn_model"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("performance on fresh rows:") && text.contains("FIRED: accuracy"),
        "{text}"
    );
}

/// A day the production model trained on is not a performance check: refused, saying why.
#[test]
fn a_performance_check_on_training_days_is_refused() {
    let env = loop_with(
        "perf.yaml",
        "dag_id: perf\ntasks:\n  perf: {operator: check_performance}\n",
        "2026-01-01",
    );
    let out = env
        .cmd(&[
            "trigger",
            "perf",
            "--logical-date",
            "2026-01-01",
            "--run-id",
            "p",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = common::out_text(&out);
    assert!(text.contains("was trained on 2026-01-01"), "{text}");
}

/// `trigger_retraining` on age alone: production older than `max_age_days` (from the newest
/// day it trained on to the logical date) starts DAG 03 with the reason and the age; a young
/// model starts nothing and lets downstream run.
#[test]
fn an_old_production_model_is_retrained_with_its_age_as_the_reason() {
    let env = loop_with(
        "age.yaml",
        "dag_id: age\ntasks:\n  decide:\n    operator: trigger_retraining\n    dag_id: 03_model_training_pipeline\n    max_age_days: 5\n  after: {operator: noop, dependencies: [decide]}\n",
        "2026-01-03",
    );
    // Two days after the loop's last day: young enough.
    env.cmd(&[
        "trigger",
        "age",
        "--logical-date",
        "2026-01-05",
        "--run-id",
        "young",
    ])
    .assert()
    .success();
    let after = |run: &str| {
        let shown = env.json(&["runs", "show", run, "--json"]);
        shown["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["task_id"] == "after")
            .unwrap()["state"]
            .clone()
    };
    assert_eq!(after("young"), "success");
    assert!(
        env.runs()
            .iter()
            .all(|r| !r["run_id"].as_str().unwrap().starts_with("retrain__"))
    );
    // A week later: too old.
    env.cmd(&[
        "trigger",
        "age",
        "--logical-date",
        "2026-01-12",
        "--run-id",
        "old",
    ])
    .assert()
    .success();
    assert_eq!(
        after("old"),
        "skipped",
        "a retraining was asked for instead"
    );
    let runs = env.runs();
    let retrain = runs
        .iter()
        .find(|r| r["run_id"] == "retrain__2026-01-12")
        .unwrap_or_else(|| panic!("no retraining run: {runs:?}"));
    assert_eq!(retrain["dag_id"], "03_model_training_pipeline");
    assert_eq!(retrain["state"], "success", "{retrain}");
    assert_eq!(retrain["conf"]["reason"], "model_age");
    let age = &retrain["conf"]["details"]["model_age"];
    assert!(age["age_days"].as_i64().unwrap() > 5, "{age}");
    assert_eq!(age["max_age_days"], 5);
}
