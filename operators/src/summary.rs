//! `training_summary`: the closing note of a training run — why it trained, rows, models
//! trained with their metrics, the best, the registered version and whether it went to
//! production and why (both holdout scores) — as one log line, as JSON in XCom (`summary` is
//! the line; `dagctl trigger` prints it under the run), and as a file beside the registry:
//! `summaries/<run id>.json` (the run id made path-safe: `:` and `+` become `_`). With
//! `notify:` the line also goes to a webhook.

use async_trait::async_trait;
use dagctl_engine::{
    ArgsError, Operator, TaskContext, TaskError, TaskOutcome, TaskState, parse_args,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::ml::operator::TrainResult;
use crate::notify::Notification;
use crate::storage::{path_safe, resolve};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    #[serde(default = "gate")]
    gate_task: String,
    #[serde(default = "train")]
    train_task: String,
    #[serde(default = "register")]
    register_task: String,
    #[serde(default = "promote")]
    promote_task: String,
    /// Where the JSON summaries go, under the data location.
    #[serde(default = "summaries")]
    output: String,
    /// Also post the summary line.
    #[serde(default)]
    notify: Option<Notification>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    conn_id: Option<String>,
}

fn gate() -> String {
    "check_new_data".into()
}
fn train() -> String {
    "train_models".into()
}
fn register() -> String {
    "register_best_model".into()
}
fn promote() -> String {
    "promote_if_better".into()
}
fn summaries() -> String {
    "summaries".into()
}

/// The operator.
#[derive(Debug, Clone, Copy, Default)]
pub struct TrainingSummary;

