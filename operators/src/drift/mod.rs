//! `detect_drift`: does the newest data still look like what the production model learned
//! from?
//!
//! Per feature, between a **reference** — by default the production model's training rows,
//! found through the registry (the raw days of its prepared window, its held-out day left out)
//! or a named dataset and date range — and the **current** rows (the logical date, or the
//! `current_days` ending on it): PSI and the two-sample Kolmogorov–Smirnov test for numbers,
//! PSI and the χ² test for categories ([`stats`]). A feature drifts when its PSI is above
//! `psi_threshold` (0.25) or its p-value below `alpha` (0.05); the dataset drifts when at least
//! `share` (0.5, Evidently's default) of the features do. The report goes beside the data as
//! `drift/<date>/report.json` and a self-contained `report.html` ([`page`]); the task log
//! names both, and the XCom says whether the dataset drifted.

pub mod compare;
pub mod latest;
pub mod page;
pub mod stats;

use arrow::array::RecordBatch;
use async_trait::async_trait;
use chrono::{Duration, NaiveDate};
use dagctl_engine::{ArgsError, Operator, TaskContext, TaskError, TaskOutcome, parse_args};
use futures::TryStreamExt;
use serde::Deserialize;

pub use compare::{DriftReport, FeatureDrift, Thresholds, compare};

use crate::dataset::Dataset;
use crate::prepare::FeatureConfig;
use crate::registry;
use crate::storage::{Location, resolve};

/// A reference given by hand: a dataset's days.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Range {
    #[serde(default = "raw_data")]
    dataset: String,
    from: NaiveDate,
    to: NaiveDate,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    /// The model whose production version's training rows are the reference.
    #[serde(default = "churn_model")]
    model: String,
    /// A reference range instead of the production model's rows.
    #[serde(default)]
    reference: Option<Range>,
    /// The current data's dataset.
    #[serde(default = "raw_data")]
    dataset: String,
    /// Days of current data, ending on the logical date.
    #[serde(default = "one", deserialize_with = "crate::templated::number")]
    current_days: u32,
    #[serde(default = "psi")]
    psi_threshold: f64,
    #[serde(default = "alpha")]
    alpha: f64,
    #[serde(default = "half")]
    share: f64,
    /// Numeric and categorical columns (default: the production model's, else the shipped
    /// feature configuration's).
    #[serde(default)]
    numeric_columns: Option<Vec<String>>,
    #[serde(default)]
    categorical_columns: Option<Vec<String>>,
    /// Where the reports go, under the data location.
    #[serde(default = "drift")]
    output: String,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    conn_id: Option<String>,
}

fn raw_data() -> String {
    "raw_data".into()
}
fn churn_model() -> String {
    "churn_model".into()
}
fn one() -> u32 {
    1
}
fn psi() -> f64 {
    0.25
}
fn alpha() -> f64 {
    0.05
}
fn half() -> f64 {
    0.5
}
fn drift() -> String {
    "drift".into()
}

async fn days(
    ds: &Dataset,
    from: NaiveDate,
    to: NaiveDate,
    skip: &[String],
) -> Result<Vec<RecordBatch>, TaskError> {
    let by_day: Vec<(NaiveDate, Vec<RecordBatch>)> =
        ds.read_by_day(from, to)
            .try_collect()
            .await
            .map_err(|e| TaskError::retryable(e.to_string()))?;
    Ok(by_day
        .into_iter()
        .filter(|(d, _)| !skip.contains(&d.to_string()))
        .flat_map(|(_, b)| b)
        .collect())
}

/// The reference rows, what they are, and the columns to compare.
async fn reference(
    location: &Location,
    a: &Args,
    production: Option<&registry::Loaded>,
) -> Result<(Vec<RecordBatch>, String, FeatureConfig), TaskError> {
    let mut config = FeatureConfig::default();
    let loaded = match (&a.reference, production) {
        (Some(r), _) => {
            let ds = Dataset::new(location.clone(), &r.dataset);
            let rows = days(&ds, r.from, r.to, &[]).await?;
            return Ok((rows, format!("{} {}..{}", r.dataset, r.from, r.to), config));
        }
        (None, Some(l)) => l,
        (None, None) => return Err(TaskError::fatal("no reference: no production model")),
    };
    let m = &loaded.metadata;
    config.numeric_columns = m
        .preprocessor
        .numeric
        .iter()
        .map(|c| c.name.clone())
        .collect();
    config.categorical_columns = m
        .preprocessor
        .categorical
        .iter()
        .map(|c| c.name.clone())
        .collect();
    // The training rows: the window's days without the held-out one.
    let (from, to, skip) = m.trained_days().ok_or_else(|| {
        TaskError::fatal(format!("{}: its source dates do not parse", m.reference))
    })?;
    let ds = Dataset::new(location.clone(), &m.source.dataset);
    let rows = days(&ds, from, to, &skip).await?;
    let what = format!(
        "the training rows of {} v{} ({} {from}..{to}{})",
        a.model,
        loaded.version.version,
        m.source.dataset,
        if skip.is_empty() {
            String::new()
        } else {
            format!(" without {}", skip.join(", "))
        }
    );
    Ok((rows, what, config))
}

/// The operator.
#[derive(Debug, Clone, Copy, Default)]
pub struct DetectDrift;

#[async_trait]
impl Operator for DetectDrift {
    fn name(&self) -> &str {
        "detect_drift"
    }

    fn summary(&self) -> &str {
        "per-feature drift (PSI, KS, χ²) of new data against the production model's training rows; JSON and HTML report"
    }

