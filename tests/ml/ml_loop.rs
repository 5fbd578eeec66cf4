//! The shipped loop end to end, as a user types it: the three DAGs over three days on the
//! embedded default (a local folder and a SQLite file), then the registry and experiment
//! verbs on what they produced.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::Env;
use serde_json::Value;

/// The shipped DAGs in a fresh home, with the checks this test repeats.
struct Home {
    env: Env,
}

impl Home {
    fn new() -> Home {
        Home {
            env: Env::shipped(),
        }
    }

    fn path(&self) -> PathBuf {
        self.env.home()
    }

    fn run(&self, args: &[&str]) -> Output {
        self.env.process(args).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args)).unwrap()
    }

    fn versions(&self) -> Vec<Value> {
        self.json(&["models", "show", "churn_model", "--json"])["versions"]
            .as_array()
            .unwrap()
            .clone()
    }

    fn stages(&self) -> Vec<String> {
        let m = self.json(&["models", "show", "churn_model", "--json"]);
        let stages = m["model"]["stages"].as_object().unwrap();
        (1..=stages.len())
            .map(|v| stages[&v.to_string()].as_str().unwrap().to_string())
            .collect()
    }
}

#[test]
fn three_days_of_the_loop_then_the_registry_verbs() {
    let home = Home::new();
    let out = home.ok(&[
        "backfill",
        "01_data_generation_pipeline",
        "--start",
        "2026-01-01",
        "--end",
        "2026-01-03",
    ]);
    assert!(out.contains("summary: 12 of 12 runs succeeded"), "{out}");
    assert_eq!(
        out.matches("promoted to production").count() + out.matches("kept in staging").count(),
        3,
        "{out}"
    );

    // Three versions, one per day of new data, each on its own prepared set.
    let versions = home.versions();
    assert_eq!(versions.len(), 3);
    let data: Vec<&str> = versions
        .iter()
        .map(|v| v["data"]["reference"].as_str().unwrap())
        .collect();
    assert_eq!(
        data,
        [
            "prepared_data/2026-01-01",
            "prepared_data/2026-01-02",
            "prepared_data/2026-01-03"
        ]
    );
    // Promoted only when better on the same held-out rows: replay the shipped rule (floor 0.6;
    // margin 0.001 on f1_macro, and the 90 % interval's lower bound above it) on the numbers
    // each decision recorded, and check it scored both models on the challenger's holdout.
    let stages = home.stages();
    let model = home.json(&["models", "show", "churn_model", "--json"]);
    let decisions: Vec<&Value> = model["model"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["action"] == "promote")
        .collect();
    assert_eq!(decisions.len(), 3);
    let mut expected = vec!["staging"; 3];
    let mut champion: Option<usize> = None;
    for (i, h) in decisions.iter().enumerate() {
        let d = &h["decision"];
        assert_eq!(h["version"], i as u64 + 1);
        assert_eq!(d["holdout"]["reference"], versions[i]["data"]["reference"]);
        assert!(d["holdout"]["rows"].as_u64().unwrap() > 100, "{d}");
        let challenger = d["challenger"].as_f64().unwrap();
        let promote = match champion {
            None => {
                assert!(d["champion"].is_null());
                challenger >= 0.6
            }
            Some(_) => {
                let champ = d["champion"]
                    .as_f64()
                    .expect("the champion scored on the same rows");
                let low = d["interval"]["low"].as_f64().unwrap();
                challenger >= 0.6 && challenger - champ >= 0.001 - 1e-12 && low > 0.001
            }
        };
        assert_eq!(d["promote"].as_bool(), Some(promote), "{d}");
        if promote {
            if let Some(old) = champion {
                expected[old] = "archived";
            }
            expected[i] = "production";
            champion = Some(i);
        }
    }
    assert_eq!(stages, expected);
    assert_eq!(stages.iter().filter(|s| *s == "production").count(), 1);

    // Every training is an experiment run with its candidates, parameters and artifacts.
    let runs = home.json(&["experiments", "runs", "--json"]);
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 3);
    for r in runs {
        assert_eq!(r["experiment"], "churn_training");
        let cands = r["result"]["targets"][0]["candidates"].as_array().unwrap();
        assert_eq!(cands.len(), 4);
        for a in r["result"]["targets"][0]["artifacts"].as_array().unwrap() {
            assert_eq!(a["sha256"].as_str().unwrap().len(), 64);
        }
    }
    let id = runs[0]["id"].as_str().unwrap();
    let shown = home.ok(&["experiments", "show", &id[..6]]);
    assert!(shown.contains("random_forest: accuracy"), "{shown}");
    assert_eq!(versions[0]["experiment_run"].as_str(), Some(id));
    assert_eq!(
        home.ok(&["variables", "get", "last_trained_data"]).trim(),
        "prepared_data/2026-01-03"
    );

    // No new data: the training tasks are skipped, not failed, and the run succeeds.
    let out = home.ok(&["trigger", "03_model_training_pipeline", "--json"]);
    let run: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(run["state"], "success");
    let state = |run: &Value, task: &str| {
        run["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["task_id"] == task)
            .unwrap()["state"]
            .clone()
    };
    assert_eq!(state(&run, "train_models"), "skipped");
    assert_eq!(state(&run, "register_best_model"), "skipped");
    assert_eq!(home.versions().len(), 3);
    // Deleting last_trained_data forces a training; so does --conf force.
    home.ok(&["variables", "delete", "last_trained_data"]);
    let run: Value =
        serde_json::from_str(&home.ok(&["trigger", "03_model_training_pipeline", "--json"]))
            .unwrap();
    assert_eq!(state(&run, "train_models"), "success");
    let run: Value = serde_json::from_str(&home.ok(&[
        "trigger",
        "03_model_training_pipeline",
        "--conf",
        r#"{"force": true}"#,
        "--json",
    ]))
    .unwrap();
    assert_eq!(state(&run, "train_models"), "success");
    assert_eq!(home.versions().len(), 5);
    // A reason trains too, and is said in the run, the experiment run and the summary file.
    let run: Value = serde_json::from_str(&home.ok(&[
        "trigger",
        "03_model_training_pipeline",
        "--run-id",
        "why",
        "--conf",
        r#"{"reason": "manual: new features"}"#,
        "--json",
    ]))
    .unwrap();
    assert_eq!(state(&run, "train_models"), "success");
    assert_eq!(home.versions().len(), 6);
    assert!(
        home.ok(&["runs", "show", "why"])
            .contains("reason: manual: new features")
    );
    let summary: Value = serde_json::from_slice(
        &std::fs::read(home.path().join("data/summaries/why.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        summary["reasons"],
        serde_json::json!(["manual: new features"])
    );
    assert_eq!(summary["run_id"], "why");
    assert_eq!(summary["data"], "prepared_data/2026-01-03");
    assert!(
        summary["promotion"]["challenger"]["score"].is_f64(),
        "{summary}"
    );
    let exp = home.json(&["experiments", "runs", "--json"]);
    assert!(
        exp.as_array()
            .unwrap()
            .iter()
            .any(|e| e["run_id"] == "why" && e["reasons"][0] == "manual: new features"),
        "{exp}"
    );
    // Same data as version 3: a tie at best, never promoted.
    assert_eq!(home.stages()[3], "staging");

    // Manual promotion and rollback keep one production version.
    let before = home.stages();
    let prod = before.iter().position(|s| s == "production").unwrap() + 1;
    let other = if prod == 5 { 4 } else { 5 };
    home.ok(&["models", "promote", "churn_model", &other.to_string()]);
    let after = home.stages();
    assert_eq!(after[other - 1], "production");
    assert_eq!(after[prod - 1], "archived");
    let out = home.ok(&["models", "rollback", "churn_model"]);
    assert!(
        out.contains(&format!("v{prod} is production again; v{other} archived")),
        "{out}"
    );
    let out = home.run(&["models", "promote", "churn_model", &other.to_string()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is archived: bring it back with"));

    // Compare shows both versions' metrics and their differences.
    let c = home.json(&["models", "compare", "churn_model", "1", "2", "--json"]);
    let row = c["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metric"] == "f1_macro")
        .unwrap()
        .clone();
    let diff = row["difference"].as_f64().unwrap();
    let f1 = |v: &Value| v["metrics"]["f1_macro"].as_f64().unwrap();
    assert!((diff - (f1(&versions[1]) - f1(&versions[0]))).abs() < 1e-12);

    // Score fresh rows with the production model.
    let raw = home
        .path()
        .join("data/raw_data/year=2026/month=01/day=02/part-00000.parquet");
    let scored = home.env.dir.path().join("scored.parquet");
    let out = home.ok(&[
        "models",
        "predict",
        "churn_model",
        "--input",
        raw.to_str().unwrap(),
        "--output",
        scored.to_str().unwrap(),
    ]);
    assert!(out.starts_with("scored "), "{out}");
    let batch = read(&scored);
    let p = batch.column_by_name("probability").unwrap();
    assert_eq!(p.len(), read(&raw).num_rows());
    assert!(batch.column_by_name("prediction").is_some());
    // Rows without a needed column get a clear error.
    let wrong = home.env.dir.path().join("wrong.parquet");
    write(&wrong, &read(&raw).project(&[0, 1]).unwrap());
    let out = home.run(&[
        "models",
        "predict",
        "churn_model",
        "--input",
        wrong.to_str().unwrap(),
        "--output",
        scored.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no column `age`"), "{err}");

    // Every version shows its stage in JSON; aliases point at versions, move, score and go.
    let shown = home.versions();
    let stages_now = home.stages();
    for (v, stage) in shown.iter().zip(&stages_now) {
        assert_eq!(&v["stage"], stage);
        assert_eq!(v["aliases"], serde_json::json!([]));
    }
    let out = home.ok(&["models", "alias", "set", "churn_model", "champion", "2"]);
    assert_eq!(out.trim(), "churn_model@champion → v2");
    let out = home.ok(&["models", "alias", "set", "churn_model", "champion", "4"]);
    assert_eq!(out.trim(), "churn_model@champion → v4 (was v2)");
    assert_eq!(
        home.versions()[3]["aliases"],
        serde_json::json!(["champion"])
    );
    assert!(
        home.ok(&["models", "show", "churn_model"])
            .contains("@champion")
    );
    let out = home.ok(&[
        "models",
        "predict",
        "churn_model",
        "--alias",
        "champion",
        "--input",
        raw.to_str().unwrap(),
        "--output",
        scored.to_str().unwrap(),
    ]);
    assert!(out.contains("with churn_model v4"), "{out}");
    for (args, message) in [
        (
            vec!["alias", "set", "churn_model", "7", "1"],
            "cannot be an alias",
        ),
        (
            vec!["alias", "set", "churn_model", "x", "9"],
            "has no version 9",
        ),
        (
            vec![
                "predict",
                "churn_model",
                "--alias",
                "nope",
                "--input",
                "a",
                "--output",
                "b",
            ],
            "has no alias `nope` (it has: champion)",
        ),
    ] {
        let mut full = vec!["models"];
        full.extend(args);
        let out = home.run(&full);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(message), "{full:?}: {err}");
    }
    let out = home.ok(&["models", "alias", "delete", "churn_model", "champion"]);
    assert!(out.contains("deleted (it pointed at v4)"), "{out}");
    assert_eq!(home.versions()[3]["aliases"], serde_json::json!([]));

    // Retention keeps the runs that trained a version, and nothing else that ended.
    let trained: std::collections::BTreeSet<String> = home
        .versions()
        .iter()
        .filter_map(|v| v["source"].as_str())
        .map(|s| s.rsplit_once('/').unwrap().0.to_string())
        .collect();
    assert_eq!(trained.len(), 6, "{trained:?}");
    let out = home.ok(&["db", "clean", "--before", "2100-01-01"]);
    assert!(
        out.contains("; 6 older run(s) kept: they trained model versions"),
        "{out}"
    );
    let left: std::collections::BTreeSet<String> = home
        .env
        .runs()
        .iter()
        .map(|r| {
            format!(
                "{}/{}",
                r["dag_id"].as_str().unwrap(),
                r["run_id"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(left, trained);
    let experiments = home.json(&["experiments", "runs", "--json"]);
    assert!(!experiments.as_array().unwrap().is_empty());

    // The audit: all versions verify; a tampered model file does not.
    let out = home.ok(&["models", "verify", "churn_model"]);
    assert_eq!(out.matches(": ok").count(), 6, "{out}");
    let key = versions[0]["artifact"]["key"].as_str().unwrap();
    let file = home.path().join("data").join(key);
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    std::fs::write(&file, bytes).unwrap();
    let out = home.run(&["models", "verify", "churn_model", "1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("churn_model v1: MISMATCH: model file SHA-256, audit hash"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = home.run(&["models", "show", "no_such_model"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no model `no_such_model`"));
}

fn read(path: &Path) -> arrow::array::RecordBatch {
    let f = std::fs::File::open(path).unwrap();
    let r = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<_> = r.collect::<Result<_, _>>().unwrap();
    arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap()
}

fn write(path: &Path, batch: &arrow::array::RecordBatch) {
    let f = std::fs::File::create(path).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(f, batch.schema(), None).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
}

/// The shipped DAG 03 (without its retry, to fail at once) on data that is not there: the
/// run fails and `dagctl trigger` exits 1, and the summary still goes out, saying so.
#[test]
fn a_failed_training_fails_the_run_and_its_summary_says_so() {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("dags");
    let dag = std::fs::read_to_string(shipped.join("03_model_training_pipeline.yaml"))
        .unwrap()
        .replace("retries: 1", "retries: 0");
    let pools = std::fs::read_to_string(shipped.join("pools.yaml")).unwrap();
    let env = Env::new(&[
        ("03_model_training_pipeline.yaml", &dag),
        ("pools.yaml", &pools),
    ]);
    env.cmd(&[
        "variables",
        "set",
        "latest_prepared_data",
        "prepared_data/2030-01-01",
    ])
    .assert()
    .success();
    let out = env
        .process(&["trigger", "03_model_training_pipeline"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("run manual__") && text.contains(": failed"),
        "{text}"
    );
    assert!(
        text.contains("notify: training FAILED (train_models failed"),
        "{text}"
    );
    assert!(text.contains("production model unchanged"), "{text}");
}
