//! Training on small generated data (the debug build is ten times slower than release).

use std::sync::Arc;

use arrow::array::{Float64Array, RecordBatch};
use arrow::compute::concat_batches;
use arrow::datatypes::{DataType, Field, Schema};
use chrono::NaiveDate;
use dagctl_engine::parse_args;
use serde_json::json;

use super::artifact;
use super::params::{Kind, Task};
use super::table::Table;
use super::train::{TrainSpec, evaluate, train};
use crate::generate::{GenerateArgs, generate};
use crate::prepare::{PrepareArgs, Prepared, Source, prepare};

fn prepared(days: std::ops::RangeInclusive<u32>, args: serde_json::Value) -> Prepared {
    let g: GenerateArgs = parse_args(&json!({})).unwrap();
    let batches: Vec<RecordBatch> = days
        .map(|d| generate(NaiveDate::from_ymd_opt(2026, 3, d).unwrap(), &g))
        .collect();
    let raw = concat_batches(&batches[0].schema(), &batches).unwrap();
    let a: PrepareArgs = parse_args(&args).unwrap();
    let source = Source {
        dataset: "raw_data".into(),
        from: String::new(),
        to: String::new(),
        partitions: vec![],
        rows_read: raw.num_rows(),
        rows_dropped: 0,
    };
    prepare(
        &raw,
        &a,
        "prepared_data/t",
        NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
        source,
        0,
    )
    .unwrap()
}

/// Small, fast grids for the debug build.
fn small(extra: serde_json::Value) -> TrainSpec {
    let mut v = json!({
        "random_forest": {"n_trees": 20, "max_depth": [6, 10], "min_samples_leaf": 2},
        "gradient_boosting": {"n_estimators": 30},
        "n_jobs": 2,
    });
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    serde_json::from_value(v).unwrap()
}

fn features(p: &Prepared) -> Vec<String> {
    p.metadata.preprocessor.feature_columns.clone()
}

#[test]
fn every_classifier_trains_and_the_best_beats_the_majority_class() {
    let p = prepared(1..=2, json!({}));
    let out = train(&p.train, &p.test, &features(&p), &small(json!({}))).unwrap();
    assert_eq!(out.len(), 1);
    let r = &out[0].report;
    assert_eq!(r.task, Task::Classification);
    assert_eq!(r.classes, vec![0.0, 1.0]);
    let names: Vec<Kind> = r.candidates.iter().map(|c| c.candidate).collect();
    assert_eq!(names, Kind::defaults(Task::Classification));
    assert_eq!(out[0].models.len(), 4);
    for c in &r.candidates {
        assert!(c.error.is_none(), "{:?}: {:?}", c.candidate, c.error);
        for m in [
            "accuracy",
            "precision_macro",
            "recall_macro",
            "f1_macro",
            "roc_auc",
        ] {
            let v = c.metrics[m];
            assert!((0.0..=1.0).contains(&v), "{:?} {m} {v}", c.candidate);
        }
        assert!(
            c.metrics["roc_auc"] > 0.6,
            "{:?}: AUC {}",
            c.candidate,
            c.metrics["roc_auc"]
        );
    }
    // The searched forest tried both points of its grid with 3-fold CV and kept the best.
    let rf = r
        .candidates
        .iter()
        .find(|c| c.candidate == Kind::RandomForest)
        .unwrap();
    assert_eq!(rf.search.len(), 2);
    let best_cv = rf
        .search
        .iter()
        .filter_map(|s| s.cv_score)
        .fold(f64::MIN, f64::max);
    assert_eq!(rf.cv_score, Some(best_cv));
    // The best F1 beats always answering the majority class (F1 macro 0.5 at most).
    assert!(r.best_value > 0.6, "best {:?} f1 {}", r.best, r.best_value);
    let best = r
        .candidates
        .iter()
        .map(|c| c.metrics["f1_macro"])
        .fold(f64::MIN, f64::max);
    assert_eq!(r.best_value, best);
}

