//! `prepare_data`: raw days → cleaned, engineered, split and scaled training data.
//!
//! The operator reads the logical date's partition of a raw dataset (or the `window_days`
//! days ending on it), streaming, and writes under the data location:
//!
//! ```text
//! prepared_data/<YYYY-MM-DD>/train.parquet        80 %, stratified by the first label
//! prepared_data/<YYYY-MM-DD>/test.parquet         20 %
//! prepared_data/<YYYY-MM-DD>/feature_metadata.json
//! ```
//!
//! Every statistic (medians, modes, IQR caps, segment means, scaler) is fitted on the
//! training split only; see [`preprocessor`] for the features. The metadata holds the fitted
//! [`Preprocessor`], row and class counts, the source partitions and the SHA-256 of both
//! Parquet files. It is written **last**: it is the commit marker of the set, and
//! [`load_prepared`] checks the files against its hashes, so a reader never trains on a
//! train file of one run and a test file of another. Then the operator sets the Variable
//! `latest_prepared_data` to the reference `prepared_data/<date>` (in the same transaction
//! as the task's success), and the task's `outlets` announce the dataset.

mod build;
mod io;
mod metadata;
pub mod preprocessor;
pub mod split;
mod stats;
mod table;

pub use build::prepare;
pub use io::{load_holdout, load_metadata, load_prepared, prepare_window, write_prepared};
pub use metadata::{FeatureMetadata, FileRef, HoldoutInfo, Prepared, Rows, Source};

use arrow::array::RecordBatch;
use async_trait::async_trait;
use dagctl_engine::{ArgsError, Operator, TaskContext, TaskError, TaskOutcome, parse_args};
use serde::{Deserialize, Serialize};

pub use preprocessor::{FeatureConfig, Features, Preprocessor};

use crate::dataset::DatasetError;
use crate::storage::resolve;

/// The version of `feature_metadata.json`'s layout.
pub const METADATA_FORMAT: u32 = 1;

/// Errors of preparation, naming the column, value or key at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrepareError {
    /// A column the preparation needs is not in the data.
    #[error("the data has no column `{column}` (needed as {role}); its columns are: {present}")]
    MissingColumn {
        /// The column.
        column: String,
        /// What it was needed for.
        role: String,
        /// The columns present.
        present: String,
    },
    /// A column has a type the preparation cannot use.
    #[error("column `{column}` is {found}, which does not work as {wanted}")]
    ColumnType {
        /// The column.
        column: String,
        /// Its type.
        found: String,
        /// What was needed.
        wanted: String,
    },
    /// A column has no value at all in the training split.
    #[error(
        "column `{column}` has no value in the training split; drop it from the feature columns"
    )]
    Empty {
        /// The column.
        column: String,
    },
    /// Rows produced other features than the preprocessing was fitted with.
    #[error("the rows give the features [{found}], the preprocessing expects [{expected}]")]
    Features {
        /// Expected columns.
        expected: String,
        /// Produced columns.
        found: String,
    },
    /// Too few rows to split.
    #[error("{0}")]
    TooFew(String),
    /// A dataset read or a Parquet file failed.
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    /// The object store failed.
    #[error("{key}: {message}")]
    Store {
        /// The object's key.
        key: String,
        /// What happened.
        message: String,
    },
    /// `feature_metadata.json` is unreadable.
    #[error("{key}: not a feature metadata file: {message}")]
    Metadata {
        /// The file's key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A prepared file does not match the hash its metadata recorded.
    #[error(
        "{key} has SHA-256 {found}, its metadata says {expected}: the set was rewritten or tampered with; prepare the date again"
    )]
    Integrity {
        /// The file's key.
        key: String,
        /// Recorded hash.
        expected: String,
        /// Actual hash.
        found: String,
    },
}

impl PrepareError {
    /// The error for a column `batch` lacks, listing the columns it has.
    pub fn missing(batch: &RecordBatch, column: &str, role: &str) -> Self {
        PrepareError::MissingColumn {
            column: column.to_string(),
            role: role.to_string(),
            present: batch
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }
    }

    /// Whether retrying could help (storage trouble), as opposed to bad data or arguments.
    pub fn is_transient(&self) -> bool {
        matches!(self, PrepareError::Store { .. } | PrepareError::Dataset(_))
    }
}

impl From<PrepareError> for TaskError {
    fn from(e: PrepareError) -> Self {
        if e.is_transient() {
            TaskError::retryable(e.to_string())
        } else {
            TaskError::fatal(e.to_string())
        }
    }
}

