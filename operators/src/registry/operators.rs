//! The registry's operators: `register_model` (the best candidate of a `train_models` task
//! becomes a new version) and `promote_model` (the champion/challenger rule).

use async_trait::async_trait;
use dagctl_engine::{ArgsError, Operator, TaskContext, TaskError, TaskOutcome, parse_args};
use serde::Deserialize;

use super::{
    Floor, Holdout, Margin, Preset, PromotionRule, Registration, RegistryError, Stage, promote,
    register, version,
};
use crate::ml::operator::TrainResult;
use crate::storage::{Location, resolve};

impl From<RegistryError> for TaskError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::Store(_) | RegistryError::Files { .. } => {
                TaskError::retryable(e.to_string())
            }
            other => TaskError::fatal(other.to_string()),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterArgs {
    /// The registered model's name.
    model: String,
    /// The `train_models` task whose XCom names the candidates (default `train_models`).
    #[serde(default = "train_task")]
    source_task: String,
    /// Which target's best candidate (default: the first).
    #[serde(default)]
    target: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    conn_id: Option<String>,
}

fn train_task() -> String {
    "train_models".into()
}

async fn fetch(location: &Location, key: &str) -> Result<Vec<u8>, TaskError> {
    let data = location
        .get_bytes(&object_store::path::Path::from(key))
        .await
        .map_err(|e| TaskError::retryable(e.to_string()))?;
    Ok(data.to_vec())
}

/// `register_model`: registers the best candidate of a training task as a new version.
#[derive(Debug, Clone, Copy, Default)]
pub struct RegisterModel;

#[async_trait]
impl Operator for RegisterModel {
    fn name(&self) -> &str {
        "register_model"
    }

    fn summary(&self) -> &str {
        "registers the best candidate of a train_models task as a new immutable model version"
    }

    fn check_args(&self, args: &serde_json::Value) -> Result<(), ArgsError> {
        let a: RegisterArgs = parse_args(args)?;
        if a.model.trim().is_empty() || a.model.contains('/') {
            return Err(ArgsError::at("model", "a name without `/`"));
        }
        Ok(())
    }