#[test]
fn artifacts_reload_with_bit_identical_predictions() {
    let p = prepared(3..=3, json!({}));
    let out = train(&p.train, &p.test, &features(&p), &small(json!({}))).unwrap();
    let x = Table::from_batch(&p.test, &features(&p)).unwrap().matrix();
    for m in &out[0].models {
        let bytes = artifact::to_bytes(m).unwrap();
        let (header, _) = artifact::read_header(&bytes).unwrap();
        assert_eq!(header.info, m.info);
        assert_eq!(header.format_version, artifact::FORMAT_VERSION);
        let back = artifact::from_bytes(&bytes).unwrap();
        let a = m.predict_proba(&x).unwrap();
        let b = back.predict_proba(&x).unwrap();
        let same = a
            .iter()
            .flatten()
            .zip(b.iter().flatten())
            .all(|(u, v)| u.to_bits() == v.to_bits());
        assert!(
            same,
            "{:?} predicts differently after reloading",
            m.info.kind
        );
    }
    let bytes = artifact::to_bytes(&out[0].models[0]).unwrap();
    let mut newer = bytes.clone();
    newer[12] = 9;
    let e = artifact::from_bytes(&newer).unwrap_err().to_string();
    assert!(e.contains("newer than this dagctl reads"), "{e}");
    let e = artifact::from_bytes(b"PAR1 not a model")
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a dagctl model artifact"), "{e}");
    let e = artifact::from_bytes(&bytes[..bytes.len() - 10])
        .unwrap_err()
        .to_string();
    assert!(e.contains("does not decode"), "{e}");
}

#[test]
fn several_targets_train_separately_and_threads_do_not_change_models() {
    let p = prepared(
        4..=4,
        json!({"label_columns": ["churned", "monthly_spend"]}),
    );
    let spec = small(json!({
        "targets": [
            {"column": "churned", "task": "classification", "metric": "roc_auc"},
            {"column": "monthly_spend", "task": "regression"},
        ],
        "candidates": ["linear_regression", "random_forest", "gradient_boosting"],
    }));
    let out = train(&p.train, &p.test, &features(&p), &spec).unwrap();
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].report.metric.name(), "roc_auc");
    let reg = &out[1].report;
    assert_eq!(
        (reg.task, reg.metric.name().as_str()),
        (Task::Regression, "rmse")
    );
    // Missing spend values are dropped for that target only.
    assert!(reg.rows.train < out[0].report.rows.train);
    for c in &reg.candidates {
        assert!(
            c.metrics.contains_key("rmse") && c.metrics.contains_key("r2"),
            "{c:?}"
        );
    }
    let best = reg
        .candidates
        .iter()
        .map(|c| c.metrics["rmse"])
        .fold(f64::MAX, f64::min);
    assert_eq!(reg.best_value, best, "lower RMSE wins");
    // Spend follows transactions and plan (its ×12 outliers, left in a label, cap the R²).
    assert!(
        reg.candidates.iter().any(|c| c.metrics["r2"] > 0.1),
        "{reg:?}"
    );

    let one = train(
        &p.train,
        &p.test,
        &features(&p),
        &small(json!({
            "candidates": ["random_forest", "gradient_boosting"], "n_jobs": 1,
        })),
    )
    .unwrap();
    let two = train(
        &p.train,
        &p.test,
        &features(&p),
        &small(json!({
            "candidates": ["random_forest", "gradient_boosting"], "n_jobs": 2,
        })),
    )
    .unwrap();
    for (a, b) in one[0]
        .report
        .candidates
        .iter()
        .zip(&two[0].report.candidates)
    {
        assert_eq!(a.metrics, b.metrics, "{:?}", a.candidate);
        assert_eq!(a.params, b.params);
    }
}