/// The operator's arguments.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PrepareArgs {
    /// The raw dataset (default `raw_data`).
    #[serde(default = "raw_data")]
    pub dataset: String,
    /// Where the prepared sets go, under the data location (default `prepared_data`).
    #[serde(default = "prepared_data")]
    pub output: String,
    /// A storage URL instead of the engine's data location.
    #[serde(default)]
    pub url: Option<String>,
    /// A named connection instead of `url`.
    #[serde(default)]
    pub conn_id: Option<String>,
    /// Days read, ending on the logical date (default 30): a rolling window. A number, or a
    /// template that renders one (`"{{ params.window_days }}"`).
    #[serde(default = "thirty", deserialize_with = "crate::templated::number")]
    pub window_days: u32,
    /// Which rows are held out for evaluation (default `newest_day`).
    #[serde(default)]
    pub holdout: HoldoutMethod,
    /// Target columns: kept as they are, never used as features. The first one stratifies
    /// the split; rows where it is missing are dropped.
    #[serde(default = "labels")]
    pub label_columns: Vec<String>,
    /// Columns copied through unchanged (identifiers), never features.
    #[serde(default = "ids")]
    pub id_columns: Vec<String>,
    /// Stratify the split by the first label (default true; false for a regression target).
    #[serde(default = "yes")]
    pub stratify: bool,
    /// Share of rows in the test split (default 0.2).
    #[serde(default = "fifth")]
    pub test_fraction: f64,
    /// Seed of the split (default 42).
    #[serde(default = "seed")]
    pub seed: u64,
    /// Which columns are features.
    #[serde(default)]
    pub features: FeatureConfig,
    /// The Variable set to the prepared reference (default `latest_prepared_data`; null: none).
    #[serde(default = "variable")]
    pub set_variable: Option<String>,
}

fn raw_data() -> String {
    "raw_data".into()
}
fn prepared_data() -> String {
    "prepared_data".into()
}
fn thirty() -> u32 {
    30
}

/// Which rows a prepared set holds out from training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldoutMethod {
    /// The logical date's rows: an out-of-time holdout no model trained on. When the window
    /// has no earlier day (the loop's first day), the split falls back to `random` and the
    /// metadata says so.
    #[default]
    NewestDay,
    /// A stratified random `test_fraction` of the window's rows.
    Random,
}
fn labels() -> Vec<String> {
    vec!["churned".into()]
}
fn ids() -> Vec<String> {
    vec!["customer_id".into()]
}
fn yes() -> bool {
    true
}
fn fifth() -> f64 {
    0.2
}
fn seed() -> u64 {
    42
}
fn variable() -> Option<String> {
    Some("latest_prepared_data".into())
}

impl Default for PrepareArgs {
    fn default() -> Self {
        parse_args(&serde_json::json!({})).unwrap_or_else(|e| unreachable!("defaults: {e}"))
    }
}

impl PrepareArgs {
    fn check(&self) -> Result<(), ArgsError> {
        if self.window_days == 0 || self.window_days > 3660 {
            return Err(ArgsError::at("window_days", "need 1 to 3660 days"));
        }
        if !(0.05..=0.5).contains(&self.test_fraction) {
            return Err(ArgsError::at(
                "test_fraction",
                "need a share between 0.05 and 0.5",
            ));
        }
        if self.label_columns.is_empty() {
            return Err(ArgsError::at(
                "label_columns",
                "name at least the target column",
            ));
        }
        Ok(())
    }

    /// The feature columns with the labels and ids taken out: a target is never a feature.
    fn feature_config(&self) -> FeatureConfig {
        let keep = |c: &String| !self.label_columns.contains(c) && !self.id_columns.contains(c);
        let mut f = self.features.clone();
        f.numeric_columns.retain(keep);
        f.categorical_columns.retain(keep);
        f
    }
}

/// The operator.
#[derive(Debug, Clone, Copy, Default)]
pub struct PrepareData;

#[async_trait]
impl Operator for PrepareData {
    fn name(&self) -> &str {
        "prepare_data"
    }

    fn summary(&self) -> &str {
        "cleans, engineers, splits and scales raw days into prepared_data/<date> (train, test, feature metadata)"
    }

    fn check_args(&self, args: &serde_json::Value) -> Result<(), ArgsError> {
        let args = crate::templated::untemplated(args, &["window_days"], serde_json::json!(1));
        parse_args::<PrepareArgs>(&args)?.check()
    }

    async fn execute(&self, ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
        let a: PrepareArgs = ctx.args()?;
        let day = ctx.logical_date.date_naive();
        let location = resolve(ctx, a.url.as_deref(), a.conn_id.as_deref()).await?;
        let started = std::time::Instant::now();
        let m = prepare_window(&location, &a, day).await?;
        if let Some(note) = &m.holdout.note {
            ctx.log(format!("holdout: {note}"));
        }
        ctx.log(format!(
            "prepared {} ({} train / {} test rows, {} features, {} raw rows from {} partition(s), {} without `{}` dropped) in {:.2}s",
            m.reference,
            m.rows.train,
            m.rows.test,
            m.preprocessor.feature_columns.len(),
            m.source.rows_read,
            m.source.partitions.len(),
            m.source.rows_dropped,
            m.label_columns[0],
            started.elapsed().as_secs_f64()
        ));
        if let Some(var) = &a.set_variable {
            ctx.set_variable(var.clone(), m.reference.clone());
            ctx.log(format!("Variable {var} = {}", m.reference));
        }
        Ok(TaskOutcome::Success(Some(serde_json::json!({
            "summary": format!(
                "{}: {} train / {} test rows, {} features, from {} raw rows",
                m.reference,
                m.rows.train,
                m.rows.test,
                m.preprocessor.feature_columns.len(),
                m.source.rows_read
            ),
            "reference": m.reference,
            "rows": m.rows,
            "features": m.preprocessor.feature_columns.len(),
            "data_hash": m.data_hash,
        }))))
    }
}

#[cfg(test)]
mod tests;
