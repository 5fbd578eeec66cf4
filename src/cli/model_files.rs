//! The files `dagctl models predict` and `verify` use: a version's own storage (what it
//! recorded when registered, else the data location), and Parquet input and output given as a
//! path or as a storage URL (`s3://bucket/key.parquet`, `file:///…`), S3 settings from the
//! environment, an AWS profile, or a connection (`--conn`).

use std::path::Path;

use anyhow::{Context, bail};
use arrow::array::RecordBatch;
use dagctl::engine::store::{Connection, SqlStore};
use dagctl::operators::registry;
use dagctl::operators::storage::{Location, open};

use super::Global;
use dagctl::engine::store::ConnectionLookup;

/// Where version `v` of `model` (production when `None`) keeps its files.
pub(crate) async fn version_location(
    g: &Global,
    store: &SqlStore,
    model: &str,
    v: Option<u32>,
) -> anyhow::Result<Location> {
    let v = match v {
        Some(v) => Some(v),
        None => registry::entry(store, model)
            .await?
            .and_then(|(e, _)| e.production()),
    };
    let recorded = match v {
        Some(v) => registry::version(store, model, v)
            .await
            .ok()
            .and_then(|mv| mv.location),
        None => None,
    };
    match recorded {
        Some(l) => Ok(l.open(&store.connections().await?)?),
        None => g.data_location().await,
    }
}

/// A named connection for `--conn`.
pub(super) async fn connection(
    store: &SqlStore,
    name: Option<&str>,
) -> anyhow::Result<Option<Connection>> {
    let Some(name) = name else { return Ok(None) };
    match super::connections::named(store, name).await? {
        Some(c) => Ok(Some(c)),
        None => Err(super::NotFound(format!(
            "no connection `{name}` (`dagctl connections list` shows them)"
        ))
        .into()),
    }
}

/// The folder location and the file name of a storage URL.
fn split(url: &str, conn: Option<&Connection>) -> anyhow::Result<(Location, String)> {
    let (dir, name) = url
        .rsplit_once('/')
        .filter(|(d, n)| {
            !n.is_empty() && d.contains("://") && !d.ends_with(':') && !d.ends_with(":/")
        })
        .with_context(|| {
            format!("`{url}` names no file: write it like s3://bucket/path/file.parquet")
        })?;
    let extra = conn.map(|c| c.extra.clone()).unwrap_or_default();
    Ok((open(dir, &extra)?, name.to_string()))
}

fn is_url(arg: &str) -> bool {
    arg.contains("://")
}

/// Reads a whole Parquet file from a path or a storage URL.
pub(super) async fn read_parquet(
    arg: &str,
    conn: Option<&Connection>,
) -> anyhow::Result<RecordBatch> {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let shown = dagctl::engine::store::redact_url(arg);
    let batches: Vec<RecordBatch> = if is_url(arg) {
        let (loc, name) = split(arg, conn)?;
        let bytes = loc
            .get_bytes(&loc.key(&name))
            .await
            .with_context(|| format!("--input {shown}"))?;
        ParquetRecordBatchReaderBuilder::try_new(bytes)
            .with_context(|| format!("{shown} is not a Parquet file"))?
            .build()?
            .collect::<Result<_, _>>()?
    } else {
        let file = std::fs::File::open(arg).with_context(|| format!("--input {arg}"))?;
        ParquetRecordBatchReaderBuilder::try_new(file)
            .with_context(|| format!("{arg} is not a Parquet file"))?
            .build()?
            .collect::<Result<_, _>>()?
    };
    let Some(first) = batches.first() else {
        bail!("{shown} has no rows");
    };
    Ok(arrow::compute::concat_batches(&first.schema(), &batches)?)
}

fn encode(batch: &RecordBatch) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut out, batch.schema(), None)?;
    w.write(batch)?;
    w.close()?;
    Ok(out)
}

/// Writes a Parquet file to a path (beside it, then renamed: a reader never sees half a file)
/// or to a storage URL (one put: all or nothing).
pub(super) async fn write_parquet(
    arg: &str,
    conn: Option<&Connection>,
    batch: &RecordBatch,
) -> anyhow::Result<()> {
    let bytes = encode(batch)?;
    if is_url(arg) {
        let (loc, name) = split(arg, conn)?;
        loc.put_bytes(&loc.key(&name), bytes)
            .await
            .with_context(|| format!("--output {}", dagctl::engine::store::redact_url(arg)))?;
        return Ok(());
    }
    let path = Path::new(arg);
    // Not a device, a pipe or a folder: renaming a file over one would replace the node
    // (`/dev/full` as root), and writing into one leaves no file to read back.
    if path.metadata().is_ok_and(|m| !m.is_file()) {
        bail!(
            "--output {arg} exists and is not a regular file (a device, pipe or folder): \
             give a file path or a storage URL"
        );
    }
    let tmp = path.with_extension("parquet.partial");
    std::fs::write(&tmp, bytes).with_context(|| format!("--output {arg}"))?;
    std::fs::rename(&tmp, path).with_context(|| format!("--output {arg}"))?;
    Ok(())
}