    fn check_args(&self, args: &serde_json::Value) -> Result<(), ArgsError> {
        let args = crate::templated::untemplated(args, &["current_days"], serde_json::json!(1));
        let a: Args = parse_args(&args)?;
        if a.current_days == 0 || a.current_days > 3660 {
            return Err(ArgsError::at("current_days", "need 1 to 3660 days"));
        }
        for (name, v, ok) in [
            (
                "psi_threshold",
                a.psi_threshold,
                a.psi_threshold > 0.0 && a.psi_threshold.is_finite(),
            ),
            ("alpha", a.alpha, a.alpha > 0.0 && a.alpha < 1.0),
            ("share", a.share, a.share > 0.0 && a.share <= 1.0),
        ] {
            if !ok {
                return Err(ArgsError::at(name, format!("{v} is out of range")));
            }
        }
        if let Some(r) = &a.reference
            && r.from > r.to
        {
            return Err(ArgsError::at("reference", "`from` is after `to`"));
        }
        Ok(())
    }

    async fn execute(&self, ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
        let a: Args = ctx.args()?;
        let location = resolve(ctx, a.url.as_deref(), a.conn_id.as_deref()).await?;
        let day = ctx.logical_date.date_naive();
        let started = std::time::Instant::now();
        let production = match &a.reference {
            Some(_) => None,
            None => match registry::load_production(ctx.records(), &location, &a.model).await? {
                Some(l) => Some(l),
                None => {
                    let line = format!(
                        "`{}` has no production version yet: no reference to compare with, nothing to check",
                        a.model
                    );
                    ctx.log(&line);
                    return Ok(TaskOutcome::Success(Some(serde_json::json!({
                        "check": "drift", "fired": false, "checked": false, "summary": line,
                    }))));
                }
            },
        };
        let (reference, described, config) = reference(&location, &a, production.as_ref()).await?;
        let from = day - Duration::days(i64::from(a.current_days) - 1);
        let current = days(&Dataset::new(location.clone(), &a.dataset), from, day, &[]).await?;
        if current.iter().all(|b| b.num_rows() == 0) {
            return Err(TaskError::fatal(format!(
                "no rows in `{}` from {from} to {day} to compare: generate that data first",
                a.dataset
            )));
        }
        if reference.iter().all(|b| b.num_rows() == 0) {
            return Err(TaskError::fatal(format!(
                "the reference ({described}) has no rows"
            )));
        }
        let numeric = a.numeric_columns.clone().unwrap_or(config.numeric_columns);
        let categorical = a
            .categorical_columns
            .clone()
            .unwrap_or(config.categorical_columns);
        let current_what = format!("{} {from}..{day}", a.dataset);
        let thresholds = Thresholds {
            psi: a.psi_threshold,
            alpha: a.alpha,
            share: a.share,
        };
        let report = tokio::task::spawn_blocking(move || {
            compare(
                (&reference, described),
                (&current, current_what),
                &numeric,
                &categorical,
                thresholds,
            )
        })
        .await
        .map_err(|e| TaskError::fatal(e.to_string()))?;
        let prefix = format!("{}/{day}", a.output.trim_matches('/'));
        let json_key = location.key(&format!("{prefix}/report.json"));
        let page_key = location.key(&format!("{prefix}/report.html"));
        let page = page::render(&format!("Drift of {} on {day}", a.dataset), &report);
        for (k, bytes) in [
            (
                &json_key,
                serde_json::to_vec_pretty(&report).unwrap_or_default(),
            ),
            (&page_key, page.into_bytes()),
        ] {
            location
                .put_bytes(k, bytes)
                .await
                .map_err(|e| TaskError::retryable(e.to_string()))?;
        }
        let latest = latest::LatestDrift {
            model: a.model.clone(),
            day,
            drifted_share: report.drifted_share,
            dataset_drift: report.dataset_drift,
            at: chrono::Utc::now(),
        };
        if let Err(e) = latest::record(ctx.records(), &latest).await {
            // Monitoring only: the report files are written; say so in the log.
            ctx.log(format!(
                "the latest drift of {} was not kept for metrics: {e}",
                a.model
            ));
        }
        let drifted: Vec<&str> = report
            .features
            .iter()
            .filter(|f| f.drifted)
            .map(|f| f.name.as_str())
            .collect();
        let summary = format!(
            "{} of {} features drifted (share {:.2}, dataset drift at {:.2}){}",
            drifted.len(),
            report.features.len(),
            report.drifted_share,
            a.share,
            if drifted.is_empty() {
                String::new()
            } else {
                format!(": {}", drifted.join(", "))
            }
        );
        ctx.log(format!(
            "{} between {} ({} rows) and {} ({} rows): {} of {} features drifted ({}); report {json_key}, page {page_key} ({:.2}s)",
            if report.dataset_drift { "DATASET DRIFT" } else { "no dataset drift" },
            report.reference.description,
            report.reference.rows,
            report.current.description,
            report.current.rows,
            drifted.len(),
            report.features.len(),
            if drifted.is_empty() { "none".to_string() } else { drifted.join(", ") },
            started.elapsed().as_secs_f64()
        ));
        Ok(TaskOutcome::Success(Some(serde_json::json!({
            "check": "drift",
            "checked": true,
            "fired": report.dataset_drift,
            "summary": summary,
            "dataset_drift": report.dataset_drift,
            "drifted_share": report.drifted_share,
            "drifted": drifted,
            "report": json_key.to_string(),
            "page": page_key.to_string(),
        }))))
    }
}
