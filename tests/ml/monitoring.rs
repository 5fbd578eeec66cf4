//! The drift demo end to end through the CLI, as the README tells it: the shipped loop with
//! `drift_from` set, the monitoring DAG firing on drift, DAG 03 retraining with the reason,
//! the retrained challenger beating the stale champion on the drifted holdout and promoted,
//! the on-promotion hook triggering a deploy DAG and posting to a real webhook on loopback,
//! and a summary file per training run.

use crate::common;

use common::Env;
use common::webhook::Webhook;
use serde_json::Value;

const DRIFT_FROM: &str = "2026-01-08";

fn read_json(path: &std::path::Path) -> Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn drift_fires_retraining_with_its_reason_and_the_retrained_model_replaces_the_stale_one() {
    let env = Env::new(&[]);
    common::copy_dir(
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/dags")),
        &env.dags(),
    );
    // The "trigger CD when a model is promoted" step, on the shipped DAG 03.
    let dag03 = env.dags().join("03_model_training_pipeline.yaml");
    let text = std::fs::read_to_string(&dag03).unwrap();
    let hooked = text.replacen(
        "    floor: 0.6\n",
        "    floor: 0.6\n    on_promotion:\n      trigger_dag: {dag_id: deploy, conf: {target: test}}\n      notify: {conn_id: alerts}\n",
        1,
    );
    assert_ne!(text, hooked, "DAG 03 still has `floor: 0.6`");
    std::fs::write(&dag03, hooked).unwrap();
    std::fs::write(
        env.dags().join("deploy.yaml"),
        "dag_id: deploy\ntasks:\n  ship: {operator: noop}\n",
    )
    .unwrap();
    let hook = Webhook::start(&[]);
    env.cmd(&[
        "connections",
        "add",
        "alerts",
        "--url",
        &hook.url("/hooks/s3cr3t"),
    ])
    .assert()
    .success();
    env.cmd(&["variables", "set", "drift_from", DRIFT_FROM])
        .assert()
        .success();
    let out = env
        .cmd(&[
            "backfill",
            "01_data_generation_pipeline",
            "--start",
            "2026-01-01",
            "--end",
            "2026-01-12",
        ])
        .output()
        .unwrap();
    let shown = common::out_text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(!shown.contains("s3cr3t"), "the webhook's secret leaked");

    // Monitoring: calm before the drift, fired from its first day on, with the report.
    let runs = env.runs();
    let of = |dag: &str| -> Vec<&Value> { runs.iter().filter(|r| r["dag_id"] == dag).collect() };
    assert_eq!(of("04_model_monitoring_pipeline").len(), 12);
    let retrains: Vec<&Value> = of("03_model_training_pipeline")
        .into_iter()
        .filter(|r| r["run_id"].as_str().unwrap().starts_with("retrain__"))
        .collect();
    let mut days: Vec<&str> = retrains
        .iter()
        .map(|r| &r["run_id"].as_str().unwrap()["retrain__".len()..])
        .collect();
    days.sort_unstable();
    assert_eq!(
        days.first().copied(),
        Some(DRIFT_FROM),
        "no retraining before the drift, one on its first day: {days:?}"
    );
    for r in &retrains {
        assert!(
            r["conf"]["reason"].as_str().unwrap().contains("drift"),
            "{r}"
        );
        assert!(
            r["conf"]["details"]["drift"]["dataset_drift"] == true,
            "{r}"
        );
    }
    let report = read_json(
        &env.home()
            .join(format!("data/drift/{DRIFT_FROM}/report.json")),
    );
    assert_eq!(report["dataset_drift"], true);
    // One training per day: a day monitoring retrained is not trained again as new data.
    let trainings = of("03_model_training_pipeline")
        .iter()
        .filter(|r| r["state"] == "success")
        .count();
    assert_eq!(trainings, 12, "one training run per day");
    let versions = env.json(&["models", "show", "churn_model", "--json"])["versions"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(versions, 12, "one version per day, none twice");

    // The reason is in the run, the experiment run and the summary file.
    let first = format!("retrain__{DRIFT_FROM}");
    let run = env.ok_in(
        env.dir.path(),
        &[
            "runs",
            "show",
            &first,
            "--dag",
            "03_model_training_pipeline",
        ],
    );
    assert!(common::out_text(&run).contains("reason: drift"));
    let experiments = env.json(&["experiments", "runs", "--json"]);
    let exp = experiments
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["run_id"] == first.as_str())
        .unwrap_or_else(|| panic!("no experiment run of {first}: {experiments}"));
    assert!(exp["reasons"].to_string().contains("drift"), "{exp}");
    let summary = read_json(&env.home().join(format!("data/summaries/{first}.json")));
    assert_eq!(summary["reasons"][0], "drift", "{summary}");
    assert_eq!(
        summary["drift_report"]["html"],
        format!("drift/{DRIFT_FROM}/report.html")
    );
    assert!(summary["promotion"]["why"].is_string(), "{summary}");

    // The retrained challenger beat the stale champion (v1) on a drifted holdout.
    let promoted: Vec<Value> = retrains
        .iter()
        .map(|r| {
            let id = r["run_id"].as_str().unwrap();
            read_json(&env.home().join(format!("data/summaries/{id}.json")))
        })
        .filter(|s| s["deployed"] == true)
        .collect();
    let p = promoted
        .first()
        .unwrap_or_else(|| panic!("no retrained version was promoted: {days:?}"));
    let decision = &p["promotion"];
    assert_eq!(decision["champion"]["version"], 1, "{decision}");
    assert!(
        decision["challenger"]["score"].as_f64().unwrap()
            > decision["champion"]["score"].as_f64().unwrap(),
        "{decision}"
    );
    let holdout_day = decision["holdout"]["reference"].as_str().unwrap();
    assert!(
        holdout_day > &format!("prepared_data/{DRIFT_FROM}")[..],
        "{holdout_day}"
    );

    // The hook: a deploy run per version that reached production, and a message each.
    let version = p["registered"]["version"].as_u64().unwrap();
    let deploys = of("deploy");
    let deploy = deploys
        .iter()
        .find(|r| r["run_id"] == format!("promoted__churn_model_v{version}").as_str())
        .unwrap_or_else(|| panic!("no deploy run for v{version}: {deploys:?}"));
    assert_eq!(deploy["state"], "success");
    assert_eq!(deploy["conf"]["version"], version);
    assert_eq!(deploy["conf"]["previous"], 1);
    assert_eq!(deploy["conf"]["target"], "test");
    assert_eq!(
        deploys.len(),
        1 + promoted.len(),
        "v1 (the first) and the retrained ones, nothing for versions kept in staging"
    );
    let texts: Vec<String> = hook
        .received()
        .iter()
        .map(|r| r.body["text"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        texts
            .iter()
            .any(|t| t.starts_with(&format!("`churn_model` v{version} is in production"))),
        "{texts:?}"
    );
    assert!(
        texts
            .iter()
            .any(|t| t.starts_with("Retraining `churn_model` (drift)")),
        "{texts:?}"
    );
    assert!(
        texts.iter().any(|t| t.contains("(why: drift)")),
        "{texts:?}"
    );
}
