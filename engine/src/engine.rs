//! [`Engine`] and its builder: the embedding API.
//!
//! ```no_run
//! # async fn demo() -> Result<(), dagctl_engine::EngineError> {
//! use dagctl_engine::{Engine, TriggerOptions};
//!
//! let engine = Engine::builder()
//!     .dags_folder("dags")
//!     .home(".dagctl")
//!     .build()
//!     .await?;
//! let outcome = engine.trigger("my_dag", TriggerOptions::default()).await?;
//! println!("{}: {}", outcome.run_id, outcome.state);
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use tokio::sync::broadcast;

use crate::context::Resources;
use crate::dag::Dag;
use crate::dagbag::DagBag;
use crate::diagnostic::Diagnostics;
use crate::events::{EVENT_BUFFER, Event};
use crate::executor::{Executor, ExecutorConfig, RunError, RunOutcome};
use crate::operator::{Operator, OperatorRegistry};
use crate::pools::{Pool, Pools};
use crate::run::NewRun;
use crate::run::control::RunControl;
use crate::state::RunType;
use crate::store::{DagFlags, DagRun, RunKey, SqlStore, Store, StoreError};

/// Errors of the [`Engine`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The state store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A run could not be executed.
    #[error(transparent)]
    Run(#[from] RunError),
    /// No valid DAG has this id.
    #[error("no valid DAG `{dag_id}`{hint}")]
    UnknownDag {
        /// The id asked for.
        dag_id: String,
        /// A suggestion or a pointer to `dagctl validate`.
        hint: String,
    },
    /// No task has this id in the DAG.
    #[error("DAG `{dag_id}` has no task `{task_id}`")]
    UnknownTask {
        /// The DAG.
        dag_id: String,
        /// The id asked for.
        task_id: String,
    },
    /// No run has this id.
    #[error("no run `{run_id}`{hint}")]
    UnknownRun {
        /// The id asked for.
        run_id: String,
        /// What to do.
        hint: String,
    },
    /// Options the caller gave that cannot be used (a conf, a run id, a backfill range, a
    /// state to mark): the caller's to fix; never an internal state.
    #[error("{0}")]
    BadOptions(String),
    /// An XCom value kept in the data location cannot be read back.
    #[error("XCom `{key}` of task `{task_id}`: {message}")]
    XcomUnreadable {
        /// The task that pushed it.
        task_id: String,
        /// Its key.
        key: String,
        /// Why (the data location's error).
        message: String,
    },
}

/// How to trigger a run.
#[derive(Debug, Clone, Default)]
pub struct TriggerOptions {
    /// `dag_run.conf`: a JSON object (its keys also override `params`).
    pub conf: Option<serde_json::Value>,
    /// The logical date; now when absent.
    pub logical_date: Option<DateTime<Utc>>,
    /// The run id; `manual__<logical date>` when absent.
    pub run_id: Option<String>,
}

/// Configures an [`Engine`].
pub struct EngineBuilder {
    dags_folder: Option<PathBuf>,
    home: PathBuf,
    store_url: Option<String>,
    store: Option<Arc<dyn Store>>,
    registry: OperatorRegistry,
    resources: Resources,
    dags: Vec<Dag>,
    config: ExecutorConfig,
    isolation: Option<crate::executor::Isolation>,
}

impl Default for EngineBuilder {
    fn default() -> Self {
        EngineBuilder {
            dags_folder: None,
            home: PathBuf::from(".dagctl"),
            store_url: None,
            store: None,
            registry: OperatorRegistry::with_builtins(),
            resources: Resources::default(),
            dags: Vec::new(),
            config: ExecutorConfig::default(),
            isolation: None,
        }
    }
}

impl std::fmt::Debug for EngineBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineBuilder")
            .field("dags_folder", &self.dags_folder)
            .field("home", &self.home)
            .finish_non_exhaustive()
    }
}

