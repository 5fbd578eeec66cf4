use super::*;
use crate::generate::{GenerateArgs, generate};
use crate::ml::{Metric, TrainSpec, train};
use crate::prepare::{PrepareArgs, Prepared, Source, prepare};
use chrono::NaiveDate;
use dagctl_engine::{MemoryStore, parse_args};

/// A prepared set of two days: the second is the out-of-time holdout.
fn prepared() -> Prepared {
    let g: GenerateArgs = parse_args(&serde_json::json!({})).unwrap();
    let days: Vec<_> = [1, 2]
        .iter()
        .map(|d| generate(NaiveDate::from_ymd_opt(2026, 5, *d).unwrap(), &g))
        .collect();
    let newest = days[1].num_rows();
    let raw = arrow::compute::concat_batches(&days[0].schema(), &days).unwrap();
    let source = Source {
        dataset: "raw_data".into(),
        from: String::new(),
        to: String::new(),
        partitions: vec![],
        rows_read: 0,
        rows_dropped: 0,
    };
    prepare(
        &raw,
        &PrepareArgs::default(),
        "prepared_data/2026-05-02",
        NaiveDate::from_ymd_opt(2026, 5, 2).unwrap(),
        source,
        newest,
    )
    .unwrap()
}

/// A real model file of `candidate` trained on the first `rows` training rows, and the
/// metadata.
fn files_of(p: &Prepared, candidate: &str, rows: usize) -> (Vec<u8>, Vec<u8>) {
    let spec: TrainSpec =
        serde_json::from_value(serde_json::json!({"candidates": [candidate]})).unwrap();
    let features = p.metadata.preprocessor.feature_columns.clone();
    let train_rows = p.train.slice(0, rows.min(p.train.num_rows()));
    let t = train(&train_rows, &p.test, &features, &spec).unwrap();
    let bytes = crate::ml::artifact::to_bytes(&t[0].models[0]).unwrap();
    (bytes, serde_json::to_vec(&p.metadata).unwrap())
}

/// A small linear model's files.
fn files() -> (Vec<u8>, Vec<u8>) {
    files_of(&prepared(), "linear_regression", usize::MAX)
}

fn reg(files: &(Vec<u8>, Vec<u8>), f1: f64, source: &str) -> Registration {
    Registration {
        model: "churn".into(),
        artifact: files.0.clone(),
        feature_metadata: files.1.clone(),
        metrics: Metrics::from([("f1_macro".to_string(), f1), ("roc_auc".to_string(), 0.9)]),
        metric: Objective::Metric(Metric::F1Macro),
        params: serde_json::json!({}),
        experiment_run: Some("abc".into()),
        source: Some(source.into()),
        location: None,
    }
}

/// A store, a data location, a prepared set and its holdout (`out_of_time` as given), and
/// the files of a weak model (40 training rows) and a strong one.
struct Fixture {
    store: MemoryStore,
    loc: crate::storage::Location,
    p: Prepared,
    holdout: Holdout,
    weak: (Vec<u8>, Vec<u8>),
    strong: (Vec<u8>, Vec<u8>),
}

fn fixture(out_of_time: bool) -> Fixture {
    let p = prepared();
    Fixture {
        store: MemoryStore::new(),
        loc: crate::storage::open("memory://", &Default::default()).unwrap(),
        holdout: Holdout {
            reference: "prepared_data/2026-05-02".into(),
            rows: p.holdout.clone(),
            out_of_time,
        },
        weak: files_of(&p, "logistic_regression", 40),
        strong: files_of(&p, "gradient_boosting", usize::MAX),
        p,
    }
}

fn rule(margin: f64, floor: Option<f64>) -> PromotionRule {
    PromotionRule {
        margin: Margin::Absolute(margin),
        floor: floor.map(Floor::Value),
        ..PromotionRule::default()
    }
}

async fn stages(store: &MemoryStore) -> Vec<(u32, Stage)> {
    entry(store, "churn")
        .await
        .unwrap()
        .unwrap()
        .0
        .stages
        .into_iter()
        .collect()
}

