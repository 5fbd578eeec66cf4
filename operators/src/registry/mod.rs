//! The model registry: named models, their immutable versions, stages and promotions, kept in
//! the state store; model files kept in the object store.
//!
//! - A **version** (collection `model_versions`, key `<model>/<version>`) is written once and
//!   never changed: candidate, metrics, hyperparameters, experiment run, data reference, the
//!   artifact and its feature metadata (keys and SHA-256), and an **audit hash** — SHA-256 over
//!   the model file's hash, the metadata's hash, the data reference and hash, and the metrics — that
//!   [`verify`] recomputes from the stored files.
//! - The **model** (collection `models`, key `<model>`) holds what changes: each version's
//!   stage (`none`, `staging`, `production`, `archived`; at most one production) and the
//!   history of every registration and stage change, with the numbers of each decision. It is
//!   updated by compare-and-swap, so two writers never both promote.
//! - Files are copied to `registry/<model>/<sha256>.model` and `<sha256>.json` under the data
//!   location, named by content: registering never overwrites a file, and cleaning a DAG run's
//!   `artifacts/` leaves the registry whole.

pub mod aliases;
pub mod holdout;
pub mod hook;
mod load;
pub mod location;
pub mod operators;
pub mod performance;
mod promote;
mod register;
pub mod rules;
mod score;
mod stages;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use dagctl_engine::{Expect, RecordStore, RecordWrite, StoreError};
use serde::{Deserialize, Serialize};

pub use aliases::{delete_alias, resolve_alias, set_alias};
pub use load::{Loaded, Verification, load, load_production, verify};
pub use promote::{Holdout, promote};
pub use register::{Registration, pin_sources, register};
pub use rules::{Decision, Floor, HoldoutRef, Margin, Preset, PromotionRule, decide};
pub use stages::{rollback, set_stage};

use crate::hash::{sha256_hex, sha256_parts};
use crate::ml::metrics::Metrics;
use crate::ml::{Objective, Task};
use crate::storage::Location;

/// The collection of models.
pub const MODELS: &str = "models";
/// The collection of model versions.
pub const VERSIONS: &str = "model_versions";

/// Errors of the registry, naming the model, version or file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// No such model.
    #[error("no model `{0}` in the registry (`dagctl models list` shows them)")]
    NoModel(String),
    /// No such version.
    #[error("model `{model}` has no version {version} (it has 1 to {latest})")]
    NoVersion {
        /// The model.
        model: String,
        /// The version asked for.
        version: u32,
        /// Its latest version.
        latest: u32,
    },
    /// No production version.
    #[error("model `{0}` has no production version: promote one (`dagctl models promote`)")]
    NoProduction(String),
    /// A stage change the rules forbid.
    #[error("{0}")]
    Stage(String),
    /// The state store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The object store failed.
    #[error("{key}: {message}")]
    Files {
        /// The object's key.
        key: String,
        /// What happened.
        message: String,
    },
    /// A model file is unusable.
    #[error(transparent)]
    Ml(#[from] crate::ml::MlError),
    /// A feature metadata file is unusable.
    #[error(transparent)]
    Prepare(#[from] crate::prepare::PrepareError),
}

/// A version's place in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Registered, not yet judged.
    None,
    /// Kept, not serving (a challenger that did not beat the champion).
    Staging,
    /// Serving; at most one version per model.
    Production,
    /// Retired (a replaced champion).
    Archived,
}

impl Stage {
    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Stage::None => "none",
            Stage::Staging => "staging",
            Stage::Production => "production",
            Stage::Archived => "archived",
        }
    }

    /// The stage called `name`.
    pub fn parse(name: &str) -> Option<Stage> {
        [
            Stage::None,
            Stage::Staging,
            Stage::Production,
            Stage::Archived,
        ]
        .into_iter()
        .find(|s| s.name() == name)
    }
}

/// A stored file: key, hash, size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredFile {
    /// Its key under the data location.
    pub key: String,
    /// Its SHA-256.
    pub sha256: String,
    /// Its size in bytes.
    pub bytes: usize,
}

/// The data a version was trained on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataRef {
    /// The prepared set (`prepared_data/<date>`).
    pub reference: String,
    /// Its data hash (both files' SHA-256).
    pub data_hash: String,
}

