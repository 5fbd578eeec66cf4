//! What an operator sees while it runs: [`TaskContext`], and what it returns:
//! [`TaskOutcome`] or [`TaskError`].

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use crate::store::Store;

/// How a try ended well.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum TaskOutcome {
    /// Success, with an optional value stored as the XCom `return_value`.
    Success(Option<serde_json::Value>),
    /// The task decided to skip itself (the reason goes to its log).
    Skipped(String),
    /// Success; only these direct downstream tasks run, the others are skipped.
    Branch(Vec<String>),
    /// Not done yet: free the slot and run again at `until` (sensors in `reschedule` mode).
    /// The try ends `deferred`; the next one does not use up a retry.
    Defer {
        /// When to try again.
        until: DateTime<Utc>,
    },
    /// Success, and the condition was false: downstream work is skipped. With
    /// `skip_all_downstream` every task downstream is skipped whatever its trigger rule
    /// (Airflow's `ignore_downstream_trigger_rules: true`, the default); otherwise only the
    /// direct downstream tasks are, and trigger rules decide for the rest.
    ShortCircuit {
        /// Skip every downstream task, not only the direct ones.
        skip_all_downstream: bool,
    },
}

/// Why a try failed, and whether retrying can help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskError {
    /// What went wrong, for the try's record and log.
    pub message: String,
    /// `false` fails the task at once, whatever retries remain (Airflow's
    /// `AirflowFailException`); `true` uses a retry if one is left.
    pub retryable: bool,
}

impl TaskError {
    /// A failure that a retry may fix (the default for most errors).
    pub fn retryable(message: impl Into<String>) -> Self {
        TaskError {
            message: message.into(),
            retryable: true,
        }
    }