#[tokio::test]
async fn champion_and_challenger_are_scored_on_the_same_holdout_not_on_stored_luck() {
    let Fixture {
        store,
        loc,
        p,
        holdout,
        weak,
        strong,
    } = fixture(true);
    // v1: a weak model (40 training rows) whose stored score was a lucky 0.99.
    register(&store, &loc, reg(&weak, 0.99, "run1"))
        .await
        .unwrap();
    let (d, _) = promote(&store, &loc, "churn", 1, &rule(0.0, None), &holdout)
        .await
        .unwrap();
    assert!(d.promote, "first model: {}", d.reason);
    // v2: the same weak model again: a tie on the same rows stays in staging.
    register(&store, &loc, reg(&weak, 0.5, "run2"))
        .await
        .unwrap();
    let (d, champion) = promote(&store, &loc, "churn", 2, &rule(0.0, None), &holdout)
        .await
        .unwrap();
    assert!(!d.promote && champion == Some(1), "{}", d.reason);
    assert_eq!(
        d.improvement,
        Some(0.0),
        "identical models score identically"
    );
    // v3: a better model with a modest stored score replaces the lucky champion.
    register(&store, &loc, reg(&strong, 0.75, "run3"))
        .await
        .unwrap();
    let (d, champion) = promote(&store, &loc, "churn", 3, &rule(0.0, None), &holdout)
        .await
        .unwrap();
    assert!(d.promote && champion == Some(1), "{}", d.reason);
    let h = d.holdout.as_ref().unwrap();
    assert_eq!(
        (h.reference.as_str(), h.rows),
        ("prepared_data/2026-05-02", p.holdout.num_rows())
    );
    assert!(
        d.champion.unwrap() < 0.99,
        "the stored luck was not used: {d:?}"
    );
    let e = entry(&store, "churn").await.unwrap().unwrap().0;
    let recorded = e
        .history
        .iter()
        .rev()
        .find(|h| h.version == 3 && h.action == "promote")
        .unwrap();
    assert_eq!(recorded.decision.as_ref(), Some(&d));
    // With confidence, a challenger no better than the champion on the same rows is kept
    // out even with no margin; the interval is recorded.
    register(&store, &loc, reg(&strong, 0.9, "run4"))
        .await
        .unwrap();
    let mut sure = rule(0.0, None);
    sure.confidence = Some(0.9);
    let (d, _) = promote(&store, &loc, "churn", 4, &sure, &holdout)
        .await
        .unwrap();
    assert!(!d.promote, "{}", d.reason);
    let iv = d.interval.unwrap();
    assert_eq!((iv.low, iv.high), (0.0, 0.0), "{iv:?}");
}

#[tokio::test]
async fn champion_challenger_rollback_and_stage_rules() {
    let Fixture {
        store,
        loc,
        holdout,
        weak,
        strong,
        ..
    } = fixture(true);

    let (v1, new) = register(&store, &loc, reg(&weak, 0.70, "run1"))
        .await
        .unwrap();
    assert_eq!((v1.version, new), (1, true));
    assert_eq!(stages(&store).await, [(1, Stage::None)]);
    promote(&store, &loc, "churn", 1, &rule(0.01, Some(0.3)), &holdout)
        .await
        .unwrap();
    assert_eq!(stages(&store).await, [(1, Stage::Production)]);
    // The same model again goes to staging; a better one replaces the champion, archived.
    register(&store, &loc, reg(&weak, 0.705, "run2"))
        .await
        .unwrap();
    let (d, _) = promote(&store, &loc, "churn", 2, &rule(0.01, Some(0.3)), &holdout)
        .await
        .unwrap();
    assert!(!d.promote, "{}", d.reason);
    register(&store, &loc, reg(&strong, 0.75, "run3"))
        .await
        .unwrap();
    let (d, _) = promote(&store, &loc, "churn", 3, &rule(0.01, Some(0.3)), &holdout)
        .await
        .unwrap();
    assert!(d.promote, "{}", d.reason);
    assert_eq!(
        stages(&store).await,
        [
            (1, Stage::Archived),
            (2, Stage::Staging),
            (3, Stage::Production)
        ]
    );

    // Rollback: back to the previous production version, the current one archived.
    let (from, to) = rollback(&store, "churn", None).await.unwrap();
    assert_eq!((from, to), (Some(3), 1));
    assert_eq!(
        stages(&store).await,
        [
            (1, Stage::Production),
            (2, Stage::Staging),
            (3, Stage::Archived)
        ]
    );
    rollback(&store, "churn", Some(2)).await.unwrap();
    assert_eq!(
        entry(&store, "churn")
            .await
            .unwrap()
            .unwrap()
            .0
            .production(),
        Some(2)
    );
    let again = rollback(&store, "churn", Some(2))
        .await
        .unwrap_err()
        .to_string();
    assert!(again.contains("already in production"), "{again}");

    // Manual stage changes keep the rules.
    let e = set_stage(&store, "churn", 1, Stage::Production)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("rollback churn --to 1"), "{e}");
    let e = set_stage(&store, "churn", 2, Stage::Staging)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("is in production"), "{e}");
    assert_eq!(
        set_stage(&store, "churn", 3, Stage::Staging).await.unwrap(),
        Stage::Archived
    );
    set_stage(&store, "churn", 3, Stage::Production)
        .await
        .unwrap();
    assert_eq!(
        stages(&store).await,
        [
            (1, Stage::Archived),
            (2, Stage::Archived),
            (3, Stage::Production)
        ],
        "one production version at most"
    );
    let e = version(&store, "churn", 9).await.unwrap_err().to_string();
    assert_eq!(e, "model `churn` has no version 9 (it has 1 to 3)");
    // A metric the task does not have is refused, and nothing is recorded.
    let before = entry(&store, "churn").await.unwrap().unwrap();
    let mut by_rmse = rule(0.0, None);
    by_rmse.metric = Some(Objective::Metric(Metric::Rmse));
    let e = promote(&store, &loc, "churn", 2, &by_rmse, &holdout)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("has no metric `rmse` on the holdout"), "{e}");
    assert_eq!(entry(&store, "churn").await.unwrap().unwrap(), before);
}

