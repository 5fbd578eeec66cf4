//! [`Store`] in memory: nothing survives the process. For tests (no I/O, so paused tokio
//! clocks stay exact) and for embedders who run DAGs without keeping history.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{
    Batch, Change, Connection, DagFlags, DagRun, DatasetEvent, Expect, Record, RecordStore,
    RecordWrite, RunClaim, RunFilter, RunOwner, Store, StoreError, TaskInstance, TryRecord,
};
use crate::state::{RunState, TaskState};

type RunKey = (String, String);

#[derive(Debug, Default)]
struct Data {
    runs: BTreeMap<RunKey, DagRun>,
    tis: BTreeMap<RunKey, Vec<TaskInstance>>,
    tries: BTreeMap<RunKey, Vec<TryRecord>>,
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

fn key(a: &str, b: &str) -> RunKey {
    (a.to_string(), b.to_string())
}

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
        dag_ids: &[String],
        now: DateTime<Utc>,
    ) -> Result<Vec<DagFlags>, StoreError> {
        let mut d = self.data();
        for id in dag_ids {
            d.dags.entry(id.clone()).or_insert_with(|| DagFlags {
                dag_id: id.clone(),
                paused: false,
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
        dag_id: &str,
        run_id: &str,
        tasks: &[TaskInstance],
    ) -> Result<(), StoreError> {
        let mut d = self.data();
        let tis = d.tis.entry(key(dag_id, run_id)).or_default();
        for t in tasks {
            if !tis.iter().any(|x| x.task_id == t.task_id) {
                tis.push(t.clone());
            }
        }
        Ok(())
    }

    async fn run(&self, dag_id: &str, run_id: &str) -> Result<Option<DagRun>, StoreError> {
        Ok(self.data().runs.get(&key(dag_id, run_id)).cloned())
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
            .cloned()
            .collect();
        runs.sort_by(|a, b| (b.created_at, &b.run_id).cmp(&(a.created_at, &a.run_id)));
        if let Some(l) = filter.limit {
            runs.truncate(l as usize);
        }
        Ok(runs)
    }

    async fn task_instances(
        &self,
        dag_id: &str,
        run_id: &str,
    ) -> Result<Vec<TaskInstance>, StoreError> {
        Ok(self
            .data()
            .tis
            .get(&key(dag_id, run_id))
            .cloned()
            .unwrap_or_default())
    }

    async fn tries(
        &self,
        dag_id: &str,
        run_id: &str,
        task_id: Option<&str>,
    ) -> Result<Vec<TryRecord>, StoreError> {
        let mut out: Vec<TryRecord> = self
            .data()
            .tries
            .get(&key(dag_id, run_id))
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
        let mut d = self.data();
        let k = key(&batch.dag_id, &batch.run_id);
        let mut claims = Vec::new();
        // Applied to a copy and swapped in at the end: all or nothing, like a transaction.
        let mut tis = d.tis.get(&k).cloned().unwrap_or_default();
        let mut tries = d.tries.get(&k).cloned().unwrap_or_default();
        let mut run = d.runs.get(&k).cloned();
        let mut logs = Vec::new();
        let mut vars = Vec::new();
        let mut xcoms = Vec::new();
        let mut events = Vec::new();
        // Running instances of this DAG in its other runs (`max_active_tasks` spans runs).
        let running_elsewhere = d
            .tis
            .iter()
            .filter(|(key, _)| key.0 == batch.dag_id && **key != k)
            .flat_map(|(_, tis)| tis)
            .filter(|t| t.state == TaskState::Running)
            .count();
        for change in &batch.changes {
            match change {
                Change::Claim {
                    task_id,
                    try_number,
                    worker_id,
                    max_active_tasks,
                    lease_until,
                    at,
                } => {
                    let running = running_elsewhere
                        + tis.iter().filter(|t| t.state == TaskState::Running).count();
                    let room = running < *max_active_tasks as usize;
                    let ti = tis.iter_mut().find(|t| t.task_id == *task_id);
                    let won = match ti {
                        Some(ti)
                            if room
                                && TaskState::CLAIMABLE.contains(&ti.state)
                                && ti.try_number + 1 == *try_number =>
                        {
                            ti.state = TaskState::Running;
                            ti.try_number = *try_number;
                            ti.start_date.get_or_insert(*at);
                            ti.next_attempt_at = None;
                            true
                        }
                        _ => false,
                    };
                    if won {
                        tries.push(TryRecord {
                            task_id: task_id.clone(),
                            try_number: *try_number,
                            state: TaskState::Running,
                            worker_id: worker_id.clone(),
                            lease_until: Some(*lease_until),
                            start_date: *at,
                            end_date: None,
                            duration: None,
                            error: None,
                        });
                    }
                    claims.push(won);
                }
                Change::EndTry {
                    task_id,
                    try_number,
                    state,
                    at,
                    duration,
                    error,
                } => {
                    if let Some(t) = tries
                        .iter_mut()
                        .find(|t| t.task_id == *task_id && t.try_number == *try_number)
                    {
                        t.state = *state;
                        t.end_date = Some(*at);
                        t.duration = Some(*duration);
                        t.error = error.clone();
                        t.lease_until = None;
                    }
                }
                Change::SetTask {
                    task_id,
                    state,
                    next_attempt_at,
                    end_date,
                } => {
                    if let Some(ti) = tis.iter_mut().find(|t| t.task_id == *task_id) {
                        ti.state = *state;
                        ti.next_attempt_at = *next_attempt_at;
                        ti.end_date = *end_date;
                    }
                }
                Change::Xcom {
                    task_id,
                    key: xkey,
                    value,
                } => xcoms.push((
                    (
                        batch.dag_id.clone(),
                        batch.run_id.clone(),
                        task_id.clone(),
                        xkey.clone(),
                    ),
                    value.clone(),
                )),
                Change::Log {
                    task_id,
                    try_number,
                    seq,
                    text,
                } => logs.push((
                    (
                        batch.dag_id.clone(),
                        batch.run_id.clone(),
                        task_id.clone(),
                        *try_number,
                    ),
                    *seq,
                    text.clone(),
                )),
                Change::SetVariable { key, value } => vars.push((key.clone(), value.clone())),
                Change::DatasetEvent {
                    dataset,
                    task_id,
                    at,
                } => events.push(DatasetEvent {
                    dataset: dataset.clone(),
                    created_at: *at,
                    seq: 0,
                    dag_id: batch.dag_id.clone(),
                    run_id: batch.run_id.clone(),
                    task_id: task_id.clone(),
                }),
                Change::GrantTry { task_id } => {
                    if let Some(ti) = tis.iter_mut().find(|t| t.task_id == *task_id) {
                        ti.max_tries += 1;
                    }
                }
                Change::ResetTask { task_id, max_tries } => {
                    if let Some(ti) = tis.iter_mut().find(|t| t.task_id == *task_id) {
                        ti.state = TaskState::None;
                        ti.next_attempt_at = None;
                        ti.start_date = None;
                        ti.end_date = None;
                        ti.max_tries = *max_tries;
                    }
                }
                Change::Owned { worker_id } => {
                    let owned = run
                        .as_ref()
                        .and_then(|r| r.owner.as_ref())
                        .is_some_and(|o| o.worker_id == *worker_id);
                    if !owned {
                        return Err(StoreError::NotOwner {
                            dag_id: batch.dag_id.clone(),
                            run_id: batch.run_id.clone(),
                        });
                    }
                }
                Change::SetParent { parent } => {
                    if let Some(r) = run.as_mut() {
                        r.triggered_by = parent.clone();
                    }
                }
                Change::Renew { worker_id, until } => {
                    if let Some(o) = run
                        .as_mut()
                        .and_then(|r| r.owner.as_mut())
                        .filter(|o| o.worker_id == *worker_id)
                    {
                        o.until = *until;
                    }
                }
                Change::Release { worker_id } => {
                    if let Some(r) = run.as_mut()
                        && worker_id
                            .as_ref()
                            .is_none_or(|w| r.owner.as_ref().is_some_and(|o| o.worker_id == *w))
                    {
                        r.owner = None;
                    }
                }
                Change::SetRun {
                    state,
                    start_date,
                    end_date,
                } => {
                    if let Some(r) = run.as_mut() {
                        r.state = *state;
                        if start_date.is_some() || *state == RunState::Queued {
                            r.start_date = *start_date;
                        }
                        r.end_date = *end_date;
                    }
                }
            }
        }
        d.tis.insert(k.clone(), tis);
        d.tries.insert(k.clone(), tries);
        if let Some(r) = run {
            d.runs.insert(k, r);
        }
        for (lk, seq, text) in logs {
            d.logs.entry(lk).or_default().insert(seq, text);
        }
        d.variables.extend(vars);
        d.xcom.extend(xcoms);
        for mut e in events {
            e.seq = d
                .datasets
                .iter()
                .filter(|x| x.dataset == e.dataset && x.created_at == e.created_at)
                .count() as i64;
            d.datasets.push(e);
        }
        Ok(claims)
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

    async fn log(
        &self,
        dag_id: &str,
        run_id: &str,
        task_id: &str,
        try_number: u32,
    ) -> Result<String, StoreError> {
        Ok(self
            .data()
            .logs
            .get(&(dag_id.into(), run_id.into(), task_id.into(), try_number))
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
        dag_id: &str,
        run_id: &str,
        task_id: &str,
        key: &str,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        Ok(self
            .data()
            .xcom
            .get(&(dag_id.into(), run_id.into(), task_id.into(), key.into()))
            .cloned())
    }

    async fn xcoms(
        &self,
        dag_id: &str,
        run_id: &str,
    ) -> Result<Vec<(String, String, serde_json::Value)>, StoreError> {
        Ok(self
            .data()
            .xcom
            .iter()
            .filter(|((d, r, _, _), _)| d == dag_id && r == run_id)
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

    async fn connections(&self) -> Result<Vec<Connection>, StoreError> {
        Ok(self.data().connections.values().cloned().collect())
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
impl RecordStore for MemoryStore {
    async fn record(&self, collection: &str, key: &str) -> Result<Option<Record>, StoreError> {
        Ok(self
            .data()
            .records
            .get(&(collection.to_string(), key.to_string()))
            .cloned())
    }

    async fn records(&self, collection: &str, prefix: &str) -> Result<Vec<Record>, StoreError> {
        Ok(self
            .data()
            .records
            .range((collection.to_string(), prefix.to_string())..)
            .take_while(|((c, k), _)| c == collection && k.starts_with(prefix))
            .map(|(_, r)| r.clone())
            .collect())
    }

    async fn write_records(&self, writes: &[RecordWrite]) -> Result<(), StoreError> {
        let mut d = self.data();
        // Check every condition first, so that a failing write leaves everything unchanged.
        let mut next = Vec::with_capacity(writes.len());
        for w in writes {
            let k = (w.collection.clone(), w.key.clone());
            let version = match (w.expect, d.records.get(&k)) {
                (Expect::Absent, None) => 1,
                (Expect::Version(v), Some(r)) if r.version == v => v + 1,
                _ => return Err(w.conflict()),
            };
            next.push((k, version));
        }
        let now = Utc::now();
        for (w, (k, version)) in writes.iter().zip(next) {
            d.records.insert(
                k,
                Record {
                    collection: w.collection.clone(),
                    key: w.key.clone(),
                    version,
                    value: w.value.clone(),
                    updated_at: now,
                },
            );
        }
        Ok(())
    }
}
