//! Registering a version: the model file and its feature metadata copied under names given by
//! their content, the immutable version record and the model's entry written together.

use std::collections::BTreeMap;

use chrono::Utc;
use dagctl_engine::store::pin_run;
use dagctl_engine::{Expect, RecordStore, RecordWrite, StoreError};

use super::{
    DataRef, MODELS, ModelEntry, ModelVersion, RegistryError, Stage, StoredFile, VERSIONS,
    audit_hash, entry, to_json, version, version_key,
};
use crate::hash::sha256_hex;
use crate::ml::metrics::Metrics;
use crate::ml::{Objective, artifact};
use crate::prepare::FeatureMetadata;
use crate::storage::Location;

/// What a registration needs.
#[derive(Debug, Clone)]
pub struct Registration {
    /// The model's name.
    pub model: String,
    /// The model file's bytes.
    pub artifact: Vec<u8>,
    /// The feature metadata's bytes.
    pub feature_metadata: Vec<u8>,
    /// Its test metrics.
    pub metrics: Metrics,
    /// The metric (or composite) it was chosen by.
    pub metric: Objective,
    /// Its hyperparameters.
    pub params: serde_json::Value,
    /// The experiment run.
    pub experiment_run: Option<String>,
    /// The DAG run and task registering it; registering twice from the same one returns the
    /// same version.
    pub source: Option<String>,
    /// Where the files are written, recorded with the version
    /// ([`super::location::ArtifactLocation::of`]).
    pub location: Option<super::location::ArtifactLocation>,
}

/// Writes a file named by its content: writing it again writes the same bytes.
async fn put_content(
    location: &Location,
    relative: &str,
    data: &[u8],
) -> Result<StoredFile, RegistryError> {
    let key = location.key(relative);
    location.put_bytes(&key, data.to_vec()).await?;
    Ok(StoredFile {
        key: key.to_string(),
        sha256: sha256_hex(data),
        bytes: data.len(),
    })
}

/// Registers a new immutable version (stage `none`). Returns it and whether it is new (false
/// when this `source` registered it before).
///
/// # Errors
/// An unreadable artifact or metadata, storage or store failures.
pub async fn register(
    store: &dyn RecordStore,
    location: &Location,
    r: Registration,
) -> Result<(ModelVersion, bool), RegistryError> {
    let (header, _) = artifact::read_header(&r.artifact)?;
    let meta = FeatureMetadata::from_json("feature_metadata.json", &r.feature_metadata)?;
    // A retried registration gets its version back without writing anything.
    if let (Some((e, _)), Some(src)) = (entry(store, &r.model).await?, &r.source)
        && let Some(v) = e.registered_by.get(src)
    {
        return Ok((version(store, &r.model, *v).await?, false));
    }
    let a_sha = sha256_hex(&r.artifact);
    let m_sha = sha256_hex(&r.feature_metadata);
    let artifact = put_content(
        location,
        &format!("registry/{}/{a_sha}.model", r.model),
        &r.artifact,
    )
    .await?;
    let metadata = put_content(
        location,
        &format!("registry/{}/{m_sha}.json", r.model),
        &r.feature_metadata,
    )
    .await?;
    // Compare-and-swap on the model entry; another registration in between means try again.
    for _ in 0..20 {
        let current = entry(store, &r.model).await?;
        if let (Some((e, _)), Some(src)) = (&current, &r.source)
            && let Some(v) = e.registered_by.get(src)
        {
            return Ok((version(store, &r.model, *v).await?, false));
        }
        let next = current.as_ref().map_or(1, |(e, _)| e.latest_version + 1);
        let data = DataRef {
            reference: meta.reference.clone(),
            data_hash: meta.data_hash.clone(),
        };
        let mv = ModelVersion {
            model: r.model.clone(),
            version: next,
            created_at: Utc::now(),
            candidate: header.info.kind.name().to_string(),
            target: header.info.target.clone(),
            task: header.info.task,
            metric: r.metric.clone(),
            metrics: r.metrics.clone(),
            params: r.params.clone(),
            experiment_run: r.experiment_run.clone(),
            source: r.source.clone(),
            audit_hash: audit_hash(&a_sha, &m_sha, &data, &r.metrics),
            data: data.clone(),
            artifact: artifact.clone(),
            feature_metadata: metadata.clone(),
            location: r.location.clone(),
        };
        let (mut e, expect) = match current {
            Some((e, v)) => (e, Expect::Version(v)),
            None => (
                ModelEntry {
                    name: r.model.clone(),
                    created_at: mv.created_at,
                    latest_version: 0,
                    stages: BTreeMap::new(),
                    registered_by: BTreeMap::new(),
                    history: Vec::new(),
                    aliases: BTreeMap::new(),
                    performance: Vec::new(),
                },
                Expect::Absent,
            ),
        };
        e.latest_version = next;
        if let Some(src) = &r.source {
            e.registered_by.insert(src.clone(), next);
        }
        let m = mv.metric.value(&mv.metrics).unwrap_or(f64::NAN);
        e.set(
            next,
            Stage::None,
            "register",
            format!(
                "{} on {} ({} {m:.4})",
                mv.candidate,
                mv.data.reference,
                mv.metric.name()
            ),
            None,
        );
        let mut writes = vec![
            RecordWrite {
                collection: VERSIONS.into(),
                key: version_key(&r.model, next),
                value: to_json(&mv),
                expect: Expect::Absent,
            },
            RecordWrite {
                collection: MODELS.into(),
                key: r.model.clone(),
                value: to_json(&e),
                expect,
            },
        ];
        // The run that trained it stays while the version does (`db clean` keeps it).
        writes.extend(pin_of(&mv));
        match store.write_records(&writes).await {
            Ok(()) => return Ok((mv, true)),
            Err(StoreError::Conflict { .. }) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(RegistryError::Stage(format!(
        "model `{}` kept changing while registering; try again",
        r.model
    )))
}

/// The pin of the DAG run that trained `mv` (its `source` is `dag_id/run_id/task_id`), if
/// it names one.
fn pin_of(mv: &ModelVersion) -> Option<RecordWrite> {
    let (dag_id, rest) = mv.source.as_deref()?.split_once('/')?;
    let (run_id, _task) = rest.rsplit_once('/')?;
    Some(pin_run(
        dag_id,
        run_id,
        &format!("model {} v{}", mv.model, mv.version),
    ))
}

/// Pins the run that trained each version of every model (versions registered before runs
/// were pinned at registration had none), so that `db clean` keeps them; returns how many
/// versions name a run.
///
/// # Errors
/// The store's error, or a version record that does not read.
pub async fn pin_sources(store: &dyn RecordStore) -> Result<usize, RegistryError> {
    let mut pins = Vec::new();
    for m in super::models(store).await? {
        for v in super::versions(store, &m.name).await? {
            pins.extend(pin_of(&v));
        }
    }
    store.write_records(&pins).await?;
    Ok(pins.len())
}