impl EngineBuilder {
    /// Loads DAG files from this folder.
    pub fn dags_folder(mut self, path: impl Into<PathBuf>) -> Self {
        self.dags_folder = Some(path.into());
        self
    }

    /// Where state lives by default (`<home>/dagctl.db`); `./.dagctl` unless set.
    pub fn home(mut self, path: impl Into<PathBuf>) -> Self {
        self.home = path.into();
        self
    }

    /// The state store URL (`sqlite://PATH` or `postgres://…`), instead of the default.
    pub fn store_url(mut self, url: impl Into<String>) -> Self {
        self.store_url = Some(url.into());
        self
    }

    /// A store object, instead of a URL.
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// Replaces the operator registry (the engine's built-ins are there by default).
    pub fn registry(mut self, registry: OperatorRegistry) -> Self {
        self.registry = registry;
        self
    }

    /// Registers one more operator.
    pub fn operator(mut self, op: impl Operator) -> Self {
        self.registry.register(op);
        self
    }

    /// Shares an object with operators (`ctx.resource::<T>()`).
    pub fn resource<T: std::any::Any + Send + Sync>(mut self, value: T) -> Self {
        self.resources.insert(value);
        self
    }

    /// Adds a DAG built in code (see [`crate::DagBuilder`]).
    pub fn dag(mut self, dag: Dag) -> Self {
        self.dags.push(dag);
        self
    }

    /// Lease and heartbeat timing.
    pub fn executor_config(mut self, config: ExecutorConfig) -> Self {
        self.config = config;
        self
    }

    /// How a try runs in a process of its own, after an earlier try of its task died with
    /// its process (see [`crate::executor::Isolation`]): then a process killed from outside
    /// never fails a task. Without it, a task orphaned three times fails.
    pub fn isolation(mut self, isolation: crate::executor::Isolation) -> Self {
        self.isolation = Some(isolation);
        self
    }

    /// Connects the store (creating and migrating it if needed) and loads the DAGs. DAG files
    /// with errors do not stop the build: their DAGs are left out and their problems are in
    /// [`Engine::diagnostics`].
    ///
    /// # Errors
    /// [`EngineError::Store`] if the store cannot be opened.
    pub async fn build(self) -> Result<Engine, EngineError> {
        let store: Arc<dyn Store> = match self.store {
            Some(s) => s,
            None => {
                let url = self
                    .store_url
                    .unwrap_or_else(|| SqlStore::default_url(&self.home));
                Arc::new(SqlStore::connect(&url).await?)
            }
        };
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let set = Arc::new(RwLock::new(DagSet::default()));
        let executor = Executor::new(
            Arc::clone(&store),
            Arc::new(self.registry.clone()),
            Arc::new(self.resources),
            events.clone(),
            self.config,
            Arc::clone(&set),
        );
        if let Some(isolation) = self.isolation {
            executor.isolate_with(isolation);
        }
        let engine = Engine {
            store,
            folder: self.dags_folder,
            code_dags: self.dags.into_iter().map(Arc::new).collect(),
            set,
            registry: self.registry,
            executor,
            events,
        };
        engine.reload().await?;
        Ok(engine)
    }
}

mod clean;
mod lone_task;

pub use clean::CleanOutcome;

/// The DAGs in force, with the problems of the files they came from, the pools, and what
/// the store keeps of each DAG (paused, first seen).
#[derive(Debug, Default)]
pub(crate) struct DagSet {
    pub(crate) dags: BTreeMap<String, Arc<Dag>>,
    pub(crate) diagnostics: Diagnostics,
    pub(crate) pools: Pools,
    pub(crate) flags: BTreeMap<String, DagFlags>,
}

/// A configured engine: DAGs, a store, operators, and an executor.
pub struct Engine {
    pub(crate) store: Arc<dyn Store>,
    folder: Option<PathBuf>,
    code_dags: Vec<Arc<Dag>>,
    set: Arc<RwLock<DagSet>>,
    registry: OperatorRegistry,
    pub(crate) executor: Executor,
    pub(crate) events: broadcast::Sender<Event>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("folder", &self.folder)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Starts configuring an engine.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    /// The state store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The operators.
    pub fn registry(&self) -> &OperatorRegistry {
        &self.registry
    }

