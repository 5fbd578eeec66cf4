//! The latest drift result of each model (collection [`COLLECTION`], keyed by model), kept
//! for monitoring (`dagctl metrics`, the web view's `/metrics`): a check of an older day (a
//! backfill) never replaces a newer one.

use chrono::{DateTime, NaiveDate, Utc};
use dagctl_engine::{Expect, RecordStore, RecordWrite, StoreError};
use serde::{Deserialize, Serialize};

/// The records' collection.
pub const COLLECTION: &str = "drift_latest";

/// A model's latest drift check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatestDrift {
    /// The model whose training rows were the reference.
    pub model: String,
    /// The day checked.
    pub day: NaiveDate,
    /// The share of features that drifted.
    pub drifted_share: f64,
    /// Whether the dataset as a whole drifted.
    pub dataset_drift: bool,
    /// When it was checked.
    pub at: DateTime<Utc>,
}

/// Keeps `latest` unless a check of a later day is recorded already. Two checks racing: one
/// of them is kept, the other's write is reported as a conflict to the caller, which may
/// ignore it (the report files hold both).
///
/// # Errors
/// The store's error.
pub async fn record(store: &dyn RecordStore, latest: &LatestDrift) -> Result<(), StoreError> {
    let expect = match store.record(COLLECTION, &latest.model).await? {
        Some(r) => {
            if serde_json::from_value::<LatestDrift>(r.value).is_ok_and(|old| old.day > latest.day)
            {
                return Ok(());
            }
            Expect::Version(r.version)
        }
        None => Expect::Absent,
    };
    let value = serde_json::to_value(latest).map_err(|e| StoreError::Corrupt {
        what: "drift result".into(),
        detail: e.to_string(),
    })?;
    store
        .write_records(&[RecordWrite {
            collection: COLLECTION.into(),
            key: latest.model.clone(),
            value,
            expect,
        }])
        .await
}

/// Every model's latest drift check.
///
/// # Errors
/// The store's error.
pub async fn all(store: &dyn RecordStore) -> Result<Vec<LatestDrift>, StoreError> {
    Ok(store
        .records(COLLECTION, "")
        .await?
        .into_iter()
        .filter_map(|r| serde_json::from_value(r.value).ok())
        .collect())
}
