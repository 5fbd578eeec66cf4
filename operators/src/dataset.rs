//! Date-partitioned Parquet datasets in an object store, Hive style:
//! `<prefix>/<dataset>/year=YYYY/month=MM/day=DD/part-00000.parquet`, readable as a
//! partitioned dataset by pyarrow, DuckDB, Spark and pandas.
//!
//! **Atomic and idempotent days.** A day is exactly one object, written with a single put:
//! on the local filesystem object_store writes a temporary file and renames it into place;
//! on S3 (which has no rename) a PUT replaces an object whole. A reader therefore sees the old
//! day or the new one, never a partial file nor a mix of two versions, and writing a day again
//! replaces it instead of adding to it. Files of the day left by other writers (other
//! `part-*` names) are deleted after the new one is in place.
//!
//! **Streaming reads.** Reading a day or a range of days yields record batches of at most
//! [`BATCH_ROWS`] rows, one day after the other (a day is small: it is fetched whole).
//! Parquet encoding and decoding run off the async threads.

use std::sync::Arc;

use arrow::array::RecordBatch;
use bytes::Bytes;
use chrono::{Datelike, NaiveDate};
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::storage::Location;

/// Rows per batch when reading.
pub const BATCH_ROWS: usize = 1024;

/// Days fetched and decoded ahead while reading a range.
const READ_AHEAD: usize = 8;

/// The one file name of a day.
const PART: &str = "part-00000.parquet";

/// Errors of dataset reads and writes, naming the key involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DatasetError {
    /// The object store failed.
    #[error("{key}: {source}")]
    Store {
        /// The object's key.
        key: String,
        /// The store's error.
        #[source]
        source: object_store::Error,
    },
    /// The Parquet data could not be written or read.
    #[error("{key}: {source}")]
    Parquet {
        /// The object's key.
        key: String,
        /// The codec's error.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// Batches of one write disagree on their schema.
    #[error("{key}: the batches do not share one schema")]
    Schema {
        /// The object's key.
        key: String,
    },
    /// A background task failed.
    #[error("{key}: {message}")]
    Task {
        /// The object's key.
        key: String,
        /// What happened.
        message: String,
    },
}

impl From<crate::storage::ObjectError> for DatasetError {
    fn from(e: crate::storage::ObjectError) -> Self {
        DatasetError::Store {
            key: e.key,
            source: e.source,
        }
    }
}

/// What a day write produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The object's key.
    pub key: String,
    /// Rows written.
    pub rows: usize,
    /// Bytes written.
    pub bytes: usize,
}

/// A named dataset under a storage location.
#[derive(Debug, Clone)]
pub struct Dataset {
    location: Location,
    name: String,
}

impl Dataset {
    /// The dataset `name` under `location` (`raw_data`, …).
    pub fn new(location: Location, name: &str) -> Self {
        Dataset {
            location,
            name: name.trim_matches('/').to_string(),
        }
    }

    /// The partition folder of a day: `<dataset>/year=YYYY/month=MM/day=DD`.
    pub fn day_prefix(&self, day: NaiveDate) -> ObjectPath {
        self.location.key(&format!(
            "{}/year={:04}/month={:02}/day={:02}",
            self.name,
            day.year(),
            day.month(),
            day.day()
        ))
    }

    fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.location.store
    }

    /// Writes a day's rows, replacing whatever the day held (see the module docs).
    ///
    /// # Errors
    /// A [`DatasetError`] naming the key; the day then still holds its previous data.
    pub async fn write_day(
        &self,
        day: NaiveDate,
        batches: Vec<RecordBatch>,
    ) -> Result<Written, DatasetError> {
        let prefix = self.day_prefix(day);
        let key = ObjectPath::from(format!("{prefix}/{PART}"));
        let key_text = key.to_string();
        let rows = batches.iter().map(RecordBatch::num_rows).sum();
        let k = key_text.clone();
        let data = tokio::task::spawn_blocking(move || encode(&k, batches))
            .await
            .map_err(|e| DatasetError::Task {
                key: key_text.clone(),
                message: e.to_string(),
            })??;
        let bytes = data.len();
        self.location.put_bytes(&key, data).await?;
        // Files of other writers in this day go only once the new day is in place.
        for other in self.files(&prefix).await? {
            if other != key {
                self.store()
                    .delete(&other)
                    .await
                    .map_err(|source| DatasetError::Store {
                        key: other.to_string(),
                        source,
                    })?;
            }
        }
        Ok(Written {
            key: key_text,
            rows,
            bytes,
        })
    }

    async fn files(&self, prefix: &ObjectPath) -> Result<Vec<ObjectPath>, DatasetError> {
        let mut keys: Vec<ObjectPath> = self
            .store()
            .list(Some(prefix))
            .map_ok(|m| m.location)
            .try_collect()
            .await
            .map_err(|source| DatasetError::Store {
                key: prefix.to_string(),
                source,
            })?;
        keys.retain(|k| k.as_ref().ends_with(".parquet"));
        keys.sort();
        Ok(keys)
    }

    /// Whether the day has data.
    ///
    /// # Errors
    /// A listing failure.
    pub async fn has_day(&self, day: NaiveDate) -> Result<bool, DatasetError> {
        Ok(!self.files(&self.day_prefix(day)).await?.is_empty())
    }

    /// The days in `[from, to]` that have data, in order.
    ///
    /// # Errors
    /// A listing failure.
    pub async fn days(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<NaiveDate>, DatasetError> {
        let mut out = Vec::new();
        for day in (DayRange {
            next: Some(from),
            to,
        }) {
            if self.has_day(day).await? {
                out.push(day);
            }
        }
        Ok(out)
    }

    /// The rows of the days in `[from, to]`, as a stream of batches of at most
    /// [`BATCH_ROWS`] rows, day after day. Days without data are skipped.
    ///
    /// # Errors
    /// Items of the stream carry a [`DatasetError`] naming the key that failed.
    pub fn read(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> BoxStream<'static, Result<RecordBatch, DatasetError>> {
        self.read_by_day(from, to)
            .map_ok(|(_, batches)| stream::iter(batches.into_iter().map(Ok)))
            .try_flatten()
            .boxed()
    }

    /// The days in `[from, to]` that have data, each with its rows, in day order: what
    /// [`Dataset::read`] streams, with the day each batch came from (one listing per day).
    ///
    /// # Errors
    /// Items of the stream carry a [`DatasetError`] naming the key that failed.
    pub fn read_by_day(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> BoxStream<'static, Result<(NaiveDate, Vec<RecordBatch>), DatasetError>> {
        let this = self.clone();
        let days = stream::iter(DayRange {
            next: Some(from),
            to,
        });
        days.map(move |day| {
            let this = this.clone();
            async move {
                let mut batches = Vec::new();
                for key in this.files(&this.day_prefix(day)).await? {
                    let k = key.to_string();
                    let data = this.location.get_bytes(&key).await?;
                    let kk = k.clone();
                    let mut decoded = tokio::task::spawn_blocking(move || decode(&kk, data))
                        .await
                        .map_err(|e| DatasetError::Task {
                            key: k,
                            message: e.to_string(),
                        })??;
                    batches.append(&mut decoded);
                }
                Ok::<_, DatasetError>((day, batches))
            }
        })
        // Several days are fetched and decoded at once; they still come out in day order.
        .buffered(READ_AHEAD)
        .try_filter(|(_, batches)| futures::future::ready(!batches.is_empty()))
        .boxed()
    }
}

struct DayRange {
    next: Option<NaiveDate>,
    to: NaiveDate,
}

impl Iterator for DayRange {
    type Item = NaiveDate;

    fn next(&mut self) -> Option<NaiveDate> {
        let day = self.next.filter(|d| *d <= self.to)?;
        self.next = day.succ_opt();
        Some(day)
    }
}