    fn set(&self) -> std::sync::RwLockReadGuard<'_, DagSet> {
        // A std lock: held only to clone out of it, never across an await.
        self.set.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The pools in force (defaults, `pools.yaml`, `dagctl pools set`).
    pub fn pools(&self) -> Pools {
        self.set().pools.clone()
    }

    /// The valid DAGs, by id.
    pub fn dags(&self) -> Vec<Arc<Dag>> {
        self.set().dags.values().cloned().collect()
    }

    /// Problems found in the DAG folder.
    pub fn diagnostics(&self) -> Diagnostics {
        self.set().diagnostics.clone()
    }

    /// Reads the DAG folder and the stored pools again (DAGs built in code are kept).
    /// Runs in progress keep the DAG they started with.
    ///
    /// # Errors
    /// [`EngineError::Store`] if the pools cannot be read.
    pub async fn reload(&self) -> Result<(), EngineError> {
        let mut extra = Pools::default();
        for (name, slots, description) in self.store.pools().await? {
            extra.set(name, Pool { slots, description });
        }
        let mut set = DagSet {
            pools: extra.clone(),
            ..DagSet::default()
        };
        if let Some(folder) = &self.folder {
            let bag = DagBag::load_folder_with_pools(folder, &self.registry, &extra);
            set.pools = bag.pools().clone();
            set.diagnostics = bag.diagnostics().clone();
            set.dags = bag
                .into_dags()
                .into_iter()
                .map(|(k, v)| (k, Arc::new(v)))
                .collect();
        }
        for dag in &self.code_dags {
            set.dags.insert(dag.id.clone(), Arc::clone(dag));
        }
        let known: Vec<crate::store::DagRegistration> = set
            .dags
            .values()
            .map(|d| crate::store::DagRegistration {
                dag_id: d.id.clone(),
                paused_upon_creation: d.paused_upon_creation,
            })
            .collect();
        set.flags = self
            .store
            .register_dags(&known, self.executor.now())
            .await?
            .into_iter()
            .map(|f| (f.dag_id.clone(), f))
            .collect();
        self.executor.pools().set_sizes(&set.pools);
        *self.set.write().unwrap_or_else(|e| e.into_inner()) = set;
        Ok(())
    }

    /// A stream of run and task state changes from now on.
    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// The DAG with this id.
    ///
    /// # Errors
    /// [`EngineError::UnknownDag`] with the closest id or a pointer to `dagctl validate`.
    pub fn dag(&self, dag_id: &str) -> Result<Arc<Dag>, EngineError> {
        self.runs().dag(dag_id)
    }

    /// The XCom value `key` pushed by `task_id` in `run`, as tasks see it (a value kept in
    /// the data location read back).
    ///
    /// # Errors
    /// The store fails, or the data location cannot be read.
    pub async fn xcom(
        &self,
        run: &RunKey,
        task_id: &str,
        key: &str,
    ) -> Result<Option<serde_json::Value>, EngineError> {
        let Some(value) = self.store.xcom(run, task_id, key).await? else {
            return Ok(None);
        };
        self.executor
            .resolved_xcom(value)
            .await
            .map(Some)
            .map_err(|e| EngineError::XcomUnreadable {
                task_id: task_id.to_string(),
                key: key.to_string(),
                message: e.message,
            })
    }

    /// This process's worker id (`host:pid:nonce-n`), as recorded with the tries it runs.
    pub fn worker_id(&self) -> &str {
        self.executor.worker_id()
    }

    /// Creating and changing runs: clear, mark, cancel, pause.
    pub fn runs(&self) -> &RunControl {
        self.executor.runs()
    }