    async fn execute(&self, ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
        let a: RegisterArgs = ctx.args()?;
        let value = ctx.xcom_pull(&a.source_task, "return_value").await?.ok_or_else(|| {
            TaskError::fatal(format!(
                "task `{}` of this run returned nothing to register (is it a train_models task upstream of this one?)",
                a.source_task
            ))
        })?;
        let trained: TrainResult = serde_json::from_value(value).map_err(|e| {
            TaskError::fatal(format!(
                "the result of `{}` is not a train_models result: {e}",
                a.source_task
            ))
        })?;
        let target = match &a.target {
            Some(t) => trained.targets.iter().find(|x| &x.report.target == t),
            None => trained.targets.first(),
        }
        .ok_or_else(|| {
            TaskError::fatal(format!(
                "`{}` trained no target {:?}",
                a.source_task, a.target
            ))
        })?;
        let best = target.report.best;
        let artifact = target
            .artifacts
            .iter()
            .find(|x| x.candidate == best.name())
            .ok_or_else(|| {
                TaskError::fatal(format!(
                    "no artifact for the best candidate {}",
                    best.name()
                ))
            })?;
        let report = target
            .report
            .candidates
            .iter()
            .find(|c| c.candidate == best)
            .ok_or_else(|| TaskError::fatal("the best candidate has no report"))?;
        let location = resolve(ctx, a.url.as_deref(), a.conn_id.as_deref()).await?;
        let registration = Registration {
            model: a.model.clone(),
            artifact: fetch(&location, &artifact.key).await?,
            feature_metadata: fetch(&location, &trained.feature_metadata).await?,
            metrics: report.metrics.clone(),
            metric: target.report.metric.clone(),
            params: report.params.clone(),
            experiment_run: trained.experiment_run.clone(),
            source: Some(format!("{}/{}/{}", ctx.dag_id, ctx.run_id, ctx.task_id)),
            location: super::location::ArtifactLocation::of(
                crate::storage::effective_conn(a.url.as_deref(), a.conn_id.as_deref()).as_deref(),
                &location,
            ),
        };
        let (v, new) = register(ctx.records(), &location, registration).await?;
        ctx.log(format!(
            "{} version {} of `{}`: {} ({} {:.4}) on {}; audit hash {}",
            if new {
                "registered"
            } else {
                "already registered as"
            },
            v.version,
            v.model,
            v.candidate,
            v.metric.name(),
            v.metric.value(&v.metrics).unwrap_or(f64::NAN),
            v.data.reference,
            v.audit_hash
        ));
        Ok(TaskOutcome::Success(Some(serde_json::json!({
            "model": v.model,
            "version": v.version,
            "candidate": v.candidate,
            "metric": v.metric.name(),
            "value": v.metric.value(&v.metrics),
            "audit_hash": v.audit_hash,
            "new": new,
        }))))
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct PromoteArgs {
    /// The model.
    model: String,
    /// The version to judge; default: the one `source_task` registered.
    #[serde(default)]
    version: Option<u32>,
    /// The `register_model` task (default `register_best_model`).
    #[serde(default = "register_task")]
    source_task: String,
    /// A ready-made rule (`small_gain`, `five_percent`); the keys below override it.
    #[serde(default)]
    preset: Option<Preset>,
    #[serde(default)]
    metric: Option<crate::ml::Objective>,
    #[serde(default)]
    margin: Option<Margin>,
    #[serde(default)]
    floor: Option<Floor>,
    #[serde(default)]
    confidence: Option<f64>,
    /// The prepared set whose holdout both models are scored on (default: the challenger's
    /// training data, `prepared_data/<date>`).
    #[serde(default)]
    holdout: Option<String>,
    /// What to do when, and only when, the version reaches production.
    #[serde(default)]
    on_promotion: Option<super::hook::OnPromotion>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    conn_id: Option<String>,
}

fn register_task() -> String {
    "register_best_model".into()
}

impl PromoteArgs {
    fn rule(&self) -> PromotionRule {
        let given = PromotionRule {
            metric: self.metric.clone(),
            margin: self.margin.unwrap_or_default(),
            floor: self.floor.clone(),
            confidence: self.confidence,
        };
        match self.preset {
            Some(p) => p.rule(given, self.margin.is_some()),
            None => given,
        }
    }
}

/// `promote_model`: scores the challenger and the production version on the same holdout
/// rows; production for a challenger that beats the champion by the margin (surely, with
/// `confidence`) and clears the floor (or is the first), staging otherwise; the decision is
/// recorded with both scores.
#[derive(Debug, Clone, Copy, Default)]
pub struct PromoteModel;

#[async_trait]
impl Operator for PromoteModel {
    fn name(&self) -> &str {
        "promote_model"
    }

    fn summary(&self) -> &str {
        "promotes a model version to production if it beats the champion on the same holdout by a margin and clears a floor"
    }

    fn check_args(&self, args: &serde_json::Value) -> Result<(), ArgsError> {
        let a: PromoteArgs = parse_args(args)?;
        let m = match a.margin.unwrap_or_default() {
            Margin::Absolute(m) | Margin::Relative(m) => m,
        };
        if !(m >= 0.0 && m.is_finite()) {
            return Err(ArgsError::at("margin", "a margin of 0 or more"));
        }
        if let Some(c) = a.confidence
            && !(0.5..1.0).contains(&c)
        {
            return Err(ArgsError::at(
                "confidence",
                format!("{c} is not a confidence: use a share such as 0.9 (from 0.5, below 1)"),
            ));
        }
        if let Some(m) = &a.metric {
            m.check().map_err(|e| ArgsError::at("metric", e))?;
        }
        if let Some(h) = &a.on_promotion {
            h.check()?;
        }
        Ok(())
    }

    async fn execute(&self, ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
        let a: PromoteArgs = ctx.args()?;
        let version_no = match a.version {
            Some(v) => v,
            None => ctx
                .xcom_pull(&a.source_task, "return_value")
                .await?
                .and_then(|v| v["version"].as_u64())
                .map(|v| v as u32)
                .ok_or_else(|| {
                    TaskError::fatal(format!(
                        "no `version` argument and task `{}` registered no version in this run",
                        a.source_task
                    ))
                })?,
        };
        let location = resolve(ctx, a.url.as_deref(), a.conn_id.as_deref()).await?;
        let challenger = version(ctx.records(), &a.model, version_no).await?;
        let reference = a
            .holdout
            .clone()
            .unwrap_or(challenger.data.reference.clone());
        let rows = crate::prepare::load_holdout(&location, &reference).await?;
        let out_of_time = crate::prepare::load_metadata(&location, &reference)
            .await?
            .holdout
            .method
            == crate::prepare::HoldoutMethod::NewestDay;
        let holdout = Holdout {
            reference,
            rows,
            out_of_time,
        };
        let rule = a.rule();
        let (d, champion) = promote(
            ctx.records(),
            &location,
            &a.model,
            version_no,
            &rule,
            &holdout,
        )
        .await?;
        let stage = if d.promote {
            Stage::Production
        } else {
            Stage::Staging
        };
        ctx.log(format!(
            "version {version_no} of `{}` → {}: {} ({} holdout rows of {})",
            a.model,
            stage.name(),
            d.reason,
            d.holdout.as_ref().map_or(0, |h| h.rows),
            holdout.reference
        ));
        let hook = match (&a.on_promotion, d.promote) {
            (Some(h), true) => {
                let done = h.fire(ctx, &a.model, version_no, champion, &d).await;
                match done {
                    Ok(v) => Some(v),
                    Err(e) => {
                        return Err(TaskError {
                            message: format!(
                                "version {version_no} of `{}` IS in production, but its on_promotion hook failed: {}",
                                a.model, e.message
                            ),
                            ..e
                        });
                    }
                }
            }
            _ => None,
        };
        Ok(TaskOutcome::Success(Some(serde_json::json!({
            "model": a.model,
            "version": version_no,
            "promoted": d.promote,
            "stage": stage.name(),
            "champion": champion,
            "decision": d,
            "on_promotion": hook,
        }))))
    }
}
