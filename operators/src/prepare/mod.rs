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

pub mod preprocessor;
pub mod split;
mod stats;
mod table;

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, UInt32Array};
use arrow::compute::{concat_batches, filter_record_batch, take_record_batch};
use arrow::datatypes::{Field, Schema};
use async_trait::async_trait;
use chrono::{Duration, NaiveDate};
use dagctl_engine::{ArgsError, Operator, TaskContext, TaskError, TaskOutcome, parse_args};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};

pub use preprocessor::{FeatureConfig, Features, Preprocessor};

use crate::dataset::{Dataset, DatasetError, decode, encode};
use crate::hash::{sha256_hex, sha256_parts};
use crate::storage::{Location, resolve};

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
    /// Days read, ending on the logical date (default 1: that day only).
    #[serde(default = "one")]
    pub window_days: u32,
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
fn one() -> u32 {
    1
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
}

/// Cleans, engineers, splits and scales raw rows (the pure part of the operator).
/// `reference`, `day` and `source` only fill the metadata.
///
/// # Errors
/// A missing or mistyped column, or too few rows.
pub fn prepare(
    raw: &RecordBatch,
    args: &PrepareArgs,
    reference: &str,
    day: NaiveDate,
    mut source: Source,
) -> Result<Prepared, PrepareError> {
    let t = table::Table::new(raw);
    let target = &args.label_columns[0];
    let labels = t.numbers(target, "the first label column")?;
    let keep: arrow::array::BooleanArray = labels.iter().map(|v| Some(!v.is_nan())).collect();
    let dropped = keep.false_count();
    let (raw, labels) = if dropped > 0 {
        let kept =
            filter_record_batch(raw, &keep).map_err(|e| PrepareError::TooFew(e.to_string()))?;
        let l = labels
            .into_iter()
            .filter(|v| !v.is_nan())
            .collect::<Vec<_>>();
        (kept, l)
    } else {
        (raw.clone(), labels)
    };
    if raw.num_rows() < 10 {
        return Err(PrepareError::TooFew(format!(
            "only {} rows with a `{target}` value: at least 10 are needed to split",
            raw.num_rows()
        )));
    }
    let split = split::stratified(
        args.stratify.then_some(labels.as_slice()),
        raw.num_rows(),
        args.test_fraction,
        args.seed,
    );
    let take = |rows: &[usize]| {
        let idx = UInt32Array::from_iter_values(rows.iter().map(|r| *r as u32));
        take_record_batch(&raw, &idx).map_err(|e| PrepareError::TooFew(e.to_string()))
    };
    let (train_raw, test_raw) = (take(&split.train)?, take(&split.test)?);
    let (pre, train_features) = Preprocessor::fit_transform(&train_raw, &args.feature_config())?;
    let train = assemble(&train_raw, &train_features, args)?;
    let test = assemble(&test_raw, &pre.transform(&test_raw)?, args)?;
    let mut class_counts: BTreeMap<String, Rows> = BTreeMap::new();
    if args.stratify {
        for (rows, is_train) in [(&split.train, true), (&split.test, false)] {
            for r in rows {
                let c = class_counts.entry(format_label(labels[*r])).or_default();
                if is_train {
                    c.train += 1;
                } else {
                    c.test += 1;
                }
            }
        }
    }
    source.rows_dropped = dropped;
    Ok(Prepared {
        metadata: FeatureMetadata {
            format_version: METADATA_FORMAT,
            reference: reference.to_string(),
            logical_date: day.to_string(),
            created_at: chrono::Utc::now().to_rfc3339(),
            source,
            label_columns: args.label_columns.clone(),
            id_columns: args.id_columns.clone(),
            stratify_column: args.stratify.then(|| target.clone()),
            test_fraction: args.test_fraction,
            seed: args.seed,
            rows: Rows {
                train: train.num_rows(),
                test: test.num_rows(),
            },
            class_counts,
            preprocessor: pre,
            files: BTreeMap::new(),
            data_hash: String::new(),
        },
        train,
        test,
    })
}

