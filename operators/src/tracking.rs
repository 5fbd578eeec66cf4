//! Experiment tracking: every training run recorded in the state store (collection
//! `experiment_runs`), with its parameters, metrics, data reference, duration, artifacts and
//! the DAG run that produced it — what MLflow calls a run. `dagctl experiments runs|show`.

use chrono::{DateTime, Utc};
use dagctl_engine::{Expect, RecordStore, RecordWrite, StoreError};
use serde::{Deserialize, Serialize};

use crate::hash::sha256_hex;
use crate::ml::operator::TrainResult;

/// The collection of experiment runs.
pub const COLLECTION: &str = "experiment_runs";

/// One recorded training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentRun {
    /// Its id: 12 hex digits, the same for the same DAG run and task (a retry updates it).
    pub id: String,
    /// The experiment (the DAG id unless the task names one).
    pub experiment: String,
    /// The DAG that trained.
    pub dag_id: String,
    /// Its run.
    pub run_id: String,
    /// The training task.
    pub task_id: String,
    /// When training started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub ended_at: DateTime<Utc>,
    /// Wall seconds.
    pub duration_seconds: f64,
    /// Why it trained: the run's `reason`s (drift, performance, model_age, a person's words),
    /// else `new data`.
    #[serde(default)]
    pub reasons: Vec<String>,
    /// Data, candidates (parameters, metrics, artifacts with their SHA-256) and choices.
    pub result: TrainResult,
}

/// The id of the experiment run of a DAG run's task.
pub fn run_key(dag_id: &str, run_id: &str, task_id: &str) -> String {
    sha256_hex(format!("{dag_id}\n{run_id}\n{task_id}").as_bytes())[..12].to_string()
}

/// Records (or, for a retried task, replaces) an experiment run.
///
/// # Errors
/// The store's error.
pub async fn record(store: &dyn RecordStore, run: &ExperimentRun) -> Result<(), StoreError> {
    let value = serde_json::to_value(run).map_err(|e| StoreError::Corrupt {
        what: "experiment run".into(),
        detail: e.to_string(),
    })?;
    let expect = match store.record(COLLECTION, &run.id).await? {
        Some(r) => Expect::Version(r.version),
        None => Expect::Absent,
    };
    store
        .write_records(&[RecordWrite {
            collection: COLLECTION.into(),
            key: run.id.clone(),
            value,
            expect,
        }])
        .await
}

fn parse(r: dagctl_engine::Record) -> Result<ExperimentRun, StoreError> {
    serde_json::from_value(r.value).map_err(|e| StoreError::Corrupt {
        what: format!("experiment run `{}`", r.key),
        detail: e.to_string(),
    })
}

/// Experiment runs, oldest first, of one experiment or all.
///
/// # Errors
/// The store's error.
pub async fn list(
    store: &dyn RecordStore,
    experiment: Option<&str>,
) -> Result<Vec<ExperimentRun>, StoreError> {
    let mut runs: Vec<ExperimentRun> = store
        .records(COLLECTION, "")
        .await?
        .into_iter()
        .map(parse)
        .collect::<Result<_, _>>()?;
    runs.retain(|r| experiment.is_none_or(|e| r.experiment == e));
    runs.sort_by(|a, b| a.started_at.cmp(&b.started_at).then(a.id.cmp(&b.id)));
    Ok(runs)
}

/// The run with this id, or the only one whose id starts with it.
///
/// # Errors
/// The store's error.
pub async fn find(store: &dyn RecordStore, id: &str) -> Result<Vec<ExperimentRun>, StoreError> {
    store
        .records(COLLECTION, id)
        .await?
        .into_iter()
        .map(parse)
        .collect()
}