    /// Whether a DAG is paused.
    pub fn is_paused(&self, dag_id: &str) -> bool {
        self.set().flags.get(dag_id).is_some_and(|f| f.paused)
    }

    /// What the store keeps of a DAG (paused, first seen), if it was registered.
    pub(crate) fn flags(&self, dag_id: &str) -> Option<DagFlags> {
        self.set().flags.get(dag_id).cloned()
    }

    /// Creates a run (state `queued`) with its task instances, without executing it.
    ///
    /// # Errors
    /// Unknown DAG, a `conf` that is not a JSON object, or a run id that exists.
    pub async fn create_run(
        &self,
        dag_id: &str,
        options: TriggerOptions,
    ) -> Result<DagRun, EngineError> {
        let dag = self.dag(dag_id)?;
        let logical_date = options.logical_date.unwrap_or_else(|| self.executor.now());
        let mut new = NewRun::new(
            &dag.id,
            RunType::Manual,
            dag.timetable().manual_interval(logical_date),
        );
        // A manual run's logical date is the one asked for, whatever its data interval.
        new.logical_date = logical_date;
        new.conf = options.conf.unwrap_or_else(|| serde_json::json!({}));
        new.run_id = options.run_id;
        self.runs().create(new, &[]).await
    }

    /// Creates a run and executes it to its end (only it: the runs it causes stay queued; see
    /// [`Engine::trigger_following`]).
    ///
    /// # Errors
    /// As [`Engine::create_run`] and [`Engine::execute`]; a failed task is not an error, the
    /// outcome says `failed`.
    pub async fn trigger(
        &self,
        dag_id: &str,
        options: TriggerOptions,
    ) -> Result<RunOutcome, EngineError> {
        let run = self.create_run(dag_id, options).await?;
        self.execute(dag_id, &run.run_id).await
    }

    /// Executes an existing run to its end (continuing it if it was left unfinished).
    ///
    /// # Errors
    /// Unknown DAG or run, a run held by a live worker, or a store failure.
    pub async fn execute(&self, dag_id: &str, run_id: &str) -> Result<RunOutcome, EngineError> {
        let dag = self.dag(dag_id)?;
        Ok(self.executor.execute(&dag, run_id).await?)
    }

    /// Runs one try in this process for the driver that started it there: the child's side
    /// of [`crate::executor::Isolation`]. Writes the try's log and outcome to `out` in the
    /// form the driver reads; returns early if stdin ends (the driver is gone).
    ///
    /// # Errors
    /// Unknown DAG, run or task instance, a store failure, or `out` not writable.
    pub async fn run_isolated_try(
        &self,
        dag_id: &str,
        run_id: &str,
        task_id: &str,
        try_number: u32,
        out: &mut (dyn std::io::Write + Send),
    ) -> Result<(), EngineError> {
        Ok(self
            .executor
            .run_isolated_try(dag_id, run_id, task_id, try_number, out)
            .await?)
    }

    /// Finds a run by id; `dag_id` settles ambiguity when DAGs share run ids.
    ///
    /// # Errors
    /// [`EngineError::UnknownRun`] if none or several runs match.
    pub async fn find_run(
        &self,
        run_id: &str,
        dag_id: Option<&str>,
    ) -> Result<DagRun, EngineError> {
        let mut runs = self.store.find_runs(run_id).await?;
        if let Some(d) = dag_id {
            runs.retain(|r| r.dag_id == d);
        }
        match runs.len() {
            1 => Ok(runs.remove(0)),
            0 => Err(EngineError::UnknownRun {
                run_id: run_id.to_string(),
                hint: "; `dagctl runs list` lists the runs".into(),
            }),
            _ => Err(EngineError::UnknownRun {
                run_id: run_id.to_string(),
                hint: format!(
                    " in a single DAG: DAGs {} all have it; add --dag",
                    runs.iter()
                        .map(|r| r.dag_id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }),
        }
    }
}
