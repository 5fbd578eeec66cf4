//! `trigger_retraining`: reads the verdicts of the monitoring checks of this run
//! (`detect_drift`, `check_performance`, any task whose XCom has `fired`), adds the production
//! model's age, and when anything fires creates a run of the training DAG with
//! `conf: {reason: "drift, performance", details: {…}}` — and optionally says so on a webhook.
//!
//! When something fires, everything downstream of it is skipped: in the shipped loop that is
//! the task that hands the day to training as new data, so a day is trained on once, by the
//! run that knows why. When nothing fires, it says what it saw and downstream runs.
//!
//! The age of a model is the number of days from the newest day it was trained on to the
//! logical date: what matters in a backfill is how old the data is, not when training ran.

pub mod reasons;

use async_trait::async_trait;
use dagctl_engine::{
    ArgsError, Operator, TaskContext, TaskError, TaskOutcome, TriggerRequest, parse_args,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::notify::Notification;
use crate::registry;
use crate::storage::resolve;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    /// The training DAG to run when something fires.
    dag_id: String,
    /// The model watched (for its age).
    #[serde(default = "churn_model")]
    model: String,
    /// The check tasks of this run whose verdicts count (their XCom `fired`).
    #[serde(default)]
    checks: Vec<String>,
    /// Fires when production's newest training day is more than this many days before the
    /// logical date.
    #[serde(default)]
    max_age_days: Option<u32>,
    /// More conf for the training run (templated), e.g. `{data: "prepared_data/{{ ds }}"}`:
    /// the day this monitoring looked at, whenever the training runs.
    #[serde(default)]
    conf: serde_json::Map<String, Value>,
    /// The run id of the training run (default `retrain__<logical date>`).
    #[serde(default)]
    run_id: Option<String>,
    /// A message when a retraining is triggered.
    #[serde(default)]
    notify: Option<Notification>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    conn_id: Option<String>,
}

fn churn_model() -> String {
    "churn_model".into()
}

/// One check's verdict: its name, whether it fired, a line and the details.
struct Verdict {
    name: String,
    fired: bool,
    line: String,
    details: Value,
}

async fn verdict_of(ctx: &TaskContext, task: &str) -> Result<Verdict, TaskError> {
    let v = ctx.xcom_pull(task, "return_value").await?.ok_or_else(|| {
        TaskError::fatal(format!(
            "check `{task}` left no result in this run: make it an upstream of this task"
        ))
    })?;
    let Some(fired) = v.get("fired").and_then(Value::as_bool) else {
        return Err(TaskError::fatal(format!(
            "task `{task}` is not a check: its result has no `fired` (detect_drift and check_performance have one)"
        )));
    };
    let name = v
        .get("check")
        .and_then(Value::as_str)
        .unwrap_or(task)
        .to_string();
    let line = v
        .get("summary")
        .and_then(Value::as_str)
        .map_or_else(|| format!("fired: {fired}"), str::to_string);
    Ok(Verdict {
        name,
        fired,
        line,
        details: v,
    })
}

async fn age_verdict(ctx: &TaskContext, a: &Args, max: u32) -> Result<Verdict, TaskError> {
    let location = resolve(ctx, a.url.as_deref(), a.conn_id.as_deref()).await?;
    let Some(loaded) = registry::load_production(ctx.records(), &location, &a.model).await? else {
        return Ok(Verdict {
            name: "model_age".into(),
            fired: false,
            line: format!("`{}` has no production version yet", a.model),
            details: json!({"checked": false}),
        });
    };
    let (_, newest, _) = loaded.metadata.trained_days().ok_or_else(|| {
        TaskError::fatal(format!(
            "{}: its source dates do not parse",
            loaded.metadata.reference
        ))
    })?;
    let age = (ctx.logical_date.date_naive() - newest).num_days();
    let fired = age > i64::from(max);
    Ok(Verdict {
        name: "model_age".into(),
        fired,
        line: format!(
            "v{} trained on data up to {newest}: {age} day(s) old, {} {max}",
            loaded.version.version,
            if fired { "over" } else { "within" }
        ),
        details: json!({"version": loaded.version.version, "trained_until": newest.to_string(),
            "age_days": age, "max_age_days": max}),
    })
}

