//! Creating runs and changing them from outside their driver: clear, mark failed or
//! success, cancel, pause. [`RunControl`] is the one handle for all of it: the engine, the CLI
//! and operators (`trigger_dag`, through their `TaskContext`) use it.
//!
//! A change from outside takes the run from whoever drives it, in the same transaction: the
//! driver's next write is refused by the store, so it stops the tries it runs and writes
//! nothing more (see [`crate::store::Change::Owned`]).

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use tokio::sync::broadcast;

use crate::clock::Clock;
use crate::dag::Dag;
use crate::engine::{DagSet, EngineError};
use crate::events::Event;
use crate::state::{RunState, TaskState};
use crate::store::{Batch, Change, DagRun, DatasetEvent, RunKey, Store, TaskInstance};
use crate::suggest::closest;

use super::NewRun;

/// The largest `dag_run.conf` a run takes, serialized.
pub const MAX_CONF_BYTES: usize = 64 << 10;

/// Which task instances [`RunControl::clear`] clears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Clear {
    /// Every task.
    All,
    /// Tasks in these states, and everything downstream of them (`--rerun-failed`).
    States(Vec<TaskState>),
    /// These tasks, and everything downstream of them if `downstream`.
    Tasks {
        /// The task ids.
        ids: Vec<String>,
        /// Whether their downstream tasks are cleared too.
        downstream: bool,
    },
}

impl Clear {
    /// These tasks (with their downstream ones if `downstream`), or every task when `ids` is
    /// empty: what `dagctl tasks clear` and the web view's clear ask for.
    pub fn tasks_or_all(ids: Vec<String>, downstream: bool) -> Clear {
        if ids.is_empty() {
            Clear::All
        } else {
            Clear::Tasks { ids, downstream }
        }
    }
}

/// Creates and changes runs; cheap to clone.
#[derive(Clone)]
pub struct RunControl {
    store: Arc<dyn Store>,
    dags: Arc<RwLock<DagSet>>,
    clock: Clock,
    events: broadcast::Sender<Event>,
}

impl std::fmt::Debug for RunControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunControl").finish_non_exhaustive()
    }
}

