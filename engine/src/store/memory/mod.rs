//! [`Store`] in memory: nothing survives the process. For tests (no I/O, so paused tokio
//! clocks stay exact) and for embedders who run DAGs without keeping history.
//!
//! # Layout
//! - this file: the data, [`MemoryStore`] and its [`Store`] impl;
//! - `commit`: applying a [`Batch`] of changes, all or nothing;
//! - `clean`: retention of finished runs and of dataset events;
//! - `records`: the [`RecordStore`](super::RecordStore) impl for extensions' records.

mod clean;
mod commit;
mod records;

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{
    Batch, Connection, DagFlags, DagRegistration, DagRun, DatasetEvent, Record, RunClaim,
    RunFilter, RunKey, RunOwner, Store, StoreError, TakeQueued, TakenTry, TaskInstance, TryRecord,
};
use crate::state::{RunState, TaskState};

/// A run's (DAG, run id), as the maps' key.
type RunIds = (String, String);

#[derive(Debug, Default)]
struct Data {
    runs: BTreeMap<RunIds, DagRun>,
    tis: BTreeMap<RunIds, Vec<TaskInstance>>,
    tries: BTreeMap<RunIds, Vec<TryRecord>>,
    logs: BTreeMap<(String, String, String, u32), BTreeMap<u32, String>>,
    variables: BTreeMap<String, String>,
    xcom: BTreeMap<(String, String, String, String), serde_json::Value>,
    pools: BTreeMap<String, (u32, Option<String>)>,
    datasets: Vec<DatasetEvent>,
    /// (consumer DAG, event) pairs: which events started a run of which DAG.
    consumed: std::collections::BTreeSet<(String, EventId)>,
    dags: BTreeMap<String, DagFlags>,
    connections: BTreeMap<String, Connection>,
    records: BTreeMap<(String, String), Record>,
    /// Metric counters by (DAG, name, label): count and total seconds (one writer: no
    /// shards).
    counts: BTreeMap<(String, String, String), (u64, f64)>,
}

/// A [`Store`] that keeps everything in memory.
#[derive(Debug, Default)]
pub struct MemoryStore(Mutex<Data>);

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn data(&self) -> std::sync::MutexGuard<'_, Data> {
        // A std mutex: never held across an await.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

type EventId = (String, DateTime<Utc>, i64, String, String, String);

fn event_id(e: &DatasetEvent) -> EventId {
    (
        e.dataset.clone(),
        e.created_at,
        e.seq,
        e.dag_id.clone(),
        e.run_id.clone(),
        e.task_id.clone(),
    )
}

fn key(a: &str, b: &str) -> RunIds {
    (a.to_string(), b.to_string())
}

use super::STALE_QUEUED;

#[async_trait]
impl Store for MemoryStore {
    async fn create_run(
        &self,
        run: &DagRun,
        tasks: &[TaskInstance],
        consumes: &[DatasetEvent],
    ) -> Result<(), StoreError> {
        let mut d = self.data();
        let k = key(&run.dag_id, &run.run_id);
        let ids: Vec<(String, EventId)> = consumes
            .iter()
            .map(|e| (run.dag_id.clone(), event_id(e)))
            .collect();
        if d.runs.contains_key(&k) || ids.iter().any(|id| d.consumed.contains(id)) {
            return Err(StoreError::AlreadyExists {
                what: format!("run `{}` of DAG `{}`", run.run_id, run.dag_id),
            });
        }
        d.runs.insert(k.clone(), run.clone());
        d.tis.insert(k, tasks.to_vec());
        d.consumed.extend(ids);
        Ok(())
    }