#[test]
fn random_search_and_bad_arguments() {
    let spec = small(json!({
        "random_forest": {"n_trees": 10, "max_depth": [4, 6, 8, 10], "min_samples_leaf": [1, 3]},
        "search": {"method": "random", "n_iter": 3, "folds": 2},
        "candidates": ["random_forest"],
    }));
    let p = prepared(5..=5, json!({}));
    let out = train(&p.train, &p.test, &features(&p), &spec).unwrap();
    assert_eq!(
        out[0].report.candidates[0].search.len(),
        3,
        "3 of the 8 points"
    );

    let bad = |v: serde_json::Value| -> String {
        match serde_json::from_value::<TrainSpec>(v) {
            Err(e) => e.to_string(),
            Ok(s) => s
                .check()
                .map(|_| "ok".to_string())
                .unwrap_or_else(|(a, m)| format!("{a}: {m}")),
        }
    };
    assert!(bad(json!({"candidates": ["svm"]})).contains("unknown variant `svm`"));
    assert_eq!(
        bad(json!({"target": "x", "task": "regression", "candidates": ["logistic_regression"]})),
        "candidates: `logistic_regression` cannot learn the regression target `x`"
    );
    assert_eq!(
        bad(json!({"metric": "rmse"})),
        "metric: `rmse` does not measure classification (target `churned`)"
    );
    assert!(
        bad(json!({"random_forest": {"n_tres": 3}}))
            .starts_with("random_forest: unknown field `n_tres`")
    );

    // A target with many classes (transactions) still trains.
    let p = prepared(6..=6, json!({"label_columns": ["churned", "transactions"]}));
    let e = train(
        &p.train,
        &p.test,
        &features(&p),
        &small(json!({
            "target": "transactions", "candidates": ["linear_regression"], "targets": [],
        })),
    );
    assert!(e.is_ok(), "many classes still train");
    // A target with one class is refused with a hint.
    let mut one_class = p.train.clone();
    let (i, _) = one_class.schema().column_with_name("churned").unwrap();
    let mut cols = one_class.columns().to_vec();
    cols[i] = Arc::new(arrow::array::Int64Array::from(vec![
        0;
        one_class.num_rows()
    ]));
    one_class = RecordBatch::try_new(one_class.schema(), cols).unwrap();
    let e = train(&one_class, &p.test, &features(&p), &small(json!({})))
        .unwrap_err()
        .to_string();
    assert!(e.contains("single class"), "{e}");
}

#[test]
fn three_classes_one_vs_rest() {
    // Three well-separated blobs on two features.
    let n = 300;
    let mut a = Vec::new();
    let mut b = Vec::new();
    let mut y = Vec::new();
    for i in 0..n {
        let class = (i % 3) as f64;
        let jitter = ((i * 37 % 101) as f64 / 101.0 - 0.5) * 0.8;
        a.push(class * 2.0 + jitter);
        b.push(-class + jitter * 0.5);
        y.push(class);
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("a", DataType::Float64, false),
        Field::new("b", DataType::Float64, false),
        Field::new("y", DataType::Float64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Float64Array::from(a)),
            Arc::new(Float64Array::from(b)),
            Arc::new(Float64Array::from(y)),
        ],
    )
    .unwrap();
    let cols = vec!["a".to_string(), "b".to_string()];
    let spec = small(
        json!({"target": "y", "candidates": ["logistic_regression", "random_forest", "gradient_boosting"]}),
    );
    let out = train(&batch, &batch, &cols, &spec).unwrap();
    let r = &out[0].report;
    assert_eq!(r.classes, vec![0.0, 1.0, 2.0]);
    for c in &r.candidates {
        assert!(c.metrics["accuracy"] > 0.95, "{c:?}");
        assert!(c.metrics["roc_auc"] > 0.95, "{c:?}");
    }
    let x = Table::from_batch(&batch, &cols).unwrap().matrix();
    let m = &out[0].models[0];
    let proba = m.predict_proba(&x).unwrap();
    assert!(
        proba
            .iter()
            .all(|p| p.len() == 3 && (p.iter().sum::<f64>() - 1.0).abs() < 1e-9)
    );
    let again = evaluate(m, &x, &[0.0, 1.0, 2.0].repeat(100)).unwrap();
    assert_eq!(again, r.candidates[0].metrics);
}

#[test]
fn a_removed_candidate_is_refused_with_the_reason() {
    use dagctl_engine::Operator;
    let op = super::operator::TrainModels;
    for args in [
        json!({"candidates": ["random_forest", "random_forest_classifier"]}),
        json!({"random_forest_classifier": {"n_trees": 10}}),
    ] {
        let e = op.check_args(&args).unwrap_err().to_string();
        assert!(
            e.contains("`random_forest_classifier` was removed")
                && e.contains("use `random_forest`"),
            "{e}"
        );
    }
}