fn format_label(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        v.to_string()
    }
}

/// Ids, then features, then labels.
fn assemble(
    raw: &RecordBatch,
    features: &Features,
    args: &PrepareArgs,
) -> Result<RecordBatch, PrepareError> {
    let column = |name: &String, role: &str| -> Result<(Field, ArrayRef), PrepareError> {
        let (i, f) = raw
            .schema()
            .column_with_name(name)
            .map(|(i, f)| (i, f.clone()))
            .ok_or_else(|| PrepareError::missing(raw, name, role))?;
        Ok((f, raw.column(i).clone()))
    };
    let ids = args
        .id_columns
        .iter()
        .map(|c| column(c, "an id column"))
        .collect::<Result<Vec<_>, _>>()?;
    let labels = args
        .label_columns
        .iter()
        .map(|c| column(c, "a label column"))
        .collect::<Result<Vec<_>, _>>()?;
    let batch = features.to_batch();
    let engineered = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .zip(batch.columns().iter().cloned())
        .collect::<Vec<_>>();
    let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) =
        ids.into_iter().chain(engineered).chain(labels).unzip();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
        .map_err(|e| PrepareError::TooFew(e.to_string()))
}

/// Writes a prepared set: both Parquet files (encoded in parallel), then the metadata with
/// their hashes, last. Returns the completed metadata.
///
/// # Errors
/// Encoding or storage failures, naming the key.
pub async fn write_prepared(
    location: &Location,
    prepared: Prepared,
) -> Result<FeatureMetadata, PrepareError> {
    let Prepared {
        mut metadata,
        train,
        test,
    } = prepared;
    let reference = metadata.reference.clone();
    let key = |name: &str| location.key(&format!("{reference}/{name}"));
    let encode_on_pool = |name: &'static str, batch: RecordBatch| {
        let k = key(name).to_string();
        tokio::task::spawn_blocking(move || encode(&k, vec![batch]))
    };
    let (train_rows, test_rows) = (train.num_rows(), test.num_rows());
    let (a, b) = tokio::join!(
        encode_on_pool("train.parquet", train),
        encode_on_pool("test.parquet", test)
    );
    let joined = |r: Result<_, tokio::task::JoinError>| {
        r.map_err(|e| PrepareError::Store {
            key: reference.clone(),
            message: e.to_string(),
        })
    };
    let (train_bytes, test_bytes) = (joined(a)??, joined(b)??);
    for (name, data, rows) in [
        ("train", train_bytes, train_rows),
        ("test", test_bytes, test_rows),
    ] {
        let k = key(&format!("{name}.parquet"));
        let sha = sha256_hex(&data);
        let bytes = data.len();
        location.put_bytes(&k, data).await?;
        metadata.files.insert(
            name.to_string(),
            FileRef {
                key: k.to_string(),
                sha256: sha,
                bytes,
                rows,
            },
        );
    }
    metadata.data_hash = sha256_parts(metadata.files.values().map(|f| f.sha256.as_bytes()));
    let json = serde_json::to_vec_pretty(&metadata).unwrap_or_default();
    location
        .put_bytes(&key("feature_metadata.json"), json)
        .await?;
    Ok(metadata)
}

impl From<crate::storage::ObjectError> for PrepareError {
    fn from(e: crate::storage::ObjectError) -> Self {
        let message = if e.is_not_found() {
            "not found: prepare the data first (02_data_preparation_pipeline)".to_string()
        } else {
            e.source.to_string()
        };
        PrepareError::Store {
            key: e.key,
            message,
        }
    }
}

/// Reads the metadata of a prepared set (`prepared_data/<date>`).
///
/// # Errors
/// The file is missing or unreadable.
pub async fn load_metadata(
    location: &Location,
    reference: &str,
) -> Result<FeatureMetadata, PrepareError> {
    let key = location.key(&format!("{reference}/feature_metadata.json"));
    let data = location.get_bytes(&key).await?;
    FeatureMetadata::from_json(key.as_ref(), &data)
}

