//! Reading a version back: checking its files against their hashes, loading it to score.

use dagctl_engine::RecordStore;
use serde::{Deserialize, Serialize};

use super::{ModelVersion, RegistryError, audit_hash, existing, fetch, version};
use crate::ml::{Model, artifact};
use crate::prepare::FeatureMetadata;
use crate::storage::Location;

/// The result of [`verify`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    /// The version.
    pub version: u32,
    /// Whether every check passed.
    pub ok: bool,
    /// Each check and its result.
    pub checks: Vec<(String, bool)>,
}

/// Recomputes a version's file hashes and audit hash from the stored files.
///
/// # Errors
/// Unknown model or version, or a file that cannot be read.
pub async fn verify(
    store: &dyn RecordStore,
    location: &Location,
    model: &str,
    v: u32,
) -> Result<Verification, RegistryError> {
    let mv = version(store, model, v).await?;
    let (_, a_sha) = fetch(location, &mv.artifact).await?;
    let (_, m_sha) = fetch(location, &mv.feature_metadata).await?;
    let recomputed = audit_hash(&a_sha, &m_sha, &mv.data, &mv.metrics);
    let checks = vec![
        (
            "model file SHA-256".to_string(),
            a_sha == mv.artifact.sha256,
        ),
        (
            "feature metadata SHA-256".to_string(),
            m_sha == mv.feature_metadata.sha256,
        ),
        ("audit hash".to_string(), recomputed == mv.audit_hash),
    ];
    Ok(Verification {
        version: v,
        ok: checks.iter().all(|(_, ok)| *ok),
        checks,
    })
}

/// A registered model ready to score: the model, its preprocessing and its version.
#[derive(Debug)]
pub struct Loaded {
    /// The version's facts.
    pub version: ModelVersion,
    /// The model.
    pub model: Model,
    /// Its feature metadata (with the [`crate::prepare::Preprocessor`]).
    pub metadata: FeatureMetadata,
}

/// The production version, or `None` when the model has none yet (or does not exist yet):
/// what a monitor checks, if there is anything to check.
///
/// # Errors
/// As [`load`], except a missing model or production version.
pub async fn load_production(
    store: &dyn RecordStore,
    location: &Location,
    model: &str,
) -> Result<Option<Loaded>, RegistryError> {
    match load(store, location, model, None).await {
        Ok(l) => Ok(Some(l)),
        Err(RegistryError::NoModel(_) | RegistryError::NoProduction(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Loads a version (the production one by default), checking both files against their hashes.
///
/// # Errors
/// No production version, unknown version, a file that was changed, or unreadable files.
pub async fn load(
    store: &dyn RecordStore,
    location: &Location,
    model: &str,
    v: Option<u32>,
) -> Result<Loaded, RegistryError> {
    let v = match v {
        Some(v) => v,
        None => existing(store, model)
            .await?
            .0
            .production()
            .ok_or_else(|| RegistryError::NoProduction(model.to_string()))?,
    };
    let mv = version(store, model, v).await?;
    let (a, a_sha) = fetch(location, &mv.artifact).await?;
    let (m, m_sha) = fetch(location, &mv.feature_metadata).await?;
    for (file, sha) in [(&mv.artifact, a_sha), (&mv.feature_metadata, m_sha)] {
        if sha != file.sha256 {
            return Err(RegistryError::Files {
                key: file.key.clone(),
                message: "its SHA-256 differs from the registered one: the file was changed (`dagctl models verify`)".into(),
            });
        }
    }
    Ok(Loaded {
        model: artifact::from_bytes(&a)?,
        metadata: FeatureMetadata::from_json(&mv.feature_metadata.key, &m)?,
        version: mv,
    })
}