pub(crate) fn encode(key: &str, batches: Vec<RecordBatch>) -> Result<Bytes, DatasetError> {
    let err = |source| DatasetError::Parquet {
        key: key.to_string(),
        source,
    };
    let Some(first) = batches.first() else {
        return Err(DatasetError::Schema {
            key: key.to_string(),
        });
    };
    let schema = first.schema();
    if batches.iter().any(|b| b.schema() != schema) {
        return Err(DatasetError::Schema {
            key: key.to_string(),
        });
    }
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    let mut buf = Vec::new();
    let mut w = ArrowWriter::try_new(&mut buf, schema, Some(props)).map_err(err)?;
    for b in &batches {
        w.write(b).map_err(err)?;
    }
    w.close().map_err(err)?;
    Ok(Bytes::from(buf))
}

pub(crate) fn decode(key: &str, data: Bytes) -> Result<Vec<RecordBatch>, DatasetError> {
    let err = |source| DatasetError::Parquet {
        key: key.to_string(),
        source,
    };
    let reader = ParquetRecordBatchReaderBuilder::try_new(data)
        .map_err(err)?
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(err)?;
    reader
        .map(|b| {
            b.map_err(|e| DatasetError::Parquet {
                key: key.to_string(),
                source: e.into(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use std::collections::BTreeMap;

    fn batch(n: usize, tag: &str) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("tag", DataType::Utf8, false),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from_iter_values(0..n as i64)),
                Arc::new(StringArray::from(vec![tag; n])),
            ],
        )
        .unwrap()
    }

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 1, d).unwrap()
    }

    async fn check(url: &str) {
        let loc = crate::storage::open(url, &BTreeMap::new()).unwrap();
        let ds = Dataset::new(loc, "raw_data");
        for d in 1..=3 {
            let w = ds.write_day(day(d), vec![batch(2500, "v1")]).await.unwrap();
            assert_eq!(w.rows, 2500);
            assert!(
                w.key.ends_with(&format!(
                    "raw_data/year=2026/month=01/day=0{d}/part-00000.parquet"
                )),
                "{}",
                w.key
            );
        }
        let batches: Vec<RecordBatch> = ds.read(day(1), day(3)).try_collect().await.unwrap();
        assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 7500);
        assert!(
            batches.iter().all(|b| b.num_rows() <= BATCH_ROWS),
            "streamed in batches"
        );
        assert!(
            batches.len() >= 9,
            "never a single batch: {}",
            batches.len()
        );
        // A rerun of a day replaces it, never adds to it.
        ds.write_day(day(2), vec![batch(10, "v2")]).await.unwrap();
        let rows: usize = ds
            .read(day(1), day(3))
            .map_ok(|b| b.num_rows())
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
            .iter()
            .sum();
        assert_eq!(rows, 5010);
        assert_eq!(
            ds.days(day(1), day(5)).await.unwrap(),
            [day(1), day(2), day(3)]
        );
        assert!(
            ds.read(day(4), day(5))
                .try_collect::<Vec<_>>()
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn days_round_trip_on_a_folder_and_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        check(&format!("file://{}", dir.path().display())).await;
        let files: Vec<_> =
            std::fs::read_dir(dir.path().join("raw_data/year=2026/month=01/day=02"))
                .unwrap()
                .collect();
        assert_eq!(files.len(), 1, "one file per day, no leftovers");
        check("memory://lake").await;
    }

    #[tokio::test]
    async fn leftover_parts_of_a_day_are_removed_after_a_write() {
        let loc = crate::storage::open("memory://", &BTreeMap::new()).unwrap();
        let ds = Dataset::new(loc.clone(), "d");
        let stray = ObjectPath::from(format!("{}/part-00007.parquet", ds.day_prefix(day(1))));
        loc.put_bytes(&stray, encode("x", vec![batch(5, "old")]).unwrap())
            .await
            .unwrap();
        ds.write_day(day(1), vec![batch(3, "new")]).await.unwrap();
        let rows: Vec<RecordBatch> = ds.read(day(1), day(1)).try_collect().await.unwrap();
        assert_eq!(rows.iter().map(|b| b.num_rows()).sum::<usize>(), 3);
    }
}