/// An immutable model version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelVersion {
    /// The model.
    pub model: String,
    /// Its number, from 1.
    pub version: u32,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// The candidate kind.
    pub candidate: String,
    /// The target column.
    pub target: String,
    /// Classification or regression.
    pub task: Task,
    /// The metric (or composite) it was chosen by.
    pub metric: Objective,
    /// Its test-split metrics.
    pub metrics: Metrics,
    /// Its hyperparameters.
    pub params: serde_json::Value,
    /// The experiment run that trained it.
    pub experiment_run: Option<String>,
    /// The DAG run that trained it (`dag_id/run_id`).
    pub source: Option<String>,
    /// The training data.
    pub data: DataRef,
    /// The model file.
    pub artifact: StoredFile,
    /// Its feature metadata (the preprocessing for scoring).
    pub feature_metadata: StoredFile,
    /// SHA-256 over model, metadata, data reference and hash, and metrics.
    pub audit_hash: String,
    /// Where its files live (absent for versions registered before it was recorded, and for
    /// URLs that hold a secret: the data location of the moment is used then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<location::ArtifactLocation>,
}

/// A stage change or registration, as kept in the model's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// When.
    pub at: DateTime<Utc>,
    /// `register`, `promote`, `stage`, `rollback`, `archive`.
    pub action: String,
    /// The version concerned.
    pub version: u32,
    /// Its stage before.
    pub from: Stage,
    /// Its stage after.
    pub to: Stage,
    /// Why, in words.
    pub reason: String,
    /// The numbers of a promotion decision.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub decision: Option<Decision>,
}

/// A model: its versions' stages and its history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelEntry {
    /// Its name.
    pub name: String,
    /// When its first version was registered.
    pub created_at: DateTime<Utc>,
    /// Its highest version.
    pub latest_version: u32,
    /// The stage of each version.
    pub stages: BTreeMap<u32, Stage>,
    /// Which registration produced which version (a retried task gets its version back).
    pub registered_by: BTreeMap<String, u32>,
    /// Every registration and stage change, oldest first.
    pub history: Vec<Event>,
    /// Named pointers to versions, as MLflow's aliases (`champion` → 7), beside stages.
    #[serde(default)]
    pub aliases: BTreeMap<String, u32>,
    /// Every `check_performance` of a version on fresh rows, oldest first: the decay.
    #[serde(default)]
    pub performance: Vec<performance::PerformanceCheck>,
}

impl ModelEntry {
    /// The production version, if any.
    pub fn production(&self) -> Option<u32> {
        self.stages
            .iter()
            .find(|(_, s)| **s == Stage::Production)
            .map(|(v, _)| *v)
    }

    /// The stage of a version.
    pub fn stage(&self, version: u32) -> Stage {
        self.stages.get(&version).copied().unwrap_or(Stage::None)
    }

    /// The aliases pointing at a version, sorted.
    pub fn aliases_of(&self, version: u32) -> Vec<String> {
        self.aliases
            .iter()
            .filter(|(_, v)| **v == version)
            .map(|(a, _)| a.clone())
            .collect()
    }

    fn set(
        &mut self,
        version: u32,
        to: Stage,
        action: &str,
        reason: String,
        decision: Option<Decision>,
    ) {
        let from = self.stage(version);
        self.stages.insert(version, to);
        self.history.push(Event {
            at: Utc::now(),
            action: action.into(),
            version,
            from,
            to,
            reason,
            decision,
        });
    }

    /// Makes `version` production, archiving the current production version.
    fn make_production(
        &mut self,
        version: u32,
        action: &str,
        reason: String,
        decision: Option<Decision>,
    ) {
        if let Some(old) = self.production().filter(|v| *v != version) {
            self.set(
                old,
                Stage::Archived,
                "archive",
                format!("replaced by version {version}"),
                None,
            );
        }
        self.set(version, Stage::Production, action, reason, decision);
    }
}

fn version_key(model: &str, version: u32) -> String {
    format!("{model}/{version:08}")
}

fn corrupt(what: String, e: impl ToString) -> RegistryError {
    RegistryError::Store(StoreError::Corrupt {
        what,
        detail: e.to_string(),
    })
}

fn to_json<T: Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or_default()
}

/// The model entry and its record version, if it exists.
///
/// # Errors
/// The store's error.
pub async fn entry(
    store: &dyn RecordStore,
    model: &str,
) -> Result<Option<(ModelEntry, i64)>, RegistryError> {
    match store.record(MODELS, model).await? {
        None => Ok(None),
        Some(r) => Ok(Some((
            serde_json::from_value(r.value).map_err(|e| corrupt(format!("model `{model}`"), e))?,
            r.version,
        ))),
    }
}

