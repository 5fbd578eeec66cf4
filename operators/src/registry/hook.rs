//! `promote_model`'s `on_promotion:` hook — what runs when, and only when, a version reaches
//! production: a run of a deploy DAG (`trigger_dag`) with the version and its scores in its
//! conf, and/or a message (`notify`). The "trigger CD when a model is promoted" step.
//!
//! ```yaml
//! on_promotion:
//!   trigger_dag: {dag_id: deploy_churn_model, conf: {target: staging-cluster}}
//!   notify: {conn_id: alerts, required: false}
//! ```
//! A retried promotion finds the deploy run its first try created and does not create it
//! again; a message may be sent twice in that case (at least once).

use dagctl_engine::{ArgsError, TaskContext, TaskError, TriggerRequest};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::rules::Decision;
use crate::notify::Notification;

/// The hook's settings.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OnPromotion {
    /// A run of this DAG, its conf extended with `model`, `version`, `previous`, `metric`,
    /// `score`, `previous_score` and `holdout`.
    #[serde(default)]
    pub trigger_dag: Option<HookTrigger>,
    /// A message saying which version is in production now.
    #[serde(default)]
    pub notify: Option<Notification>,
}

/// The deploy DAG to run.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HookTrigger {
    /// The DAG.
    pub dag_id: String,
    /// Settings of its own, passed on.
    #[serde(default)]
    pub conf: Map<String, Value>,
    /// Its run id (default `promoted__<model>_v<version>`).
    #[serde(default)]
    pub run_id: Option<String>,
}

impl OnPromotion {
    /// Checks the settings.
    ///
    /// # Errors
    /// What is wrong, under `on_promotion`.
    pub fn check(&self) -> Result<(), ArgsError> {
        if self.trigger_dag.is_none() && self.notify.is_none() {
            return Err(ArgsError::at(
                "on_promotion",
                "give `trigger_dag: {dag_id: …}` and/or `notify: {conn_id: …}`",
            ));
        }
        if let Some(t) = &self.trigger_dag
            && !dagctl_engine::dag::is_valid_id(&t.dag_id)
        {
            return Err(
                ArgsError::at("trigger_dag", format!("`{}` is not a DAG id", t.dag_id))
                    .under("on_promotion"),
            );
        }
        if let Some(n) = &self.notify {
            n.check()
                .map_err(|e| e.under("notify").under("on_promotion"))?;
        }
        Ok(())
    }

    /// Fires the hook for `version` of `model`, now in production after decision `d` (which
    /// replaced `previous`). Returns what it did, for XCom.
    ///
    /// # Errors
    /// The trigger's or the message's error: the version stays in production, the task
    /// fails so that nobody believes the deploy happened.
    pub async fn fire(
        &self,
        ctx: &TaskContext,
        model: &str,
        version: u32,
        previous: Option<u32>,
        d: &Decision,
    ) -> Result<Value, TaskError> {
        let facts = json!({
            "model": model,
            "version": version,
            "previous": previous,
            "metric": d.metric.name(),
            "score": d.challenger,
            "previous_score": d.champion,
            "holdout": d.holdout,
            "promoted_by": {"dag_id": ctx.dag_id, "run_id": ctx.run_id},
        });
        let mut done = json!({});
        if let Some(t) = &self.trigger_dag {
            let mut conf = t.conf.clone();
            if let Value::Object(f) = &facts {
                conf.extend(f.clone());
            }
            let key = ctx
                .trigger_dag(&TriggerRequest {
                    dag_id: t.dag_id.clone(),
                    conf: Value::Object(conf),
                    logical_date: None,
                    run_id: Some(
                        t.run_id
                            .clone()
                            .unwrap_or_else(|| format!("promoted__{model}_v{version}")),
                    ),
                    reset: true,
                })
                .await?;
            ctx.log(format!(
                "on_promotion: triggered run {} of {}",
                key.run_id, key.dag_id
            ));
            done["triggered"] = json!({"dag_id": key.dag_id, "run_id": key.run_id});
        }
        if let Some(n) = &self.notify {
            let was = match (previous, d.champion) {
                (Some(p), Some(s)) => format!(" (v{p}: {s:.4})"),
                _ => " (the first)".to_string(),
            };
            let on = d
                .holdout
                .as_ref()
                .map(|h| format!(" on {} holdout rows of {}", h.rows, h.reference))
                .unwrap_or_default();
            let headline = format!(
                "`{model}` v{version} is in production: {} {:.4}{was}{on}",
                d.metric.name(),
                d.challenger
            );
            let mut shown = Map::new();
            shown.insert("why".into(), json!(d.reason));
            done["notified"] = n.send(ctx, &headline, &shown).await?;
        }
        Ok(done)
    }
}