impl RunControl {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        dags: Arc<RwLock<DagSet>>,
        clock: Clock,
        events: broadcast::Sender<Event>,
    ) -> Self {
        RunControl {
            store,
            dags,
            clock,
            events,
        }
    }

    /// Now, on the engine's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The ids of the loaded DAGs.
    pub(crate) fn dag_ids(&self) -> Vec<String> {
        let set = self.dags.read().unwrap_or_else(|e| e.into_inner());
        set.dags.keys().cloned().collect()
    }

    /// The loaded DAG with this id.
    ///
    /// # Errors
    /// [`EngineError::UnknownDag`] with the closest id or a pointer to `dagctl validate`.
    pub fn dag(&self, dag_id: &str) -> Result<Arc<Dag>, EngineError> {
        // A std lock: held only to clone out of it, never across an await.
        let set = self.dags.read().unwrap_or_else(|e| e.into_inner());
        set.dags.get(dag_id).cloned().ok_or_else(|| {
            let hint = match closest(dag_id, set.dags.keys().map(String::as_str)) {
                Some(c) => format!("; did you mean `{c}`?"),
                None if set.diagnostics.has_errors() => format!(
                    "; the DAG folder has {} error(s): run `dagctl validate`",
                    set.diagnostics.error_count()
                ),
                None => "; `dagctl dags list` lists the DAGs".to_string(),
            };
            EngineError::UnknownDag {
                dag_id: dag_id.to_string(),
                hint,
            }
        })
    }

    /// Creates a queued run with a task instance per task, consuming `consumes` (dataset
    /// events) in the same transaction.
    ///
    /// # Errors
    /// An unknown DAG, a conf that is not a JSON object, a run id that exists (or an event
    /// consumed already), or a store failure.
    pub async fn create(
        &self,
        new: NewRun,
        consumes: &[DatasetEvent],
    ) -> Result<DagRun, EngineError> {
        let dag = self.dag(&new.dag_id)?;
        if !new.conf.is_object() {
            let kind = match &new.conf {
                serde_json::Value::Array(_) => "a list",
                serde_json::Value::String(_) => "a string",
                serde_json::Value::Number(_) => "a number",
                serde_json::Value::Bool(_) => "a boolean",
                _ => "null",
            };
            return Err(EngineError::BadOptions(format!(
                "conf must be a JSON object like {{\"key\": \"value\"}}, got {kind}"
            )));
        }
        let size = new.conf.to_string().len();
        if size > MAX_CONF_BYTES {
            return Err(EngineError::BadOptions(format!(
                "conf is {size} bytes, more than the {MAX_CONF_BYTES} a run keeps (it is copied \
                 into every task's context): put large inputs in a file or a dataset and pass \
                 its path"
            )));
        }
        let run = new.build(self.clock.now());
        if !super::is_valid_run_id(&run.run_id) {
            return Err(EngineError::BadOptions(format!(
                "run id {:?} is not allowed: use 1 to 250 letters, digits and `_ . ~ : + -` (as \
                 Airflow), since a run id reaches file names, logs and shell commands",
                run.run_id
            )));
        }
        let tis: Vec<TaskInstance> = dag.tasks.iter().map(|t| t.new_instance()).collect();
        self.store.create_run(&run, &tis, consumes).await?;
        let _ = self.events.send(Event::Run {
            dag_id: run.dag_id.clone(),
            run_id: run.run_id.clone(),
            state: RunState::Queued,
        });
        Ok(run)
    }

    async fn existing(&self, key: &RunKey) -> Result<(Arc<Dag>, DagRun), EngineError> {
        let dag = self.dag(&key.dag_id)?;
        let run = self
            .store
            .run(key)
            .await?
            .ok_or_else(|| EngineError::UnknownRun {
                run_id: key.run_id.clone(),
                hint: format!(
                    " of DAG `{}`; `dagctl runs list` lists the runs",
                    key.dag_id
                ),
            })?;
        Ok((dag, run))
    }

    /// Clears task instances so that they run again (state `none`, a fresh retry budget)
    /// and queues the run; whoever drove it stops. Returns the cleared task ids.
    ///
    /// # Errors
    /// An unknown DAG, run or task id, or a store failure.
    /// `caused_by`, when given, becomes the run's cause (a `trigger_dag` with
    /// `reset_dag_run`), so that whoever drives that run drives this one again.
    pub async fn clear(
        &self,
        key: &RunKey,
        what: &Clear,
        caused_by: Option<RunKey>,
    ) -> Result<Vec<String>, EngineError> {
        let (dag, _) = self.existing(key).await?;
        self.take(key).await?;
        let tis = self.store.task_instances(key).await?;
        // Tasks cleared whole (a mapped one with its instances, so that it expands again),
        // and single mapped instances (`task[i]`) cleared alone.
        let mut chosen: HashSet<usize> = HashSet::new();
        let mut single: HashSet<&str> = HashSet::new();
        let task_of = |id: &str| {
            dag.graph
                .index_of(crate::dag::mapping::task_of_instance(id))
        };
        let mut add = |id: &str, downstream: bool| -> bool {
            let Some(i) = task_of(id) else {
                return false;
            };
            if dag.graph.index_of(id).is_some() {
                chosen.insert(i);
            } else if let Some(ti) = tis
                .iter()
                .find(|t| t.task_id == id && t.state != TaskState::Removed)
            {
                // (A removed instance is no longer part of the run: it is not cleared alone.)
                single.insert(ti.task_id.as_str());
            } else {
                return false;
            }
            if downstream {
                chosen.extend(dag.graph.descendants(i));
            }
            true
        };
        match what {
            Clear::All => dag.tasks.iter().for_each(|t| {
                add(&t.id, false);
            }),
            Clear::States(states) => {
                // A mapped task that expanded is in a state because of its instances:
                // those are cleared, not all of them.
                let expanded = |id: &str| {
                    tis.iter().any(|t| {
                        crate::dag::mapping::parse_instance_id(&t.task_id)
                            .is_some_and(|(task, _)| task == id)
                    })
                };
                for ti in tis.iter().filter(|t| states.contains(&t.state)) {
                    if !expanded(&ti.task_id) {
                        add(&ti.task_id, true);
                    }
                }
            }
            Clear::Tasks { ids, downstream } => {
                for id in ids {
                    if !add(id, *downstream) {
                        return Err(EngineError::UnknownTask {
                            dag_id: dag.id.clone(),
                            task_id: id.clone(),
                        });
                    }
                }
            }
        }
        let mut cleared = Vec::new();
        let mut changes = vec![Change::Release { worker_id: None }];
        if caused_by.is_some() {
            changes.push(Change::SetParent { parent: caused_by });
        }
        for ti in &tis {
            let Some(task) = task_of(&ti.task_id)
                .filter(|i| chosen.contains(i) || single.contains(ti.task_id.as_str()))
            else {
                continue;
            };
            let task = &dag.tasks[task];
            // One retry budget for every clear: the tries so far, plus the task's own.
            changes.push(Change::ResetTask {
                task_id: ti.task_id.clone(),
                max_tries: ti.try_number + task.policy.max_tries(),
            });
            cleared.push(ti.task_id.clone());
        }
        changes.extend(self.stop_running_tries(key, &tis, "cleared").await?);
        changes.push(Change::SetRun {
            state: RunState::Queued,
            start_date: None,
            end_date: None,
        });
        self.commit(key, changes).await?;
        let _ = self.events.send(Event::Run {
            dag_id: key.dag_id.clone(),
            run_id: key.run_id.clone(),
            state: RunState::Queued,
        });
        Ok(cleared)
    }

    /// Ends a run now as `failed` or `success`, as Airflow's "mark" does: with `failed`,
    /// running tasks fail and tasks not started are skipped; with `success`, every task not
    /// finished successfully is marked success. Running tries are stopped. `why` is recorded
    /// on the stopped tries.
    ///
    /// # Errors
    /// An unknown DAG or run, a state other than success or failed, or a store failure.
    pub async fn mark(&self, key: &RunKey, state: RunState, why: &str) -> Result<(), EngineError> {
        if !state.is_finished() {
            return Err(EngineError::BadOptions(format!(
                "a run can be marked success or failed, not {state}"
            )));
        }
        let (_, run) = self.existing(key).await?;
        self.take(key).await?;
        let now = self.clock.now();
        let tis = self.store.task_instances(key).await?;
        let mut changes = vec![Change::Release { worker_id: None }];
        changes.extend(self.stop_running_tries(key, &tis, why).await?);
        for ti in &tis {
            let to = match state {
                RunState::Success if ti.state != TaskState::Success => TaskState::Success,
                RunState::Failed if ti.state == TaskState::Running => TaskState::Failed,
                RunState::Failed if !ti.state.is_finished() => TaskState::Skipped,
                _ => continue,
            };
            changes.push(Change::SetTask {
                task_id: ti.task_id.clone(),
                state: to,
                next_attempt_at: None,
                end_date: Some(now),
            });
        }
        // A run marked as it is already keeps its end (and is not counted as ending again).
        if run.state != state {
            changes.push(Change::SetRun {
                state,
                start_date: run.start_date.is_none().then_some(now),
                end_date: Some(now),
            });
        }
        self.commit(key, changes).await?;
        let _ = self.events.send(Event::Run {
            dag_id: key.dag_id.clone(),
            run_id: key.run_id.clone(),
            state,
        });
        Ok(())
    }

    /// Takes the run from whoever drives it, in a transaction of its own before the task
    /// states are read: from then on the driver's writes are refused, so what is read next
    /// stays true until the change is written.
    async fn take(&self, key: &RunKey) -> Result<(), EngineError> {
        self.commit(key, vec![Change::Release { worker_id: None }])
            .await
    }

    /// The ends of the tries still `running` in a run (or `queued` for a worker to take),
    /// recorded failed with `why`.
    async fn stop_running_tries(
        &self,
        key: &RunKey,
        tis: &[TaskInstance],
        why: &str,
    ) -> Result<Vec<Change>, EngineError> {
        if !tis.iter().any(|t| t.state == TaskState::Running) {
            return Ok(Vec::new());
        }
        let now = self.clock.now();
        Ok(self
            .store
            .tries(key, None)
            .await?
            .into_iter()
            .filter(|t| matches!(t.state, TaskState::Running | TaskState::Queued))
            .map(|t| Change::EndTry {
                task_id: t.task_id,
                try_number: t.try_number,
                state: TaskState::Failed,
                at: now,
                duration: (now - t.start_date).to_std().unwrap_or_default(),
                error: Some(format!("stopped: {why}")),
            })
            .collect())
    }

    async fn commit(&self, key: &RunKey, changes: Vec<Change>) -> Result<(), EngineError> {
        self.store
            .commit(&Batch {
                dag_id: key.dag_id.clone(),
                run_id: key.run_id.clone(),
                changes,
            })
            .await?;
        Ok(())
    }

    /// Pauses or unpauses a DAG: a paused DAG gets no scheduled or dataset-triggered runs
    /// (its events wait), as in Airflow; runs asked for by hand still run.
    ///
    /// # Errors
    /// An unknown DAG, or a store failure.
    pub async fn set_paused(&self, dag_id: &str, paused: bool) -> Result<(), EngineError> {
        self.dag(dag_id)?;
        self.store
            .set_paused(dag_id, paused, self.clock.now())
            .await?;
        let mut set = self.dags.write().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = set.flags.get_mut(dag_id) {
            f.paused = paused;
        }
        Ok(())
    }
}
