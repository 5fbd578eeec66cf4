//! The ML library without DAGs: generate a week of customers, prepare three days, train two candidates,
//! register the best in a model registry, promote it, and score a fresh day with it.
//!
//! `cargo run --example train_and_score`
//!
//! Everything lives in a temporary folder (`file://`) and an in-memory state store; point
//! `storage::open` at `s3://…` and use `SqlStore` for the real thing.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use dagctl::engine::MemoryStore;
use dagctl::operators::dataset::Dataset;
use dagctl::operators::generate::{GenerateArgs, generate};
use dagctl::operators::ml::operator::{spec_of, train_and_store};
use dagctl::operators::prepare::{HoldoutMethod, PrepareArgs, load_holdout, prepare_window};
use dagctl::operators::registry::{self, Floor, Holdout, Margin, PromotionRule, Registration};
use dagctl::operators::storage;
use object_store::ObjectStoreExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let location = storage::open(
        &format!("file://{}", dir.path().display()),
        &BTreeMap::new(),
    )?;

    // A week of raw days, as DAG 01 writes them.
    let raw = Dataset::new(location.clone(), "raw_data");
    let g: GenerateArgs = dagctl::engine::parse_args(&serde_json::json!({}))?;
    let first = NaiveDate::from_ymd_opt(2026, 3, 1).ok_or("date")?;
    for d in 0..8 {
        let day = first + chrono::Duration::days(d);
        raw.write_day(day, vec![generate(day, &g)]).await?;
    }
    let last = first + chrono::Duration::days(6);

    // Prepare the last three days (as DAG 02; the newest one held out), then train on it (as DAG 03's train_models).
    let prep: PrepareArgs = dagctl::engine::parse_args(&serde_json::json!({"window_days": 3}))?;
    let meta = prepare_window(&location, &prep, last).await?;
    println!(
        "prepared {}: {} train / {} test rows, {} features",
        meta.reference,
        meta.rows.train,
        meta.rows.test,
        meta.preprocessor.feature_columns.len()
    );
    let spec = spec_of(&serde_json::json!({
        "target": "churned",
        "candidates": ["logistic_regression", "gradient_boosting"],
        "gradient_boosting": {"n_estimators": 20},
    }))?;
    let trained = train_and_store(&location, &meta.reference, "artifacts/example", &spec).await?;
    let target = &trained.targets[0];
    for c in &target.report.candidates {
        println!(
            "  {:<20} {}",
            c.candidate.name(),
            dagctl::operators::ml::metrics::format(&c.metrics)
        );
    }

    // Register the best candidate and promote it by the champion/challenger rule.
    let store = MemoryStore::new();
    let best = target.report.best;
    let report = target
        .report
        .candidates
        .iter()
        .find(|c| c.candidate == best)
        .ok_or("best")?;
    let artifact = target
        .artifacts
        .iter()
        .find(|a| a.candidate == best.name())
        .ok_or("artifact")?;
    let read = |key: &str| {
        let key = object_store::path::Path::from(key);
        let location = location.clone();
        async move { location.store.get(&key).await?.bytes().await }
    };
    let (version, _) = registry::register(
        &store,
        &location,
        Registration {
            model: "churn_model".into(),
            artifact: read(&artifact.key).await?.to_vec(),
            feature_metadata: read(&trained.feature_metadata).await?.to_vec(),
            metrics: report.metrics.clone(),
            metric: target.report.metric.clone(),
            params: report.params.clone(),
            experiment_run: None,
            source: None,
            location: None,
        },
    )
    .await?;
    // Champion and challenger are scored on the prepared set's held-out raw rows (the newest
    // day of the window), each through its own stored preprocessing.
    let rule = PromotionRule {
        margin: Margin::Absolute(0.005),
        floor: Some(Floor::Value(0.6)),
        confidence: Some(0.9),
        ..PromotionRule::default()
    };
    let holdout = Holdout {
        rows: load_holdout(&location, &meta.reference).await?,
        reference: meta.reference.clone(),
        out_of_time: meta.holdout.method == HoldoutMethod::NewestDay,
    };
    let (decision, _) = registry::promote(
        &store,
        &location,
        "churn_model",
        version.version,
        &rule,
        &holdout,
    )
    .await?;
    println!("churn_model v{}: {}", version.version, decision.reason);

    // Score a day the model has never seen, with the production version.
    let loaded = registry::load(&store, &location, "churn_model", None).await?;
    let fresh = generate(first + chrono::Duration::days(7), &g);
    let scored = loaded.score(&fresh)?;
    let churners = scored
        .column_by_name("prediction")
        .and_then(|c| c.as_any().downcast_ref::<arrow::array::Int64Array>())
        .map_or(0, |p| p.iter().flatten().filter(|v| *v == 1).count());
    println!(
        "scored {} fresh customers with v{}: {churners} predicted to churn",
        scored.num_rows(),
        loaded.version.version
    );
    Ok(())
}