#[tokio::test]
async fn versions_are_immutable_and_audited() {
    let store = MemoryStore::new();
    let loc = crate::storage::open("memory://", &Default::default()).unwrap();
    let f = files();
    let (v1, _) = register(&store, &loc, reg(&f, 0.7, "dag/run/a"))
        .await
        .unwrap();
    // The same registration (a retried task) gets the same version back.
    let (again, new) = register(&store, &loc, reg(&f, 0.9, "dag/run/a"))
        .await
        .unwrap();
    assert_eq!((again.version, new), (1, false));
    assert_eq!(again, v1, "the version did not change");
    // Nothing can write the version record again.
    let overwrite = store
        .write_records(&[RecordWrite {
            collection: VERSIONS.into(),
            key: version_key("churn", 1),
            value: serde_json::json!({"metrics": {"f1_macro": 1.0}}),
            expect: Expect::Absent,
        }])
        .await;
    assert!(matches!(overwrite, Err(StoreError::Conflict { .. })));
    assert_eq!(version(&store, "churn", 1).await.unwrap(), v1);

    let ok = verify(&store, &loc, "churn", 1).await.unwrap();
    assert!(ok.ok, "{ok:?}");
    assert_eq!(
        v1.audit_hash,
        audit_hash(
            &v1.artifact.sha256,
            &v1.feature_metadata.sha256,
            &v1.data,
            &v1.metrics
        )
    );
    // The model file loads, with its preprocessing.
    let loaded = load(&store, &loc, "churn", Some(1)).await.unwrap();
    assert_eq!(loaded.model.info.kind.name(), "linear_regression");
    assert_eq!(loaded.metadata.reference, "prepared_data/2026-05-02");
    let e = load(&store, &loc, "churn", None)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("no production version"), "{e}");

    // Tampering with the stored model file is detected.
    let key = object_store::path::Path::from(v1.artifact.key.as_str());
    let mut bytes = f.0.clone();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    loc.put_bytes(&key, bytes).await.unwrap();
    let bad = verify(&store, &loc, "churn", 1).await.unwrap();
    assert!(!bad.ok);
    assert_eq!(
        bad.checks,
        [
            ("model file SHA-256".to_string(), false),
            ("feature metadata SHA-256".to_string(), true),
            ("audit hash".to_string(), false)
        ]
    );
    let e = load(&store, &loc, "churn", Some(1))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("the file was changed"), "{e}");
}

#[tokio::test]
async fn an_unfair_holdout_or_a_floor_the_task_lacks_promotes_nothing() {
    let Fixture {
        store,
        loc,
        p,
        holdout: random,
        weak,
        strong,
    } = fixture(false);
    register(&store, &loc, reg(&weak, 0.7, "run1"))
        .await
        .unwrap();
    let (d, _) = promote(&store, &loc, "churn", 1, &rule(0.0, None), &random)
        .await
        .unwrap();
    assert!(d.promote, "a first model needs no comparison: {}", d.reason);
    register(&store, &loc, reg(&strong, 0.8, "run2"))
        .await
        .unwrap();
    let (d, _) = promote(&store, &loc, "churn", 2, &rule(0.0, None), &random)
        .await
        .unwrap();
    assert!(!d.promote && d.reason.contains("not fair"), "{}", d.reason);
    // A floor on a metric a classifier does not have is an error, not a silent "no".
    let mut bad = rule(0.0, None);
    bad.floor = Some(Floor::Metrics(std::collections::BTreeMap::from([(
        Metric::Rmse,
        5.0,
    )])));
    let e = promote(&store, &loc, "churn", 2, &bad, &random)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("the floor names rmse"), "{e}");
    // Rows without a label are left out of the scores, not counted as wrong.
    let loaded = load(&store, &loc, "churn", Some(2)).await.unwrap();
    let all = holdout::Scored::new(&loaded, &p.holdout).unwrap();
    let i = p.holdout.schema().index_of("churned").unwrap();
    let mut cols = p.holdout.columns().to_vec();
    let mut labels: Vec<Option<f64>> = crate::ml::table::numbers(&p.holdout, "churned")
        .unwrap()
        .into_iter()
        .map(Some)
        .collect();
    labels[0] = None;
    labels[1] = None;
    let cast = arrow::compute::cast(
        &arrow::array::Float64Array::from(labels),
        p.holdout.schema().field(i).data_type(),
    )
    .unwrap();
    cols[i] = cast;
    let mut fields: Vec<arrow::datatypes::Field> = p
        .holdout
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields[i] = fields[i].clone().with_nullable(true);
    let schema = std::sync::Arc::new(arrow::datatypes::Schema::new(fields));
    let gapped = arrow::array::RecordBatch::try_new(schema, cols).unwrap();
    let some = holdout::Scored::new(&loaded, &gapped).unwrap();
    assert_eq!(some.rows(), all.rows() - 2);
}