async fn existing(
    store: &dyn RecordStore,
    model: &str,
) -> Result<(ModelEntry, i64), RegistryError> {
    entry(store, model)
        .await?
        .ok_or_else(|| RegistryError::NoModel(model.to_string()))
}

/// Every model.
///
/// # Errors
/// The store's error.
pub async fn models(store: &dyn RecordStore) -> Result<Vec<ModelEntry>, RegistryError> {
    store
        .records(MODELS, "")
        .await?
        .into_iter()
        .map(|r| {
            serde_json::from_value(r.value).map_err(|e| corrupt(format!("model `{}`", r.key), e))
        })
        .collect()
}

/// One version.
///
/// # Errors
/// [`RegistryError::NoVersion`] / [`RegistryError::NoModel`], or the store's error.
pub async fn version(
    store: &dyn RecordStore,
    model: &str,
    version: u32,
) -> Result<ModelVersion, RegistryError> {
    match store.record(VERSIONS, &version_key(model, version)).await? {
        Some(r) => serde_json::from_value(r.value)
            .map_err(|e| corrupt(format!("version {version} of `{model}`"), e)),
        None => {
            let (e, _) = existing(store, model).await?;
            Err(RegistryError::NoVersion {
                model: model.into(),
                version,
                latest: e.latest_version,
            })
        }
    }
}

/// Every version of a model, oldest first.
///
/// # Errors
/// The store's error.
pub async fn versions(
    store: &dyn RecordStore,
    model: &str,
) -> Result<Vec<ModelVersion>, RegistryError> {
    store
        .records(VERSIONS, &format!("{model}/"))
        .await?
        .into_iter()
        .map(|r| {
            serde_json::from_value(r.value).map_err(|e| corrupt(format!("version `{}`", r.key), e))
        })
        .collect()
}

/// The audit hash of a version's facts: the model file's and the feature metadata's SHA-256,
/// the data reference and its hash, and the metrics (as JSON, keys sorted).
pub fn audit_hash(
    artifact_sha: &str,
    metadata_sha: &str,
    data: &DataRef,
    metrics: &Metrics,
) -> String {
    let metrics = serde_json::to_string(metrics).unwrap_or_default();
    sha256_parts([
        artifact_sha.as_bytes(),
        metadata_sha.as_bytes(),
        data.reference.as_bytes(),
        data.data_hash.as_bytes(),
        metrics.as_bytes(),
    ])
}

/// A registered file's bytes and their SHA-256 now.
async fn fetch(
    location: &Location,
    file: &StoredFile,
) -> Result<(bytes::Bytes, String), RegistryError> {
    let data = location
        .get_bytes(&object_store::path::Path::from(file.key.as_str()))
        .await?;
    let sha = sha256_hex(&data);
    Ok((data, sha))
}

impl From<crate::storage::ObjectError> for RegistryError {
    fn from(e: crate::storage::ObjectError) -> Self {
        RegistryError::Files {
            key: e.key,
            message: e.source.to_string(),
        }
    }
}

/// Writes a model entry read at record version `read`; `false` if it changed since.
async fn write_entry(
    store: &dyn RecordStore,
    e: &ModelEntry,
    read: i64,
) -> Result<bool, RegistryError> {
    let w = RecordWrite {
        collection: MODELS.into(),
        key: e.name.clone(),
        value: to_json(e),
        expect: Expect::Version(read),
    };
    match store.write_records(&[w]).await {
        Ok(()) => Ok(true),
        Err(StoreError::Conflict { .. }) => Ok(false),
        Err(other) => Err(other.into()),
    }
}

fn kept_changing(model: &str) -> RegistryError {
    RegistryError::Stage(format!("model `{model}` kept changing; try again"))
}

/// Reads, changes and writes back a model entry, retrying on a concurrent change.
async fn update<T>(
    store: &dyn RecordStore,
    model: &str,
    mut change: impl FnMut(&mut ModelEntry) -> Result<T, RegistryError>,
) -> Result<T, RegistryError> {
    for _ in 0..20 {
        let (mut e, read) = existing(store, model).await?;
        let out = change(&mut e)?;
        if write_entry(store, &e, read).await? {
            return Ok(out);
        }
    }
    Err(kept_changing(model))
}

#[cfg(test)]
mod tests;
