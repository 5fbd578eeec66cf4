//! `feature_metadata.json`: the fitted preprocessing and the facts of one prepared set.

use std::collections::BTreeMap;

use arrow::array::RecordBatch;
use serde::{Deserialize, Serialize};

use super::{HoldoutMethod, METADATA_FORMAT, PrepareError, Preprocessor};

/// A prepared file: where, how big, its hash.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileRef {
    /// The object's key.
    pub key: String,
    /// Its SHA-256.
    pub sha256: String,
    /// Its size.
    pub bytes: usize,
    /// Its rows.
    pub rows: usize,
}

/// Where the rows came from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Source {
    /// The raw dataset.
    pub dataset: String,
    /// First day of the window.
    pub from: String,
    /// Last day (the logical date).
    pub to: String,
    /// The partitions read.
    pub partitions: Vec<String>,
    /// Rows read.
    pub rows_read: usize,
    /// Rows dropped because the first label was missing.
    pub rows_dropped: usize,
}

/// Row counts of the two splits.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct Rows {
    /// Training rows.
    pub train: usize,
    /// Test rows.
    pub test: usize,
}

/// `feature_metadata.json`: the fitted preprocessing and the facts of one prepared set.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FeatureMetadata {
    /// Layout version ([`METADATA_FORMAT`]).
    pub format_version: u32,
    /// The reference, `prepared_data/<date>`.
    pub reference: String,
    /// The logical date prepared.
    pub logical_date: String,
    /// When it was written (RFC 3339).
    pub created_at: String,
    /// The raw partitions read.
    pub source: Source,
    /// Target columns.
    pub label_columns: Vec<String>,
    /// Identifier columns.
    pub id_columns: Vec<String>,
    /// The column that stratified the split.
    pub stratify_column: Option<String>,
    /// Share of the test split.
    pub test_fraction: f64,
    /// Seed of the split.
    pub seed: u64,
    /// Rows per split.
    pub rows: Rows,
    /// How the test rows were held out.
    #[serde(default)]
    pub holdout: HoldoutInfo,
    /// Rows per class of the stratifying column, per split.
    pub class_counts: BTreeMap<String, Rows>,
    /// The fitted preprocessing.
    #[serde(flatten)]
    pub preprocessor: Preprocessor,
    /// The two Parquet files.
    pub files: BTreeMap<String, FileRef>,
    /// SHA-256 over both files' hashes: the identity of this prepared data.
    pub data_hash: String,
}

impl FeatureMetadata {
    /// The raw days its model trained on: the window `from..=to`, and the held-out days to
    /// leave out of it (none for a random split, whose held-out rows are spread over the
    /// window). `None` when the source dates do not parse.
    pub fn trained_days(&self) -> Option<(chrono::NaiveDate, chrono::NaiveDate, Vec<String>)> {
        let date = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
        let held = if self.holdout.method == HoldoutMethod::NewestDay {
            self.holdout.days.clone()
        } else {
            Vec::new()
        };
        Some((date(&self.source.from)?, date(&self.source.to)?, held))
    }

    /// Reads `feature_metadata.json`.
    ///
    /// # Errors
    /// [`PrepareError::Metadata`] naming `key` when the JSON does not fit.
    pub fn from_json(key: &str, data: &[u8]) -> Result<Self, PrepareError> {
        let m: FeatureMetadata =
            serde_json::from_slice(data).map_err(|e| PrepareError::Metadata {
                key: key.to_string(),
                message: e.to_string(),
            })?;
        if m.format_version != METADATA_FORMAT {
            return Err(PrepareError::Metadata {
                key: key.to_string(),
                message: format!(
                    "format version {} (this dagctl reads {METADATA_FORMAT})",
                    m.format_version
                ),
            });
        }
        Ok(m)
    }
}

/// A prepared set in memory.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Its metadata (files and hashes filled once written).
    pub metadata: FeatureMetadata,
    /// Training rows: ids, features, labels.
    pub train: RecordBatch,
    /// Test rows, same columns.
    pub test: RecordBatch,
    /// The test rows as they were read (raw, untransformed): what a registered model's own
    /// preprocessing is applied to when champion and challenger are compared.
    pub holdout: RecordBatch,
}

/// How a prepared set's test rows were held out.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct HoldoutInfo {
    /// The method used.
    pub method: HoldoutMethod,
    /// The days held out (`newest_day`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub days: Vec<String>,
    /// Why the method differs from the one asked for, if it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}
