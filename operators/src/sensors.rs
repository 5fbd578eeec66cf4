//! Sensors on files and object stores: `file_sensor`, `object_sensor`, `partition_sensor`.

use async_trait::async_trait;
use dagctl_engine::sensor::{check_args, read_args, sense, split_args};
use dagctl_engine::{ArgsError, Operator, TaskContext, TaskError, TaskOutcome, parse_args};
use serde::Deserialize;

/// Waits for a file (or folder) to exist (Airflow's `FileSensor`).
#[derive(Debug, Clone, Copy, Default)]
pub struct FileSensor;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    /// The path to wait for (templated).
    filepath: String,
}

#[async_trait]
impl Operator for FileSensor {
    fn name(&self) -> &str {
        "file_sensor"
    }

    fn summary(&self) -> &str {
        "waits until `filepath` exists on the local filesystem"
    }

    fn check_args(&self, args: &serde_json::Value) -> Result<(), ArgsError> {
        check_args::<Args>(args)
    }

    async fn execute(&self, ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
        let (settings, a): (_, Args) = read_args(ctx)?;
        let path = std::path::PathBuf::from(&a.filepath);
        let what = format!("does `{}` exist", a.filepath);
        sense(ctx, &settings, &what, || {
            let path = path.clone();
            async move { Ok(tokio::fs::try_exists(&path).await.unwrap_or(false)) }
        })
        .await
    }
}

/// Waits for an object (`key`) or any object under a `prefix` in a storage location.
#[derive(Debug, Clone, Copy, Default)]
pub struct ObjectSensor;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ObjectArgs {
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    prefix: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    conn_id: Option<String>,
}

#[async_trait]
impl Operator for ObjectSensor {
    fn name(&self) -> &str {
        "object_sensor"
    }

    fn summary(&self) -> &str {
        "waits until an object `key` (or anything under `prefix`) exists in a storage location"
    }

    fn check_args(&self, args: &serde_json::Value) -> Result<(), ArgsError> {
        let (_, own) = split_args(args)?;
        let a: ObjectArgs = parse_args(&own)?;
        if a.key.is_some() == a.prefix.is_some() {
            return Err(ArgsError::at(
                "key",
                "give exactly one of `key` and `prefix`",
            ));
        }
        Ok(())
    }

    async fn execute(&self, ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
        use futures::StreamExt;
        use object_store::ObjectStoreExt;
        let (settings, a): (_, ObjectArgs) = read_args(ctx)?;
        let loc = crate::storage::resolve(ctx, a.url.as_deref(), a.conn_id.as_deref()).await?;
        let (what, path, exact) = match (&a.key, &a.prefix) {
            (Some(k), _) => (format!("does `{k}` exist in {}", loc.url), loc.key(k), true),
            (None, Some(p)) => (
                format!("is there anything under `{p}` in {}", loc.url),
                loc.key(p),
                false,
            ),
            (None, None) => return Err(TaskError::fatal("no key or prefix")),
        };
        sense(ctx, &settings, &what, || {
            let (store, path) = (loc.store.clone(), path.clone());
            async move {
                if exact {
                    match store.head(&path).await {
                        Ok(_) => Ok(true),
                        Err(object_store::Error::NotFound { .. }) => Ok(false),
                        Err(e) => Err(TaskError::retryable(e.to_string())),
                    }
                } else {
                    match store.list(Some(&path)).next().await {
                        None => Ok(false),
                        Some(Ok(_)) => Ok(true),
                        Some(Err(e)) => Err(TaskError::retryable(e.to_string())),
                    }
                }
            }
        })
        .await
    }
}

/// Waits for a dataset's partition of a day (this run's logical date by default).
#[derive(Debug, Clone, Copy, Default)]
pub struct PartitionSensor;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PartitionArgs {
    dataset: String,
    #[serde(default)]
    date: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    conn_id: Option<String>,
}

#[async_trait]
impl Operator for PartitionSensor {
    fn name(&self) -> &str {
        "partition_sensor"
    }

    fn summary(&self) -> &str {
        "waits until a dataset's partition for a date (the logical date by default) exists"
    }

    fn check_args(&self, args: &serde_json::Value) -> Result<(), ArgsError> {
        check_args::<PartitionArgs>(args)
    }

    async fn execute(&self, ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
        let (settings, a): (_, PartitionArgs) = read_args(ctx)?;
        let day = match &a.date {
            None => ctx.logical_date.date_naive(),
            Some(t) => dagctl_engine::spec::parse_date(t)
                .ok_or_else(|| TaskError::fatal(format!("date `{t}` is not a date")))?
                .date_naive(),
        };
        let loc = crate::storage::resolve(ctx, a.url.as_deref(), a.conn_id.as_deref()).await?;
        let ds = crate::dataset::Dataset::new(loc, &a.dataset);
        let what = format!("is the {day} partition of `{}` there", a.dataset);
        sense(ctx, &settings, &what, || {
            let ds = ds.clone();
            async move {
                ds.has_day(day)
                    .await
                    .map_err(|e| TaskError::retryable(e.to_string()))
            }
        })
        .await
    }
}