    /// A failure that no retry can fix (bad arguments, missing input that will not appear).
    pub fn fatal(message: impl Into<String>) -> Self {
        TaskError {
            message: message.into(),
            retryable: false,
        }
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TaskError {}

/// The most a try's log keeps, in bytes ([`LOG_CAP`] unless `DAGCTL_LOG_MAX_BYTES` says
/// otherwise): a task printing without end fills neither memory nor the store.
pub const LOG_CAP: usize = 16 << 20;

fn log_cap() -> usize {
    static CAP: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CAP.get_or_init(|| {
        std::env::var("DAGCTL_LOG_MAX_BYTES")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .filter(|n| *n >= 1024)
            .unwrap_or(LOG_CAP)
    })
}

/// The log of one try: lines accumulate here and are written to the store in chunks (on each
/// heartbeat and when the try ends), so a crash loses at most the last few seconds of output.
/// It keeps at most [`LOG_CAP`] bytes per try (`DAGCTL_LOG_MAX_BYTES`): the first three
/// quarters as they come, and the last quarter, written when the try ends behind a line that
/// says how much was cut between them. Secret values are masked (see
/// [`Masker`](crate::secrets::Masker)) before anything leaves the buffer.
#[derive(Debug, Clone, Default)]
pub struct LogBuffer(Arc<Mutex<LogInner>>);

#[derive(Debug, Default)]
struct LogInner {
    pending: String,
    next_seq: u32,
    kept: usize,
    /// Past the head's share of the cap: the latest lines, oldest first.
    tail: std::collections::VecDeque<String>,
    tail_bytes: usize,
    cutting: bool,
    dropped_lines: u64,
    dropped_bytes: u64,
    masker: Option<Arc<crate::secrets::Masker>>,
}

impl LogBuffer {
    /// A buffer that masks these secrets in everything it hands out.
    pub fn masked(masker: Arc<crate::secrets::Masker>) -> LogBuffer {
        LogBuffer(Arc::new(Mutex::new(LogInner {
            masker: Some(masker),
            ..LogInner::default()
        })))
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, LogInner> {
        // A std mutex: held for a push only, never across an await.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Lines cut from the middle past the cap, so far.
    pub fn dropped_lines(&self) -> u64 {
        self.inner().dropped_lines
    }

    /// Appends a line.
    pub fn line(&self, line: &str) {
        let mut inner = self.inner();
        // NUL cannot be stored as text (SQL ends there, PostgreSQL refuses it).
        let mut line = if line.contains('\0') {
            line.replace('\0', "\u{FFFD}")
        } else {
            line.to_string()
        };
        if !line.ends_with('\n') {
            line.push('\n');
        }
        let cap = log_cap();
        let head = cap - cap / 4;
        if !inner.cutting && inner.kept + line.len() <= head {
            inner.kept += line.len();
            inner.pending.push_str(&line);
            return;
        }
        inner.cutting = true;
        inner.tail_bytes += line.len();
        inner.tail.push_back(line);
        while inner.tail_bytes > cap / 4 && inner.tail.len() > 1 {
            let Some(old) = inner.tail.pop_front() else {
                break;
            };
            inner.tail_bytes -= old.len();
            inner.dropped_lines += 1;
            inner.dropped_bytes += old.len() as u64;
        }
    }

    /// Takes what was logged since the last call, with its chunk number (the tail kept past
    /// the cap waits for [`finish`](Self::finish)).
    pub fn take(&self) -> Option<(u32, String)> {
        let mut inner = self.inner();
        if inner.pending.is_empty() {
            return None;
        }
        let seq = inner.next_seq;
        inner.next_seq += 1;
        let text = std::mem::take(&mut inner.pending);
        // The chunk is copied only when it holds a secret.
        let text = match &inner.masker {
            Some(m) if m.finds(&text) => m.mask(&text).into_owned(),
            _ => text,
        };
        Some((seq, text))
    }

    /// Takes the rest of the log when the try ends: what is pending, then, if the cap was
    /// reached, a line saying how much was cut and the tail.
    pub fn finish(&self) -> Option<(u32, String)> {
        {
            let mut inner = self.inner();
            if inner.cutting {
                let cap = log_cap();
                let (lines, bytes) = (inner.dropped_lines, inner.dropped_bytes);
                let note = if lines > 0 {
                    format!(
                        "[dagctl: {lines} lines ({bytes} bytes) cut here: this try's log reached its cap of {cap} bytes (DAGCTL_LOG_MAX_BYTES) and keeps its first and last lines]\n"
                    )
                } else {
                    String::new()
                };
                inner.pending.push_str(&note);
                let tail: Vec<String> = inner.tail.drain(..).collect();
                for l in tail {
                    inner.pending.push_str(&l);
                }
                inner.tail_bytes = 0;
                inner.cutting = false;
            }
        }
        self.take()
    }
}

/// Shared objects operators may need (object stores, HTTP clients, …), by type.
#[derive(Default, Clone)]
pub struct Resources(HashMap<TypeId, Arc<dyn Any + Send + Sync>>);

impl fmt::Debug for Resources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Resources({} entries)", self.0.len())
    }
}

impl Resources {
    /// Adds or replaces the resource of type `T`.
    pub fn insert<T: Any + Send + Sync>(&mut self, value: T) {
        self.0.insert(TypeId::of::<T>(), Arc::new(value));
    }

    /// The resource of type `T`, if one was added.
    pub fn get<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.0
            .get(&TypeId::of::<T>())
            .and_then(|v| Arc::clone(v).downcast::<T>().ok())
    }
}

/// Side effects of a try that are committed only if it succeeds, in the same transaction as
/// its end state.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    pub xcom: Vec<(String, serde_json::Value)>,
    pub variables: Vec<(String, String)>,
}

/// Everything an operator's `execute` can use.
pub struct TaskContext {
    /// The DAG.
    pub dag_id: String,
    /// The task.
    pub task_id: String,
    /// The run.
    pub run_id: String,
    /// This try's number (1 for the first).
    pub try_number: u32,
    /// Retries + 1.
    pub max_tries: u32,
    /// The run's logical date.
    pub logical_date: DateTime<Utc>,
    /// Start of the run's data interval.
    pub data_interval_start: DateTime<Utc>,
    /// End of the run's data interval.
    pub data_interval_end: DateTime<Utc>,
    /// The DAG's params with the run's overrides.
    pub params: serde_json::Map<String, serde_json::Value>,
    /// `dag_run.conf`.
    pub conf: serde_json::Value,
    /// The task's arguments with every template rendered.
    pub args: serde_json::Value,
    /// The ids of the task's direct downstream tasks (for branching).
    pub downstream: Vec<String>,
    /// The datasets the task reads (its `inlets`, by URI).
    pub inlets: Vec<String>,
    /// The datasets the task updates (its `outlets`, by URI).
    pub outlets: Vec<String>,
    /// When the task's first try started (sensors measure their `timeout` from it).
    pub first_started: DateTime<Utc>,
    /// Cancelled when the try times out or the worker shuts down; long work should watch it.
    pub cancel: CancellationToken,
    pub(crate) clock: crate::clock::Clock,
    pub(crate) log: LogBuffer,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) runs: crate::run::control::RunControl,
    /// This try's run: what runs it creates are caused by.
    pub(crate) triggered_by: crate::store::RunKey,
    pub(crate) pending: Mutex<Pending>,
    pub(crate) resources: Arc<Resources>,
}