    async fn acquire_run(&self, claim: &RunClaim) -> Result<bool, StoreError> {
        let mut d = self.data();
        let running = d
            .runs
            .values()
            .filter(|r| r.dag_id == claim.key.dag_id && r.state == RunState::Running)
            .count();
        let Some(run) = d.runs.get_mut(&key(&claim.key.dag_id, &claim.key.run_id)) else {
            return Ok(false);
        };
        let free = run
            .owner
            .as_ref()
            .is_none_or(|o| Some(&o.worker_id) == claim.take_from.as_ref());
        let room = run.state == RunState::Running || running < claim.max_active_runs as usize;
        if run.state.is_finished() || !free || !room {
            return Ok(false);
        }
        run.owner = Some(RunOwner {
            worker_id: claim.worker_id.clone(),
            until: claim.until,
        });
        run.state = RunState::Running;
        run.start_date.get_or_insert(claim.now);
        run.end_date = None;
        Ok(true)
    }

    async fn unconsumed_events(
        &self,
        consumer: &str,
        dataset: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<DatasetEvent>, StoreError> {
        let d = self.data();
        Ok(d.datasets
            .iter()
            .filter(|e| e.dataset == dataset && e.created_at >= since)
            .filter(|e| !d.consumed.contains(&(consumer.to_string(), event_id(e))))
            .cloned()
            .collect())
    }

    async fn register_dags(
        &self,
        dags: &[DagRegistration],
        now: DateTime<Utc>,
    ) -> Result<Vec<DagFlags>, StoreError> {
        let mut d = self.data();
        for r in dags {
            d.dags.entry(r.dag_id.clone()).or_insert_with(|| DagFlags {
                dag_id: r.dag_id.clone(),
                paused: r.paused_upon_creation,
                first_seen: now,
            });
        }
        Ok(d.dags.values().cloned().collect())
    }

    async fn set_paused(
        &self,
        dag_id: &str,
        paused: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.data()
            .dags
            .entry(dag_id.to_string())
            .or_insert_with(|| DagFlags {
                dag_id: dag_id.to_string(),
                paused,
                first_seen: now,
            })
            .paused = paused;
        Ok(())
    }

    async fn add_task_instances(
        &self,
        run: &RunKey,
        tasks: &[TaskInstance],
    ) -> Result<(), StoreError> {
        let mut d = self.data();
        let tis = d.tis.entry(key(&run.dag_id, &run.run_id)).or_default();
        for t in tasks {
            if !tis.iter().any(|x| x.task_id == t.task_id) {
                tis.push(t.clone());
            }
        }
        Ok(())
    }

    async fn run(&self, run: &RunKey) -> Result<Option<DagRun>, StoreError> {
        Ok(self
            .data()
            .runs
            .get(&key(&run.dag_id, &run.run_id))
            .cloned())
    }

    async fn find_runs(&self, run_id: &str) -> Result<Vec<DagRun>, StoreError> {
        Ok(self
            .data()
            .runs
            .values()
            .filter(|r| r.run_id == run_id)
            .cloned()
            .collect())
    }

    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<DagRun>, StoreError> {
        let mut runs: Vec<DagRun> = self
            .data()
            .runs
            .values()
            .filter(|r| filter.dag_id.as_ref().is_none_or(|d| *d == r.dag_id))
            .filter(|r| filter.states.is_empty() || filter.states.contains(&r.state))
            .filter(|r| filter.run_types.is_empty() || filter.run_types.contains(&r.run_type))
            .filter(|r| filter.logical_from.is_none_or(|f| r.logical_date >= f))
            .filter(|r| filter.logical_before.is_none_or(|b| r.logical_date < b))
            .cloned()
            .collect();
        if filter.oldest_first {
            runs.sort_by(|a, b| {
                (a.logical_date, a.created_at, &a.run_id).cmp(&(
                    b.logical_date,
                    b.created_at,
                    &b.run_id,
                ))
            });
        } else if filter.by_logical_date {
            runs.sort_by(|a, b| (b.logical_date, &b.run_id).cmp(&(a.logical_date, &a.run_id)));
        } else {
            runs.sort_by(|a, b| (b.created_at, &b.run_id).cmp(&(a.created_at, &a.run_id)));
        }
        runs.drain(..runs.len().min(filter.offset.unwrap_or(0) as usize));
        if let Some(l) = filter.limit {
            runs.truncate(l as usize);
        }
        Ok(runs)
    }

    async fn task_instances(&self, run: &RunKey) -> Result<Vec<TaskInstance>, StoreError> {
        Ok(self
            .data()
            .tis
            .get(&key(&run.dag_id, &run.run_id))
            .cloned()
            .unwrap_or_default())
    }

    async fn tries(
        &self,
        run: &RunKey,
        task_id: Option<&str>,
    ) -> Result<Vec<TryRecord>, StoreError> {
        let mut out: Vec<TryRecord> = self
            .data()
            .tries
            .get(&key(&run.dag_id, &run.run_id))
            .into_iter()
            .flatten()
            .filter(|t| task_id.is_none_or(|id| t.task_id == id))
            .cloned()
            .collect();
        out.sort_by(|a, b| {
            (a.start_date, &a.task_id, a.try_number).cmp(&(b.start_date, &b.task_id, b.try_number))
        });
        Ok(out)
    }

    async fn commit(&self, batch: &Batch) -> Result<Vec<bool>, StoreError> {
        commit::apply(&mut self.data(), batch)
    }

    async fn renew_leases(&self, worker_id: &str, until: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut n = 0;
        let mut d = self.data();
        for tries in d.tries.values_mut() {
            for t in tries.iter_mut() {
                if t.worker_id == worker_id && t.state == TaskState::Running {
                    t.lease_until = Some(until);
                    n += 1;
                }
            }
        }
        Ok(n)
    }

    async fn clean_events(
        &self,
        before: DateTime<Utc>,
        consumers: &[super::EventConsumer],
        dry_run: bool,
    ) -> Result<super::EventsCleaned, StoreError> {
        Ok(clean::clean_events(
            &mut self.data(),
            before,
            consumers,
            dry_run,
        ))
    }

    async fn stats(&self, now: DateTime<Utc>) -> Result<super::stats::StoreStats, StoreError> {
        // What is now from the rows; what ended from the counters.
        let mut s = super::stats::computed(self, now).await?;
        let rows: Vec<super::metric_counts::CountRow> = self
            .data()
            .counts
            .iter()
            .map(|((dag, name, label), (n, total))| {
                (dag.clone(), name.clone(), label.clone(), *n, *total)
            })
            .collect();
        super::metric_counts::fold(rows, &mut s);
        Ok(s)
    }

    async fn clean(
        &self,
        before: DateTime<Utc>,
        dag_id: Option<&str>,
        dry_run: bool,
    ) -> Result<super::CleanReport, StoreError> {
        Ok(clean::clean_runs(&mut self.data(), before, dag_id, dry_run))
    }

    async fn take_queued(&self, take: &TakeQueued) -> Result<Vec<TakenTry>, StoreError> {
        let mut d = self.data();
        let Data {
            runs, tis, tries, ..
        } = &mut *d;
        let tis = &*tis;
        let mut queued: Vec<(&RunIds, &mut TryRecord, &TaskInstance)> = Vec::new();
        for (k, run_tries) in tries.iter_mut() {
            if !take.dag_ids.contains(&k.0) {
                continue;
            }
            let running = runs.get(k).is_some_and(|r| r.state == RunState::Running);
            let instances = tis.get(k).map(Vec::as_slice).unwrap_or_default();
            for t in run_tries.iter_mut() {
                if t.state != TaskState::Queued {
                    continue;
                }
                let ti = instances.iter().find(|ti| ti.task_id == t.task_id);
                if ti.is_some_and(|ti| take.pools.as_ref().is_some_and(|p| !p.contains(&ti.pool))) {
                    continue;
                }
                match ti {
                    Some(ti)
                        if running
                            && ti.state == TaskState::Running
                            && ti.try_number == t.try_number =>
                    {
                        queued.push((k, t, ti));
                    }
                    // Stale (its instance or run moved on while it waited): ended, as the
                    // SQL store ends it, so that it never comes back.
                    _ => {
                        t.state = TaskState::Failed;
                        t.end_date = Some(take.at);
                        t.error = Some(STALE_QUEUED.to_string());
                    }
                }
            }
        }
        queued.sort_by_key(|(_, t, _)| t.start_date);
        Ok(queued
            .into_iter()
            .take(take.limit as usize)
            .map(|(k, t, ti)| {
                t.state = TaskState::Running;
                t.worker_id = take.worker_id.clone();
                t.lease_until = Some(take.lease_until);
                t.start_date = take.at;
                TakenTry {
                    run: RunKey::new(&k.0, &k.1),
                    task_id: t.task_id.clone(),
                    try_number: t.try_number,
                    max_tries: ti.max_tries,
                    first_start: ti.start_date,
                    mapped_args: ti.mapped_args.clone(),
                }
            })
            .collect())
    }

    async fn log(
        &self,
        run: &RunKey,
        task_id: &str,
        try_number: u32,
    ) -> Result<String, StoreError> {
        Ok(self
            .data()
            .logs
            .get(&(
                run.dag_id.clone(),
                run.run_id.clone(),
                task_id.into(),
                try_number,
            ))
            .map(|chunks| chunks.values().cloned().collect())
            .unwrap_or_default())
    }

    async fn variable(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self.data().variables.get(key).cloned())
    }

