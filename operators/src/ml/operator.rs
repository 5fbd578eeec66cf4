//! `train_models`: trains the candidates on a prepared set, evaluates them on its test split,
//! writes every model as an artifact and returns (XCom) the metrics and the best candidate.
//!
//! The data is `data:` (a reference such as `prepared_data/2026-01-05`), else the Variable
//! `latest_prepared_data`, else `prepared_data/<ds>`. Artifacts land under
//! `artifacts/<dag_id>/<run_id>/` of the data location: `<target>/<candidate>.model` and a copy
//! of the set's `feature_metadata.json`, so a model and the preprocessing it needs stay together.

use async_trait::async_trait;
use dagctl_engine::{ArgsError, Operator, TaskContext, TaskError, TaskOutcome, parse_args};
use serde::{Deserialize, Serialize};

use super::artifact;
use super::train::{TargetReport, TrainSpec, train};
use crate::hash::sha256_hex;
use crate::prepare::load_prepared;
use crate::storage::{Location, resolve};

/// The arguments besides the [`TrainSpec`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Where {
    #[serde(default)]
    data: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    conn_id: Option<String>,
    #[serde(default)]
    artifacts: Option<String>,
    #[serde(default)]
    experiment: Option<String>,
}

const WHERE_KEYS: [&str; 5] = ["data", "url", "conn_id", "artifacts", "experiment"];

/// The [`TrainSpec`] part of `train_models` arguments (without `data`, `url`, `conn_id`,
/// `artifacts` and `experiment`).
///
/// # Errors
/// The first argument that does not fit, located.
pub fn spec_of(args: &serde_json::Value) -> Result<TrainSpec, ArgsError> {
    split(args).map(|(_, spec)| spec)
}

fn split(args: &serde_json::Value) -> Result<(Where, TrainSpec), ArgsError> {
    let mut spec = args.as_object().cloned().unwrap_or_default();
    let mut place = serde_json::Map::new();
    for k in WHERE_KEYS {
        if let Some(v) = spec.remove(k) {
            place.insert(k.to_string(), v);
        }
    }
    let place: Where = parse_args(&serde_json::Value::Object(place))?;
    // A removed candidate gets its own explanation rather than serde's list of variants.
    for (name, why) in super::Kind::REMOVED {
        let listed = spec
            .get("candidates")
            .and_then(|c| c.as_array())
            .is_some_and(|c| c.iter().any(|v| v == name));
        if listed {
            return Err(ArgsError::at(
                "candidates",
                format!("`{name}` was removed: {why}"),
            ));
        }
        if spec.contains_key(name) {
            return Err(ArgsError::at(name, format!("`{name}` was removed: {why}")));
        }
    }
    let spec: TrainSpec = parse_args(&serde_json::Value::Object(spec))?;
    Ok((place, spec))
}

/// A written model file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactRef {
    /// The candidate.
    pub candidate: String,
    /// Its key in the store.
    pub key: String,
    /// Its SHA-256.
    pub sha256: String,
    /// Its size.
    pub bytes: usize,
}

/// What `train_models` returns, per target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetResult {
    /// The metrics and the choice.
    #[serde(flatten)]
    pub report: TargetReport,
    /// The model files, by candidate.
    pub artifacts: Vec<ArtifactRef>,
}

/// What `train_models` returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainResult {
    /// The prepared set's reference.
    pub data: String,
    /// Its data hash.
    pub data_hash: String,
    /// The copy of its feature metadata beside the models.
    pub feature_metadata: String,
    /// Wall seconds of the training (search, fits, evaluation).
    pub seconds: f64,
    /// One entry per target.
    pub targets: Vec<TargetResult>,
    /// The experiment run recording it (set by the operator).
    #[serde(default)]
    pub experiment_run: Option<String>,
}

/// Where a run's artifacts go: `artifacts/<dag>/<run>` with the run id made path-safe.
pub fn artifacts_prefix(dag_id: &str, run_id: &str) -> String {
    format!("artifacts/{dag_id}/{}", crate::storage::path_safe(run_id))
}