impl fmt::Debug for TaskContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskContext")
            .field("dag_id", &self.dag_id)
            .field("task_id", &self.task_id)
            .field("run_id", &self.run_id)
            .field("try_number", &self.try_number)
            .finish_non_exhaustive()
    }
}

impl TaskContext {
    /// Creates a queued run of a DAG, caused by this try's run (`trigger_dag`): whoever
    /// drives this run (`dagctl trigger`, `backfill`, the scheduler) drives that one too.
    ///
    /// # Errors
    /// An unknown DAG, a bad conf or a run id that exists (not retryable), or a store failure
    /// (retryable).
    pub async fn trigger_run(
        &self,
        mut new: crate::run::NewRun,
    ) -> Result<crate::store::DagRun, TaskError> {
        new.triggered_by = Some(self.triggered_by.clone());
        self.runs.create(new, &[]).await.map_err(engine_error)
    }

    /// This try's run.
    pub fn run_key(&self) -> crate::store::RunKey {
        self.triggered_by.clone()
    }

    /// Clears every task of a run so that it runs again, now caused by this try's run.
    ///
    /// # Errors
    /// An unknown DAG or run (not retryable), or a store failure (retryable).
    pub async fn rerun(&self, key: &crate::store::RunKey) -> Result<(), TaskError> {
        self.runs
            .clear(
                key,
                &crate::run::control::Clear::All,
                Some(self.triggered_by.clone()),
            )
            .await
            .map(drop)
            .map_err(engine_error)
    }

    /// The records of extensions (experiment runs, a model registry): the one part of the
    /// store an operator writes directly. Task state changes only through the executor.
    pub fn records(&self) -> &dyn crate::store::RecordStore {
        self.store.as_ref()
    }

    /// Writes a line to this try's log (`dagctl tasks logs`).
    pub fn log(&self, line: impl fmt::Display) {
        let line = line.to_string();
        tracing::debug!(target: "dagctl::task", task = %self.task_id, "{line}");
        self.log.line(&line);
    }

    /// The arguments read into the operator's typed struct.
    ///
    /// # Errors
    /// A fatal [`TaskError`] (arguments were checked at load time, so this means a template
    /// rendered into something of the wrong type).
    pub fn args<A: DeserializeOwned>(&self) -> Result<A, TaskError> {
        crate::operator::parse_args(&self.args)
            .map_err(|e| TaskError::fatal(format!("bad arguments after rendering: {e}")))
    }

    /// A Variable's value.
    ///
    /// # Errors
    /// A retryable [`TaskError`] if the store cannot be read.
    pub async fn variable(&self, key: &str) -> Result<Option<String>, TaskError> {
        self.store
            .variable(key)
            .await
            .map_err(|e| TaskError::retryable(e.to_string()))
    }