    async fn set_variable(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.data()
            .variables
            .insert(key.to_string(), value.to_string());
        Ok(())
    }

    async fn delete_variable(&self, key: &str) -> Result<bool, StoreError> {
        Ok(self.data().variables.remove(key).is_some())
    }

    async fn variables(&self) -> Result<Vec<(String, String)>, StoreError> {
        Ok(self
            .data()
            .variables
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    async fn xcom(
        &self,
        run: &RunKey,
        task_id: &str,
        key: &str,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        Ok(self
            .data()
            .xcom
            .get(&(
                run.dag_id.clone(),
                run.run_id.clone(),
                task_id.into(),
                key.into(),
            ))
            .cloned())
    }

    async fn xcoms(
        &self,
        run: &RunKey,
    ) -> Result<Vec<(String, String, serde_json::Value)>, StoreError> {
        Ok(self
            .data()
            .xcom
            .iter()
            .filter(|((d, r, _, _), _)| *d == run.dag_id && *r == run.run_id)
            .map(|((_, _, t, k), v)| (t.clone(), k.clone(), v.clone()))
            .collect())
    }

    async fn dataset_events(
        &self,
        dataset: &str,
        after: Option<DateTime<Utc>>,
    ) -> Result<Vec<DatasetEvent>, StoreError> {
        let mut v: Vec<DatasetEvent> = self
            .data()
            .datasets
            .iter()
            .filter(|e| e.dataset == dataset && after.is_none_or(|a| e.created_at > a))
            .cloned()
            .collect();
        v.sort_by_key(|e| e.created_at);
        Ok(v)
    }

    async fn set_connection(&self, connection: &Connection) -> Result<(), StoreError> {
        self.data()
            .connections
            .insert(connection.name.clone(), connection.clone());
        Ok(())
    }

    async fn delete_connection(&self, name: &str) -> Result<bool, StoreError> {
        Ok(self.data().connections.remove(name).is_some())
    }

    async fn pools(&self) -> Result<Vec<(String, u32, Option<String>)>, StoreError> {
        Ok(self
            .data()
            .pools
            .iter()
            .map(|(n, (s, d))| (n.clone(), *s, d.clone()))
            .collect())
    }

    async fn set_pool(
        &self,
        name: &str,
        slots: u32,
        description: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut d = self.data();
        let old = d.pools.get(name).and_then(|(_, desc)| desc.clone());
        d.pools.insert(
            name.to_string(),
            (slots, description.map(str::to_string).or(old)),
        );
        Ok(())
    }

    async fn delete_pool(&self, name: &str) -> Result<bool, StoreError> {
        Ok(self.data().pools.remove(name).is_some())
    }
}

#[async_trait]
impl super::ConnectionLookup for MemoryStore {
    async fn connections(&self) -> Result<Vec<Connection>, StoreError> {
        Ok(self.data().connections.values().cloned().collect())
    }
}
