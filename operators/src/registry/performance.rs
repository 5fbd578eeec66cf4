//! `check_performance`: the production model scored on fresh labelled rows it was not trained
//! on, through its stored preprocessing; below a threshold it fires. Every check is recorded
//! in the model's history of scores (`dagctl models show` lists it), so a user sees the decay.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{Duration, Utc};
use dagctl_engine::{ArgsError, Operator, TaskContext, TaskError, TaskOutcome, parse_args};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};

use super::holdout::Scored;
use super::{RegistryError, load_production, update};
use crate::dataset::Dataset;
use crate::ml::Metric;
use crate::storage::resolve;

/// One check of a version on fresh rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PerformanceCheck {
    /// When it ran.
    pub at: chrono::DateTime<Utc>,
    /// The version checked.
    pub version: u32,
    /// The first day scored.
    pub from: String,
    /// The last day scored.
    pub to: String,
    /// Rows with a label.
    pub rows: usize,
    /// Every metric on them.
    pub metrics: BTreeMap<String, f64>,
    /// The thresholds that were not reached, in words (empty: none).
    pub below: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    #[serde(default = "churn_model")]
    model: String,
    #[serde(default = "raw_data")]
    dataset: String,
    /// Days scored, ending on the logical date.
    #[serde(default = "one", deserialize_with = "crate::templated::number")]
    days: u32,
    /// The least value of each metric (default `{accuracy: 0.92}`, as the systems our users
    /// come from); an error metric (`rmse`, `mae`) is a ceiling.
    #[serde(default = "seeds")]
    thresholds: BTreeMap<Metric, f64>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    conn_id: Option<String>,
}

fn churn_model() -> String {
    "churn_model".into()
}
fn raw_data() -> String {
    "raw_data".into()
}
fn one() -> u32 {
    1
}
fn seeds() -> BTreeMap<Metric, f64> {
    BTreeMap::from([(Metric::Accuracy, 0.92)])
}

/// The operator.
#[derive(Debug, Clone, Copy, Default)]
pub struct CheckPerformance;

#[async_trait]
impl Operator for CheckPerformance {
    fn name(&self) -> &str {
        "check_performance"
    }

    fn summary(&self) -> &str {
        "scores the production model on fresh labelled rows it did not train on; fires below a threshold; keeps the score history"
    }

    fn check_args(&self, args: &serde_json::Value) -> Result<(), ArgsError> {
        let args = crate::templated::untemplated(args, &["days"], serde_json::json!(1));
        let a: Args = parse_args(&args)?;
        if a.days == 0 || a.days > 3660 {
            return Err(ArgsError::at("days", "need 1 to 3660 days"));
        }
        if a.thresholds.is_empty() {
            return Err(ArgsError::at(
                "thresholds",
                "name at least one metric and its threshold",
            ));
        }
        Ok(())
    }

    async fn execute(&self, ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
        let a: Args = ctx.args()?;
        let location = resolve(ctx, a.url.as_deref(), a.conn_id.as_deref()).await?;
        let Some(loaded) = load_production(ctx.records(), &location, &a.model).await? else {
            let line = format!(
                "`{}` has no production version yet: nothing to check",
                a.model
            );
            ctx.log(&line);
            return Ok(TaskOutcome::Success(Some(serde_json::json!({
                "check": "performance", "fired": false, "checked": false, "summary": line,
            }))));
        };
        let to = ctx.logical_date.date_naive();
        let from = to - Duration::days(i64::from(a.days) - 1);
        if let Some((tf, tt, held)) = loaded.metadata.trained_days() {
            let overlap: Vec<String> = (0..=(to - from).num_days())
                .map(|i| from + Duration::days(i))
                .filter(|d| *d >= tf && *d <= tt && !held.contains(&d.to_string()))
                .map(|d| d.to_string())
                .collect();
            if !overlap.is_empty() {
                return Err(TaskError::fatal(format!(
                    "version {} of `{}` was trained on {} ({}): score days after its training window ({tf}..{tt})",
                    loaded.version.version,
                    a.model,
                    overlap.join(", "),
                    loaded.metadata.reference
                )));
            }
        }
        let batches: Vec<arrow::array::RecordBatch> = Dataset::new(location.clone(), &a.dataset)
            .read(from, to)
            .try_collect()
            .await
            .map_err(|e| TaskError::retryable(e.to_string()))?;
        if batches.iter().all(|b| b.num_rows() == 0) {
            return Err(TaskError::fatal(format!(
                "no rows in `{}` from {from} to {to} to score",
                a.dataset
            )));
        }
        let raw = arrow::compute::concat_batches(&batches[0].schema(), &batches)
            .map_err(|e| TaskError::fatal(e.to_string()))?;
        let scored = Scored::new(&loaded, &raw)?;
        let metrics = scored.metrics();
        let mut below = Vec::new();
        for (m, t) in &a.thresholds {
            let Some(v) = metrics.get(m.name()) else {
                return Err(TaskError::fatal(format!(
                    "`{}` is not a metric of this model's task (it has {})",
                    m.name(),
                    metrics.keys().cloned().collect::<Vec<_>>().join(", ")
                )));
            };
            let ok = if m.higher_is_better() { v >= t } else { v <= t };
            if !ok {
                below.push(format!(
                    "{} {v:.4} {} {t}",
                    m.name(),
                    if m.higher_is_better() {
                        "below"
                    } else {
                        "above"
                    }
                ));
            }
        }
        let check = PerformanceCheck {
            at: Utc::now(),
            version: loaded.version.version,
            from: from.to_string(),
            to: to.to_string(),
            rows: scored.rows(),
            metrics: metrics.clone(),
            below: below.clone(),
        };
        let recorded = check.clone();
        update(ctx.records(), &a.model, move |e| {
            e.performance.push(recorded.clone());
            Ok::<(), RegistryError>(())
        })
        .await?;
        ctx.log(format!(
            "{} v{} on {} {from}..{to} ({} rows): {}{}",
            a.model,
            check.version,
            a.dataset,
            check.rows,
            crate::ml::metrics::format(&metrics),
            if below.is_empty() {
                "; every threshold reached".to_string()
            } else {
                format!("; FIRES: {}", below.join(", "))
            }
        ));
        let summary = format!(
            "v{} on {from}..{to} ({} rows): {}",
            check.version,
            check.rows,
            if below.is_empty() {
                a.thresholds
                    .keys()
                    .filter_map(|m| {
                        metrics
                            .get(m.name())
                            .map(|v| format!("{} {v:.4}", m.name()))
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
                    + " (thresholds reached)"
            } else {
                below.join(", ")
            }
        );
        Ok(TaskOutcome::Success(Some(serde_json::json!({
            "check": "performance",
            "summary": summary,
            "checked": true,
            "fired": !below.is_empty(),
            "below": below,
            "version": check.version,
            "rows": check.rows,
            "metrics": metrics,
        }))))
    }
}