    /// Sets a Variable when (and only if) this try succeeds.
    pub fn set_variable(&self, key: impl Into<String>, value: impl Into<String>) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        p.variables.push((key.into(), value.into()));
    }

    /// Pushes an XCom, stored when (and only if) this try succeeds.
    pub fn xcom_push(&self, key: impl Into<String>, value: serde_json::Value) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        p.xcom.push((key.into(), value));
    }

    /// An XCom of another task of this run (`return_value` for its result); a large value
    /// kept in the data location is read back from there.
    ///
    /// # Errors
    /// A retryable [`TaskError`] if the store or the data location cannot be read.
    pub async fn xcom_pull(
        &self,
        task_id: &str,
        key: &str,
    ) -> Result<Option<serde_json::Value>, TaskError> {
        let stored = self
            .store
            .xcom(&self.run_key(), task_id, key)
            .await
            .map_err(|e| TaskError::retryable(e.to_string()))?;
        match stored {
            Some(v) => Ok(Some(
                super::xcom_spill::resolved(&self.resources, self.store.as_ref(), v).await?,
            )),
            None => Ok(None),
        }
    }

    /// Every XCom of this run, as (task, key, value), large values read back from the data
    /// location (what a Python task's `ti.xcom_pull` is given).
    ///
    /// # Errors
    /// A retryable [`TaskError`] if the store or the data location cannot be read.
    pub async fn run_xcoms(&self) -> Result<Vec<(String, String, serde_json::Value)>, TaskError> {
        let stored = self
            .store
            .xcoms(&self.run_key())
            .await
            .map_err(|e| TaskError::retryable(e.to_string()))?;
        let mut out = Vec::with_capacity(stored.len());
        for (task, key, value) in stored {
            let value =
                super::xcom_spill::resolved(&self.resources, self.store.as_ref(), value).await?;
            out.push((task, key, value));
        }
        Ok(out)
    }

    /// The current time, on the executor's clock (which tests can pause).
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The state of `dag_id`'s latest run for `logical_date`, if it has one.
    ///
    /// # Errors
    /// A retryable [`TaskError`] if the store cannot be read.
    pub async fn dag_run_state(
        &self,
        dag_id: &str,
        logical_date: DateTime<Utc>,
    ) -> Result<Option<(String, crate::state::RunState)>, TaskError> {
        let runs = self
            .store
            .list_runs(&crate::store::RunFilter {
                dag_id: Some(dag_id.to_string()),
                ..Default::default()
            })
            .await
            .map_err(|e| TaskError::retryable(e.to_string()))?;
        Ok(runs
            .into_iter()
            .find(|r| r.logical_date == logical_date)
            .map(|r| (r.run_id, r.state)))
    }

    /// The state of a task instance of another run.
    ///
    /// # Errors
    /// A retryable [`TaskError`] if the store cannot be read.
    pub async fn task_state(
        &self,
        dag_id: &str,
        run_id: &str,
        task_id: &str,
    ) -> Result<Option<crate::state::TaskState>, TaskError> {
        Ok(self
            .store
            .task_instances(&crate::store::RunKey::new(dag_id, run_id))
            .await
            .map_err(|e| TaskError::retryable(e.to_string()))?
            .into_iter()
            .find(|t| t.task_id == task_id)
            .map(|t| t.state))
    }

    /// The error of the newest try of `task_id` in this run that has one (what a failure
    /// callback reports).
    ///
    /// # Errors
    /// A retryable [`TaskError`] if the store cannot be read.
    pub async fn last_error(&self, task_id: &str) -> Result<Option<String>, TaskError> {
        let tries = self
            .store
            .tries(&self.run_key(), Some(task_id))
            .await
            .map_err(|e| TaskError::retryable(e.to_string()))?;
        Ok(tries
            .into_iter()
            .filter(|t| t.error.is_some())
            .max_by_key(|t| t.try_number)
            .and_then(|t| t.error))
    }

    /// A named connection (`conn_id`), secrets included: never log it whole.
    ///
    /// # Errors
    /// A retryable [`TaskError`] if the store cannot be read.
    pub async fn connection(
        &self,
        name: &str,
    ) -> Result<Option<crate::store::Connection>, TaskError> {
        Ok(self
            .store
            .connections()
            .await
            .map_err(|e| TaskError::retryable(e.to_string()))?
            .into_iter()
            .find(|c| c.name == name))
    }

    /// A shared resource registered with the engine.
    pub fn resource<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.resources.get::<T>()
    }
}

/// A task error from an engine error: the store's are retryable, the rest are not.
fn engine_error(e: crate::engine::EngineError) -> TaskError {
    match e {
        crate::engine::EngineError::Store(_) => TaskError::retryable(e.to_string()),
        e => TaskError::fatal(e.to_string()),
    }
}