#[test]
fn a_forest_search_scores_out_of_bag_or_by_folds() {
    let p = prepared(1..=2, json!({}));
    let spec = |oob: bool| {
        small(json!({
            "candidates": ["random_forest"],
            "search": {"folds": 3, "out_of_bag": oob},
        }))
    };
    let bagged = train(&p.train, &p.test, &features(&p), &spec(true)).unwrap();
    let folded = train(&p.train, &p.test, &features(&p), &spec(false)).unwrap();
    for out in [&bagged, &folded] {
        let rf = &out[0].report.candidates[0];
        assert_eq!(rf.search.len(), 2);
        assert!(
            rf.search.iter().all(|s| s.cv_score.is_some()),
            "{:?}",
            rf.search
        );
    }
    // Both estimate the same thing: the out-of-bag F1 is near the k-fold one and the test's.
    let score = |out: &[super::Trained]| out[0].report.candidates[0].cv_score.unwrap();
    let test_f1 = bagged[0].report.candidates[0].metrics["f1_macro"];
    assert!(
        (score(&bagged) - score(&folded)).abs() < 0.08,
        "{} vs {}",
        score(&bagged),
        score(&folded)
    );
    assert!(
        (score(&bagged) - test_f1).abs() < 0.1,
        "{} vs test {test_f1}",
        score(&bagged)
    );
    // The chosen point's forest is the final model: refitting the same point and seed on the
    // same rows gives the same predictions.
    let chosen = bagged[0].report.candidates[0].params.clone();
    let again = train(
        &p.train,
        &p.test,
        &features(&p),
        &small(json!({"candidates": ["random_forest"], "random_forest": chosen})),
    )
    .unwrap();
    let x = Table::from_batch(&p.test, &features(&p)).unwrap().matrix();
    assert_eq!(
        bagged[0].models[0].predict_proba(&x).unwrap(),
        again[0].models[0].predict_proba(&x).unwrap()
    );
    // A model read back from its file has no out-of-bag scores to offer.
    let back = artifact::from_bytes(&artifact::to_bytes(&bagged[0].models[0]).unwrap()).unwrap();
    assert!(back.oob_scores().is_none());
    assert!(bagged[0].models[0].oob_scores().is_some());
}

#[test]
fn an_artifact_of_the_old_format_is_refused_with_what_to_do() {
    let p = prepared(3..=3, json!({}));
    let out = train(
        &p.train,
        &p.test,
        &features(&p),
        &small(json!({"candidates": ["linear_regression"]})),
    )
    .unwrap();
    let mut bytes = artifact::to_bytes(&out[0].models[0]).unwrap();
    bytes[12] = 1;
    bytes[13] = 0;
    let e = artifact::from_bytes(&bytes).unwrap_err().to_string();
    assert!(
        e.contains("artifact format 1 was written by an older dagctl")
            && e.contains("train the model again"),
        "{e}"
    );
}

#[test]
fn a_composite_metric_chooses_the_best_candidate() {
    let p = prepared(1..=2, json!({}));
    let spec = small(json!({"metric": {"composite": {"f1_macro": 0.5, "roc_auc": 0.5}}}));
    let out = train(&p.train, &p.test, &features(&p), &spec).unwrap();
    let r = &out[0].report;
    assert_eq!(r.metric.name(), "0.5×f1_macro + 0.5×roc_auc");
    let value = |c: &super::report::CandidateReport| {
        0.5 * c.metrics["f1_macro"] + 0.5 * c.metrics["roc_auc"]
    };
    let best = r.candidates.iter().map(value).fold(f64::MIN, f64::max);
    assert!((r.best_value - best).abs() < 1e-12);
    let chosen = r.candidates.iter().find(|c| c.candidate == r.best).unwrap();
    assert!((value(chosen) - best).abs() < 1e-12);
    // A composite with an error metric is refused before any training.
    let bad = small(json!({"metric": {"composite": {"f1_macro": 0.5, "rmse": 0.5}}}));
    let e = train(&p.train, &p.test, &features(&p), &bad)
        .unwrap_err()
        .to_string();
    assert!(e.contains("`rmse` is an error"), "{e}");
}
