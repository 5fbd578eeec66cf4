//! Sensors over the local machine: `file_sensor`.

use async_trait::async_trait;
use dagctl_engine::sensor::{sense, split_args};
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
        let (_, own) = split_args(args)?;
        parse_args::<Args>(&own).map(drop)
    }

    async fn execute(&self, ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
        let (settings, own) = split_args(&ctx.args).map_err(|e| TaskError::fatal(e.to_string()))?;
        let a: Args = parse_args(&own).map_err(|e| TaskError::fatal(e.to_string()))?;
        let path = std::path::PathBuf::from(&a.filepath);
        let what = format!("does `{}` exist", a.filepath);
        sense(ctx, &settings, &what, || {
            let path = path.clone();
            async move { Ok(tokio::fs::try_exists(&path).await.unwrap_or(false)) }
        })
        .await
    }
}