/// Reads a prepared set back, checking both files against the hashes of its metadata.
///
/// # Errors
/// A missing file, a hash mismatch ([`PrepareError::Integrity`]) or undecodable Parquet.
pub async fn load_prepared(location: &Location, reference: &str) -> Result<Prepared, PrepareError> {
    let metadata = load_metadata(location, reference).await?;
    let mut sides = Vec::new();
    for name in ["train", "test"] {
        let file = metadata
            .files
            .get(name)
            .ok_or_else(|| PrepareError::Metadata {
                key: reference.to_string(),
                message: format!("no `{name}` file recorded"),
            })?;
        let key = object_store::path::Path::from(file.key.as_str());
        let data = location.get_bytes(&key).await?;
        let found = sha256_hex(&data);
        if found != file.sha256 {
            return Err(PrepareError::Integrity {
                key: file.key.clone(),
                expected: file.sha256.clone(),
                found,
            });
        }
        let k = file.key.clone();
        let batches = tokio::task::spawn_blocking(move || decode(&k, data))
            .await
            .map_err(|e| PrepareError::Store {
                key: file.key.clone(),
                message: e.to_string(),
            })??;
        let schema = batches
            .first()
            .map(RecordBatch::schema)
            .unwrap_or_else(|| Arc::new(Schema::empty()));
        sides.push(
            concat_batches(&schema, &batches).map_err(|e| PrepareError::Metadata {
                key: file.key.clone(),
                message: e.to_string(),
            })?,
        );
    }
    let test = sides.pop().unwrap_or_else(|| unreachable!());
    let train = sides.pop().unwrap_or_else(|| unreachable!());
    Ok(Prepared {
        metadata,
        train,
        test,
    })
}

/// Reads the raw rows of `[from, to]` and prepares them (the operator without a context).
///
/// # Errors
/// No raw rows in the window, storage failures, or bad columns.
pub async fn prepare_window(
    location: &Location,
    args: &PrepareArgs,
    day: NaiveDate,
) -> Result<FeatureMetadata, PrepareError> {
    let from = day - Duration::days(i64::from(args.window_days) - 1);
    let ds = Dataset::new(location.clone(), &args.dataset);
    let by_day: Vec<(NaiveDate, Vec<RecordBatch>)> =
        ds.read_by_day(from, day).try_collect().await?;
    let partitions = by_day
        .iter()
        .map(|(d, _)| ds.day_prefix(*d).to_string())
        .collect();
    let batches: Vec<RecordBatch> = by_day.into_iter().flat_map(|(_, b)| b).collect();
    if batches.iter().all(|b| b.num_rows() == 0) {
        return Err(PrepareError::TooFew(format!(
            "no rows in `{}` from {from} to {day}: generate that data first (01_data_generation_pipeline)",
            args.dataset
        )));
    }
    let schema = batches[0].schema();
    let raw = concat_batches(&schema, &batches).map_err(|e| PrepareError::ColumnType {
        column: "*".into(),
        found: "days with different schemas".into(),
        wanted: format!("one table ({e})"),
    })?;
    let source = Source {
        dataset: args.dataset.clone(),
        from: from.to_string(),
        to: day.to_string(),
        partitions,
        rows_read: raw.num_rows(),
        rows_dropped: 0,
    };
    let reference = format!("{}/{day}", args.output.trim_matches('/'));
    let a = args.clone();
    let prepared = tokio::task::spawn_blocking(move || prepare(&raw, &a, &reference, day, source))
        .await
        .map_err(|e| PrepareError::Store {
            key: args.output.clone(),
            message: e.to_string(),
        })??;
    write_prepared(location, prepared).await
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
        parse_args::<PrepareArgs>(args)?.check()
    }

    async fn execute(&self, ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
        let a: PrepareArgs = ctx.args()?;
        let day = ctx.logical_date.date_naive();
        let location = resolve(ctx, a.url.as_deref(), a.conn_id.as_deref()).await?;
        let started = std::time::Instant::now();
        let m = prepare_window(&location, &a, day).await?;
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
