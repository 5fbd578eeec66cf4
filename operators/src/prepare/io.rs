//! Reading raw windows and writing and reading prepared sets, with their hashes.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use arrow::datatypes::Schema;
use chrono::{Duration, NaiveDate};
use futures::TryStreamExt;

use super::build::prepare;
use super::metadata::{FeatureMetadata, FileRef, Prepared, Source};
use super::{PrepareArgs, PrepareError};
use crate::dataset::{Dataset, decode, encode};
use crate::hash::{sha256_hex, sha256_parts};
use crate::storage::Location;

/// Writes a prepared set: the train, test and raw holdout Parquet files (encoded in
/// parallel), then the metadata with their hashes, last. Returns the completed metadata.
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
        holdout,
    } = prepared;
    let reference = metadata.reference.clone();
    let key = |name: &str| location.key(&format!("{reference}/{name}"));
    let encode_on_pool = |name: &'static str, batch: RecordBatch| {
        let k = key(name).to_string();
        tokio::task::spawn_blocking(move || encode(&k, vec![batch]))
    };
    let (train_rows, test_rows, holdout_rows) =
        (train.num_rows(), test.num_rows(), holdout.num_rows());
    let (a, b, c) = tokio::join!(
        encode_on_pool("train.parquet", train),
        encode_on_pool("test.parquet", test),
        encode_on_pool("holdout.parquet", holdout)
    );
    let joined = |r: Result<_, tokio::task::JoinError>| {
        r.map_err(|e| PrepareError::Store {
            key: reference.clone(),
            message: e.to_string(),
        })
    };
    let (train_bytes, test_bytes, holdout_bytes) = (joined(a)??, joined(b)??, joined(c)??);
    for (name, data, rows) in [
        ("train", train_bytes, train_rows),
        ("test", test_bytes, test_rows),
        ("holdout", holdout_bytes, holdout_rows),
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

/// Reads one file of a prepared set, checking it against the hash its metadata recorded.
async fn read_file(
    location: &Location,
    metadata: &FeatureMetadata,
    name: &str,
) -> Result<RecordBatch, PrepareError> {
    let file = metadata
        .files
        .get(name)
        .ok_or_else(|| PrepareError::Metadata {
            key: metadata.reference.clone(),
            message: format!(
                "no `{name}` file recorded (prepared by an older dagctl?): prepare the date again"
            ),
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
    concat_batches(&schema, &batches).map_err(|e| PrepareError::Metadata {
        key: file.key.clone(),
        message: e.to_string(),
    })
}

/// Reads a prepared set back, checking every file against the hashes of its metadata.
///
/// # Errors
/// A missing file, a hash mismatch ([`PrepareError::Integrity`]) or undecodable Parquet.
pub async fn load_prepared(location: &Location, reference: &str) -> Result<Prepared, PrepareError> {
    let metadata = load_metadata(location, reference).await?;
    let train = read_file(location, &metadata, "train").await?;
    let test = read_file(location, &metadata, "test").await?;
    let holdout = read_file(location, &metadata, "holdout").await?;
    Ok(Prepared {
        metadata,
        train,
        test,
        holdout,
    })
}

/// The raw held-out rows of a prepared set (`prepared_data/<date>`), checked against their
/// hash: the rows champion and challenger are compared on.
///
/// # Errors
/// A missing file (a set prepared before holdouts were kept), a hash mismatch, or
/// undecodable Parquet.
pub async fn load_holdout(
    location: &Location,
    reference: &str,
) -> Result<RecordBatch, PrepareError> {
    let metadata = load_metadata(location, reference).await?;
    read_file(location, &metadata, "holdout").await
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
    let newest_rows: usize = by_day
        .iter()
        .filter(|(d, _)| *d == day)
        .flat_map(|(_, b)| b)
        .map(RecordBatch::num_rows)
        .sum();
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
    let prepared = tokio::task::spawn_blocking(move || {
        prepare(&raw, &a, &reference, day, source, newest_rows)
    })
    .await
    .map_err(|e| PrepareError::Store {
        key: args.output.clone(),
        message: e.to_string(),
    })??;
    write_prepared(location, prepared).await
}