/// Trains on `reference` and writes the artifacts under `prefix` (the operator without a
/// context; the benches and tests call it).
///
/// # Errors
/// A fatal [`TaskError`] for bad data or arguments, a retryable one for storage trouble.
pub async fn train_and_store(
    location: &Location,
    reference: &str,
    prefix: &str,
    spec: &TrainSpec,
) -> Result<TrainResult, TaskError> {
    let prepared = load_prepared(location, reference).await?;
    let features = prepared.metadata.preprocessor.feature_columns.clone();
    let started = std::time::Instant::now();
    let s = spec.clone();
    let (train_batch, test_batch) = (prepared.train.clone(), prepared.test.clone());
    let trained =
        tokio::task::spawn_blocking(move || train(&train_batch, &test_batch, &features, &s))
            .await
            .map_err(|e| TaskError::fatal(format!("training stopped: {e}")))?
            .map_err(|e| TaskError::fatal(e.to_string()))?;
    let seconds = started.elapsed().as_secs_f64();
    let put = |key: object_store::path::Path, data: Vec<u8>| async move {
        location
            .put_bytes(&key, data)
            .await
            .map_err(|e| TaskError::retryable(e.to_string()))
    };
    let meta_key = location.key(&format!("{prefix}/feature_metadata.json"));
    let meta = serde_json::to_vec_pretty(&prepared.metadata).unwrap_or_default();
    put(meta_key.clone(), meta).await?;
    let mut targets = Vec::new();
    for t in trained {
        let mut artifacts = Vec::new();
        for m in &t.models {
            let bytes = artifact::to_bytes(m).map_err(|e| TaskError::fatal(e.to_string()))?;
            let key = location.key(&format!(
                "{prefix}/{}/{}.model",
                t.report.target,
                m.info.kind.name()
            ));
            artifacts.push(ArtifactRef {
                candidate: m.info.kind.name().to_string(),
                key: key.to_string(),
                sha256: sha256_hex(&bytes),
                bytes: bytes.len(),
            });
            put(key, bytes).await?;
        }
        targets.push(TargetResult {
            report: t.report,
            artifacts,
        });
    }
    Ok(TrainResult {
        data: reference.to_string(),
        data_hash: prepared.metadata.data_hash.clone(),
        feature_metadata: meta_key.to_string(),
        seconds,
        targets,
        experiment_run: None,
    })
}

/// The operator.
#[derive(Debug, Clone, Copy, Default)]
pub struct TrainModels;

#[async_trait]
impl Operator for TrainModels {
    fn name(&self) -> &str {
        "train_models"
    }

    fn summary(&self) -> &str {
        "trains smartcore candidates (searched, cross-validated) on prepared data; artifacts + metrics"
    }

    fn check_args(&self, args: &serde_json::Value) -> Result<(), ArgsError> {
        let (_, spec) = split(args)?;
        spec.check().map_err(|(arg, msg)| ArgsError::at(&arg, msg))
    }

    async fn execute(&self, ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
        let (place, spec) = split(&ctx.args).map_err(|e| TaskError::fatal(e.to_string()))?;
        let reference = match place.data {
            Some(d) if !d.trim().is_empty() => d,
            _ => match ctx.variable("latest_prepared_data").await? {
                Some(v) => v,
                None => format!("prepared_data/{}", ctx.logical_date.date_naive()),
            },
        };
        let location = resolve(ctx, place.url.as_deref(), place.conn_id.as_deref()).await?;
        let prefix = place
            .artifacts
            .unwrap_or_else(|| artifacts_prefix(&ctx.dag_id, &ctx.run_id));
        ctx.log(format!(
            "training on {reference} with {} thread(s)",
            spec.threads()
        ));
        let started_at = ctx.now();
        let mut result = train_and_store(&location, &reference, &prefix, &spec).await?;
        let run = crate::tracking::ExperimentRun {
            id: crate::tracking::run_key(&ctx.dag_id, &ctx.run_id, &ctx.task_id),
            experiment: place
                .experiment
                .clone()
                .unwrap_or_else(|| ctx.dag_id.clone()),
            dag_id: ctx.dag_id.clone(),
            run_id: ctx.run_id.clone(),
            task_id: ctx.task_id.clone(),
            started_at,
            ended_at: ctx.now(),
            duration_seconds: result.seconds,
            reasons: crate::monitor::reasons::of_training(&ctx.conf),
            result: result.clone(),
        };
        crate::tracking::record(ctx.records(), &run)
            .await
            .map_err(|e| TaskError::retryable(e.to_string()))?;
        result.experiment_run = Some(run.id.clone());
        ctx.log(format!(
            "experiment run {} of `{}` (why: {})",
            run.id,
            run.experiment,
            run.reasons.join(", ")
        ));
        for t in &result.targets {
            ctx.log(format!(
                "target {} ({} train / {} test rows): best {} with {} {:.4}",
                t.report.target,
                t.report.rows.train,
                t.report.rows.test,
                t.report.best.name(),
                t.report.metric.name(),
                t.report.best_value
            ));
            for c in &t.report.candidates {
                ctx.log(format!(
                    "  {:<26} {} ({:.2}s){}",
                    c.candidate.name(),
                    super::metrics::format(&c.metrics),
                    c.fit_seconds,
                    c.error
                        .as_ref()
                        .map(|e| format!(" FAILED: {e}"))
                        .unwrap_or_default()
                ));
            }
        }
        ctx.log(format!("trained in {:.2}s", result.seconds));
        let value = serde_json::to_value(&result).unwrap_or_default();
        Ok(TaskOutcome::Success(Some(value)))
    }
}
