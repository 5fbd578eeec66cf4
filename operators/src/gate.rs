//! `new_data_gate`: lets training run only when there is data it has not trained on.
//!
//! It compares two Variables — by default `latest_prepared_data` (set by preparation) and
//! `last_trained_data` (set after a training) — and short-circuits everything downstream when
//! they are equal: "no new data, nothing to train". The downstream tasks end `skipped`, not
//! failed. Deleting `last_trained_data` (`dagctl variables delete last_trained_data`) or
//! triggering with `--conf '{"force": true}'` forces a training; so does a run whose conf
//! gives a `reason` (`{"reason": "drift", "details": {…}}`, as `trigger_retraining` sends):
//! the reasons are in this task's XCom (`reasons`: `new data` otherwise).

use async_trait::async_trait;
use dagctl_engine::{ArgsError, Operator, TaskContext, TaskError, TaskOutcome, parse_args};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    /// The Variable naming the newest data (default `latest_prepared_data`).
    #[serde(default = "latest")]
    latest: String,
    /// The Variable naming the data last trained on (default `last_trained_data`).
    #[serde(default = "last")]
    last: String,
    /// Run anyway (templated; `dag_run.conf.force` also forces).
    #[serde(default)]
    force: serde_json::Value,
    /// The data to train on (templated), instead of the `latest` Variable when it renders
    /// non-empty: a dataset-triggered run names the update that started it, so that each
    /// update is trained on even when several arrive together. A `data` in the run's conf
    /// comes before both.
    #[serde(default)]
    data: Option<String>,
}

fn latest() -> String {
    "latest_prepared_data".into()
}
fn last() -> String {
    "last_trained_data".into()
}

/// The operator.
#[derive(Debug, Clone, Copy, Default)]
pub struct NewDataGate;

#[async_trait]
impl Operator for NewDataGate {
    fn name(&self) -> &str {
        "new_data_gate"
    }

    fn summary(&self) -> &str {
        "skips everything downstream unless the latest data differs from the data last trained on"
    }

    fn check_args(&self, args: &serde_json::Value) -> Result<(), ArgsError> {
        parse_args::<Args>(args).map(drop)
    }

    async fn execute(&self, ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
        let a: Args = ctx.args()?;
        let forced = dagctl_engine::builtin::truthy(&a.force)
            || ctx
                .conf
                .get("force")
                .is_some_and(dagctl_engine::builtin::truthy);
        // The run's own `data` (a monitoring trigger names the day it looked at) comes first.
        let given = ctx
            .conf
            .get("data")
            .and_then(serde_json::Value::as_str)
            .or(a.data.as_deref())
            .map(str::trim)
            .filter(|d| !d.is_empty());
        let latest = match given {
            Some(d) => Some(d.to_string()),
            None => ctx.variable(&a.latest).await?,
        };
        let Some(latest) = latest else {
            ctx.log(format!(
                "no data to train on: Variable `{}` is not set (run the preparation first); skipping downstream tasks",
                a.latest
            ));
            return Ok(TaskOutcome::ShortCircuit {
                skip_all_downstream: true,
            });
        };
        let last = ctx.variable(&a.last).await?;
        let asked = crate::monitor::reasons::from_conf(&ctx.conf);
        let reasons = if !asked.is_empty() {
            ctx.log(format!(
                "retraining asked for ({}): training on {latest}",
                asked.join(", ")
            ));
            asked
        } else if forced {
            ctx.log(format!("forced: training on {latest}"));
            vec!["forced".to_string()]
        } else if last.as_deref() == Some(latest.as_str()) {
            let line = format!("no new data, nothing to train ({latest} was trained on already)");
            ctx.log(format!(
                "{line}: {} = {} (force with --conf '{{\"force\": true}}')",
                a.latest, a.last
            ));
            ctx.xcom_push(
                "return_value",
                serde_json::json!({"summary": line, "data": latest}),
            );
            return Ok(TaskOutcome::ShortCircuit {
                skip_all_downstream: true,
            });
        } else {
            ctx.log(format!(
                "new data: {latest} (last trained on {})",
                last.as_deref().unwrap_or("nothing yet")
            ));
            vec!["new data".to_string()]
        };
        Ok(TaskOutcome::Success(Some(serde_json::json!({
            "data": latest, "last_trained": last, "forced": forced, "reasons": reasons,
        }))))
    }
}