/// The operator.
#[derive(Debug, Clone, Copy, Default)]
pub struct TriggerRetraining;

#[async_trait]
impl Operator for TriggerRetraining {
    fn name(&self) -> &str {
        "trigger_retraining"
    }

    fn summary(&self) -> &str {
        "triggers the training DAG with conf {reason, details} when a check fired or production is too old"
    }

    fn check_args(&self, args: &serde_json::Value) -> Result<(), ArgsError> {
        let a: Args = parse_args(args)?;
        if a.checks.is_empty() && a.max_age_days.is_none() {
            return Err(ArgsError::at(
                "checks",
                "name the check tasks (e.g. [check_drift, check_performance]) or set max_age_days",
            ));
        }
        if a.max_age_days == Some(0) {
            return Err(ArgsError::at("max_age_days", "at least 1 day"));
        }
        if let Some(n) = &a.notify {
            n.check().map_err(|e| e.under("notify"))?;
        }
        Ok(())
    }

    async fn execute(&self, ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
        let a: Args = ctx.args()?;
        let mut verdicts = Vec::new();
        for task in &a.checks {
            verdicts.push(verdict_of(ctx, task).await?);
        }
        if let Some(max) = a.max_age_days {
            verdicts.push(age_verdict(ctx, &a, max).await?);
        }
        for v in &verdicts {
            ctx.log(format!(
                "{} {}: {}",
                if v.fired { "FIRED" } else { "ok   " },
                v.name,
                v.line
            ));
        }
        let fired: Vec<&Verdict> = verdicts.iter().filter(|v| v.fired).collect();
        if fired.is_empty() {
            ctx.log("nothing fired: no retraining asked for");
            ctx.xcom_push(
                "return_value",
                json!({"fired": false, "checks": verdicts.iter().map(|v| json!({
                    "check": v.name, "summary": v.line})).collect::<Vec<_>>()}),
            );
            return Ok(TaskOutcome::Success(None));
        }
        let reason = fired
            .iter()
            .map(|v| v.name.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let details: Map<String, Value> = fired
            .iter()
            .map(|v| (v.name.clone(), v.details.clone()))
            .collect();
        let ds = ctx.logical_date.date_naive();
        let run_id = a.run_id.clone().unwrap_or_else(|| format!("retrain__{ds}"));
        let mut conf = a.conf.clone();
        conf.insert("reason".into(), json!(reason));
        conf.insert("details".into(), Value::Object(details));
        conf.insert(
            "monitored_by".into(),
            json!({"dag_id": ctx.dag_id, "run_id": ctx.run_id}),
        );
        let conf = Value::Object(conf);
        let key = ctx
            .trigger_dag(&TriggerRequest {
                dag_id: a.dag_id.clone(),
                conf: conf.clone(),
                logical_date: None,
                run_id: Some(run_id),
                // A monitoring run cleared to run again asks again.
                reset: true,
            })
            .await?;
        let headline = format!(
            "Retraining `{}` ({reason}) on {ds}: {}. Run `{}` of `{}`.",
            a.model,
            fired
                .iter()
                .map(|v| format!("{}: {}", v.name, v.line))
                .collect::<Vec<_>>()
                .join("; "),
            key.run_id,
            key.dag_id
        );
        ctx.log(&headline);
        let notified = match &a.notify {
            Some(n) => {
                let facts: Map<String, Value> = [
                    ("reason".to_string(), json!(reason)),
                    ("training run".to_string(), json!(key.run_id)),
                ]
                .into_iter()
                .collect();
                Some(n.send(ctx, &headline, &facts).await?)
            }
            None => None,
        };
        ctx.xcom_push(
            "return_value",
            json!({"fired": true, "reason": reason, "conf": conf, "dag_id": key.dag_id,
                "run_id": key.run_id, "summary": headline, "notified": notified}),
        );
        Ok(TaskOutcome::ShortCircuit {
            skip_all_downstream: true,
        })
    }
}
