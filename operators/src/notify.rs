//! `training_summary`: the closing note of a training run — rows, models trained, the best
//! metrics, the registered version and whether it went to production — as one log line, and
//! as JSON in XCom (`summary` is the line; `dagctl trigger` prints it under the run).
//! The Slack-compatible webhook joins it with the retraining triggers.

use async_trait::async_trait;
use dagctl_engine::{
    ArgsError, Operator, TaskContext, TaskError, TaskOutcome, TaskState, parse_args,
};
use serde::Deserialize;

use crate::ml::operator::TrainResult;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    #[serde(default = "train")]
    train_task: String,
    #[serde(default = "register")]
    register_task: String,
    #[serde(default = "promote")]
    promote_task: String,
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

/// The operator.
#[derive(Debug, Clone, Copy, Default)]
pub struct TrainingSummary;

#[async_trait]
impl Operator for TrainingSummary {
    fn name(&self) -> &str {
        "training_summary"
    }

    fn summary(&self) -> &str {
        "logs and returns a training summary: rows, models, metrics, version, promoted or not"
    }

    fn check_args(&self, args: &serde_json::Value) -> Result<(), ArgsError> {
        parse_args::<Args>(args).map(drop)
    }

    async fn execute(&self, ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
        let a: Args = ctx.args()?;
        let trained: Option<TrainResult> = ctx
            .xcom_pull(&a.train_task, "return_value")
            .await?
            .and_then(|v| serde_json::from_value(v).ok());
        let registered = ctx.xcom_pull(&a.register_task, "return_value").await?;
        let promoted = ctx.xcom_pull(&a.promote_task, "return_value").await?;
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
        if !failed.is_empty() {
            let line = format!(
                "training FAILED ({}); production model unchanged; see `dagctl tasks logs {} {}`",
                failed.join(", "),
                ctx.run_id,
                a.train_task
            );
            ctx.log(&line);
            return Ok(TaskOutcome::Success(Some(serde_json::json!({
                "summary": line, "run_id": ctx.run_id, "failed": failed,
            }))));
        }
        let Some(t) = trained else {
            let line = "no training in this run".to_string();
            ctx.log(&line);
            return Ok(TaskOutcome::Success(Some(
                serde_json::json!({"summary": line, "run_id": ctx.run_id}),
            )));
        };
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
        let version = registered.as_ref().and_then(|v| {
            Some(format!(
                "{} v{}",
                v["model"].as_str()?,
                v["version"].as_u64()?
            ))
        });
        let outcome = promoted.as_ref().map(|p| {
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
        ctx.log(&line);
        Ok(TaskOutcome::Success(Some(serde_json::json!({
            "summary": line,
            "run_id": ctx.run_id,
            "data": t.data,
            "models_trained": models,
            "targets": t.targets.iter().map(|x| serde_json::json!({
                "target": x.report.target,
                "rows": x.report.rows,
                "best": x.report.best,
                "metric": x.report.metric,
                "value": x.report.best_value,
                "metrics": x.report.candidates.iter().find(|c| c.candidate == x.report.best).map(|c| &c.metrics),
            })).collect::<Vec<_>>(),
            "registered": registered,
            "deployed": promoted.as_ref().and_then(|p| p["promoted"].as_bool()).unwrap_or(false),
            "promotion": promoted,
        }))))
    }
}