/// The line and the JSON of a training that ran.
fn trained(
    t: &TrainResult,
    registered: Option<&Value>,
    promoted: Option<&Value>,
) -> (String, Value) {
    let mut parts = Vec::new();
    let mut models = 0;
    for target in &t.targets {
        let r = &target.report;
        models += r.candidates.iter().filter(|c| c.error.is_none()).count();
        let best = r.candidates.iter().find(|c| c.candidate == r.best);
        let auc = best
            .and_then(|c| c.metrics.get("roc_auc"))
            .map(|v| format!(", roc_auc {v:.3}"))
            .unwrap_or_default();
        parts.push(format!(
            "{}: {} train / {} test rows, best {} {} {:.3}{auc}",
            r.target,
            r.rows.train,
            r.rows.test,
            r.best.name(),
            r.metric.name(),
            r.best_value
        ));
    }
    let version = registered.and_then(|v| {
        Some(format!(
            "{} v{}",
            v["model"].as_str()?,
            v["version"].as_u64()?
        ))
    });
    let outcome = promoted.map(|p| {
        if p["promoted"].as_bool() == Some(true) {
            "promoted to production".to_string()
        } else {
            format!(
                "kept in {} (champion stays)",
                p["stage"].as_str().unwrap_or("staging")
            )
        }
    });
    let line = format!(
        "trained {models} models on {}; {}{}",
        t.data,
        parts.join("; "),
        match (&version, &outcome) {
            (Some(v), Some(o)) => format!("; {v} {o}"),
            (Some(v), None) => format!("; registered {v}"),
            _ => String::new(),
        }
    );
    let doc = json!({
        "data": t.data,
        "models_trained": models,
        "experiment_run": t.experiment_run,
        "targets": t.targets.iter().map(|x| json!({
            "target": x.report.target,
            "rows": x.report.rows,
            "best": x.report.best,
            "metric": x.report.metric,
            "value": x.report.best_value,
            "metrics": x.report.candidates.iter().find(|c| c.candidate == x.report.best).map(|c| &c.metrics),
            "models": x.report.candidates.iter().map(|c| json!({
                "candidate": c.candidate, "metrics": c.metrics, "error": c.error,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    });
    (line, doc)
}

/// Promoted or not, and why, with both holdout scores.
fn promotion(promoted: Option<&Value>) -> Value {
    let Some(p) = promoted else {
        return Value::Null;
    };
    let d = &p["decision"];
    json!({
        "promoted": p["promoted"],
        "stage": p["stage"],
        "why": d["reason"],
        "metric": d["metric"],
        "challenger": {"version": p["version"], "score": d["challenger"]},
        "champion": {"version": p["champion"], "score": d["champion"]},
        "improvement": d["improvement"],
        "interval": d["interval"],
        "holdout": d["holdout"],
    })
}

#[async_trait]
impl Operator for TrainingSummary {
    fn name(&self) -> &str {
        "training_summary"
    }

    fn summary(&self) -> &str {
        "the training run's summary (why, rows, models, metrics, version, promoted and why) in the log, XCom and summaries/<run>.json"
    }

    fn check_args(&self, args: &serde_json::Value) -> Result<(), ArgsError> {
        let a: Args = parse_args(args)?;
        if let Some(n) = &a.notify {
            n.check().map_err(|e| e.under("notify"))?;
        }
        Ok(())
    }

    async fn execute(&self, ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
        let a: Args = ctx.args()?;
        let trained_result: Option<TrainResult> = ctx
            .xcom_pull(&a.train_task, "return_value")
            .await?
            .and_then(|v| serde_json::from_value(v).ok());
        let registered = ctx.xcom_pull(&a.register_task, "return_value").await?;
        let promoted = ctx.xcom_pull(&a.promote_task, "return_value").await?;
        let reasons: Vec<String> = ctx
            .xcom_pull(&a.gate_task, "return_value")
            .await?
            .and_then(|g| serde_json::from_value(g["reasons"].clone()).ok())
            .unwrap_or_else(|| crate::monitor::reasons::of_training(&ctx.conf));
        // A failure upstream is said first: the run fails too (its leaf rule does not hide
        // it), and this summary is what people read.
        let mut failed = Vec::new();
        for task in [&a.train_task, &a.register_task, &a.promote_task] {
            if let Some(state @ (TaskState::Failed | TaskState::UpstreamFailed)) =
                ctx.task_state(&ctx.dag_id, &ctx.run_id, task).await?
            {
                failed.push(format!("{task} {state}"));
            }
        }
        let (line, mut doc) = if !failed.is_empty() {
            let line = format!(
                "training FAILED ({}); production model unchanged; see `dagctl tasks logs {} {}`",
                failed.join(", "),
                ctx.run_id,
                a.train_task
            );
            (line, json!({"failed": failed}))
        } else if let Some(t) = &trained_result {
            trained(t, registered.as_ref(), promoted.as_ref())
        } else {
            ("no training in this run".to_string(), json!({}))
        };
        let line = format!("{line} (why: {})", reasons.join(", "));
        ctx.log(&line);
        let details = ctx.conf.get("details").cloned().unwrap_or(Value::Null);
        let drift_report = details
            .get("drift")
            .map(|d| json!({"json": d["report"], "html": d["page"]}))
            .unwrap_or(Value::Null);
        let location = resolve(ctx, a.url.as_deref(), a.conn_id.as_deref()).await?;
        let key = location.key(&format!(
            "{}/{}.json",
            a.output.trim_matches('/'),
            path_safe(&ctx.run_id)
        ));
        if let Some(obj) = doc.as_object_mut() {
            for (k, v) in [
                ("summary", json!(line)),
                ("dag_id", json!(ctx.dag_id)),
                ("run_id", json!(ctx.run_id)),
                ("date", json!(ctx.logical_date.date_naive().to_string())),
                ("reasons", json!(reasons)),
                ("trigger_details", details),
                ("drift_report", drift_report),
                ("registered", registered.clone().unwrap_or(Value::Null)),
                (
                    "deployed",
                    json!(
                        promoted
                            .as_ref()
                            .and_then(|p| p["promoted"].as_bool())
                            .unwrap_or(false)
                    ),
                ),
                ("promotion", promotion(promoted.as_ref())),
                ("file", json!(key.to_string())),
            ] {
                obj.insert(k.to_string(), v);
            }
        }
        location
            .put_bytes(&key, serde_json::to_vec_pretty(&doc).unwrap_or_default())
            .await
            .map_err(|e| TaskError::retryable(e.to_string()))?;
        ctx.log(format!("summary written to {key}"));
        if let Some(n) = &a.notify {
            doc["notified"] = n.send(ctx, &line, &serde_json::Map::new()).await?;
        }
        Ok(TaskOutcome::Success(Some(doc)))
    }
}
