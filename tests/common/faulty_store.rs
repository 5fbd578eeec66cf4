//! A store that fails on demand: every call goes to a real store, except the commits a test
//! picks, which fail as a dropped connection does (nothing written, a transient error).

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use dagctl::engine::store::ConnectionLookup;
use dagctl::engine::store::stats::StoreStats;
use dagctl::engine::store::{
    Batch, CleanReport, Connection, DagFlags, DagRegistration, DagRun, DatasetEvent, EventConsumer,
    EventsCleaned, Record, RecordStore, RecordWrite, RunClaim, RunFilter, RunKey, StoreError,
    TakeQueued, TakenTry, TaskInstance, TryRecord,
};
use dagctl::engine::{Store, async_trait};

/// Decides whether a commit fails (called with every batch; `true`: it fails unwritten).
pub type FailWhen = Box<dyn FnMut(&Batch) -> bool + Send>;

/// A real store with a commit fault a test arms and disarms.
pub struct FaultyStore {
    inner: Arc<dyn Store>,
    fail: Mutex<Option<FailWhen>>,
    failed: Mutex<Vec<Batch>>,
}

impl FaultyStore {
    /// Wraps `inner`; no fault until [`FaultyStore::fail_commits`].
    pub fn new(inner: Arc<dyn Store>) -> Arc<FaultyStore> {
        Arc::new(FaultyStore {
            inner,
            fail: Mutex::new(None),
            failed: Mutex::new(Vec::new()),
        })
    }

    /// From now on, the commits `when` picks fail without writing anything.
    pub fn fail_commits(&self, when: impl FnMut(&Batch) -> bool + Send + 'static) {
        *self.fail.lock().unwrap() = Some(Box::new(when));
    }

    /// The batches failed so far.
    pub fn failed(&self) -> Vec<Batch> {
        self.failed.lock().unwrap().clone()
    }
}

#[async_trait]
impl RecordStore for FaultyStore {
    async fn record(&self, collection: &str, key: &str) -> Result<Option<Record>, StoreError> {
        self.inner.record(collection, key).await
    }
    async fn records(&self, collection: &str, prefix: &str) -> Result<Vec<Record>, StoreError> {
        self.inner.records(collection, prefix).await
    }
    async fn write_records(&self, writes: &[RecordWrite]) -> Result<(), StoreError> {
        self.inner.write_records(writes).await
    }
}

#[async_trait]
impl Store for FaultyStore {
    async fn create_run(
        &self,
        run: &DagRun,
        tasks: &[TaskInstance],
        consumes: &[DatasetEvent],
    ) -> Result<(), StoreError> {
        self.inner.create_run(run, tasks, consumes).await
    }
    async fn acquire_run(&self, claim: &RunClaim) -> Result<bool, StoreError> {
        self.inner.acquire_run(claim).await
    }
    async fn unconsumed_events(
        &self,
        consumer: &str,
        dataset: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<DatasetEvent>, StoreError> {
        self.inner.unconsumed_events(consumer, dataset, since).await
    }
    async fn register_dags(
        &self,
        dags: &[DagRegistration],
        now: DateTime<Utc>,
    ) -> Result<Vec<DagFlags>, StoreError> {
        self.inner.register_dags(dags, now).await
    }
    async fn set_paused(
        &self,
        dag_id: &str,
        paused: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.inner.set_paused(dag_id, paused, now).await
    }
    async fn add_task_instances(
        &self,
        run: &RunKey,
        tasks: &[TaskInstance],
    ) -> Result<(), StoreError> {
        self.inner.add_task_instances(run, tasks).await
    }
    async fn run(&self, run: &RunKey) -> Result<Option<DagRun>, StoreError> {
        self.inner.run(run).await
    }
    async fn find_runs(&self, run_id: &str) -> Result<Vec<DagRun>, StoreError> {
        self.inner.find_runs(run_id).await
    }
    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<DagRun>, StoreError> {
        self.inner.list_runs(filter).await
    }
    async fn task_instances(&self, run: &RunKey) -> Result<Vec<TaskInstance>, StoreError> {
        self.inner.task_instances(run).await
    }
    async fn tries(
        &self,
        run: &RunKey,
        task_id: Option<&str>,
    ) -> Result<Vec<TryRecord>, StoreError> {
        self.inner.tries(run, task_id).await
    }
    async fn commit(&self, batch: &Batch) -> Result<Vec<bool>, StoreError> {
        let fails = self.fail.lock().unwrap().as_mut().is_some_and(|f| f(batch));
        if fails {
            self.failed.lock().unwrap().push(batch.clone());
            return Err(StoreError::Sqlite {
                context: "committing a transition".into(),
                message: "connection reset by the test".into(),
            });
        }
        self.inner.commit(batch).await
    }
    async fn renew_leases(&self, worker_id: &str, until: DateTime<Utc>) -> Result<u64, StoreError> {
        self.inner.renew_leases(worker_id, until).await
    }
    async fn take_queued(&self, take: &TakeQueued) -> Result<Vec<TakenTry>, StoreError> {
        self.inner.take_queued(take).await
    }
    async fn clean(
        &self,
        before: DateTime<Utc>,
        dag_id: Option<&str>,
        dry_run: bool,
    ) -> Result<CleanReport, StoreError> {
        self.inner.clean(before, dag_id, dry_run).await
    }
    async fn clean_events(
        &self,
        before: DateTime<Utc>,
        consumers: &[EventConsumer],
        dry_run: bool,
    ) -> Result<EventsCleaned, StoreError> {
        self.inner.clean_events(before, consumers, dry_run).await
    }
    async fn stats(&self, now: DateTime<Utc>) -> Result<StoreStats, StoreError> {
        self.inner.stats(now).await
    }
    async fn log(
        &self,
        run: &RunKey,
        task_id: &str,
        try_number: u32,
    ) -> Result<String, StoreError> {
        self.inner.log(run, task_id, try_number).await
    }
    async fn variable(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.inner.variable(key).await
    }
    async fn set_variable(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.inner.set_variable(key, value).await
    }
    async fn delete_variable(&self, key: &str) -> Result<bool, StoreError> {
        self.inner.delete_variable(key).await
    }
    async fn variables(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.inner.variables().await
    }
    async fn xcom(
        &self,
        run: &RunKey,
        task_id: &str,
        key: &str,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        self.inner.xcom(run, task_id, key).await
    }
    async fn xcoms(
        &self,
        run: &RunKey,
    ) -> Result<Vec<(String, String, serde_json::Value)>, StoreError> {
        self.inner.xcoms(run).await
    }
    async fn dataset_events(
        &self,
        dataset: &str,
        after: Option<DateTime<Utc>>,
    ) -> Result<Vec<DatasetEvent>, StoreError> {
        self.inner.dataset_events(dataset, after).await
    }
    async fn set_connection(&self, connection: &Connection) -> Result<(), StoreError> {
        self.inner.set_connection(connection).await
    }
    async fn delete_connection(&self, name: &str) -> Result<bool, StoreError> {
        self.inner.delete_connection(name).await
    }
    async fn pools(&self) -> Result<Vec<(String, u32, Option<String>)>, StoreError> {
        self.inner.pools().await
    }
    async fn set_pool(
        &self,
        name: &str,
        slots: u32,
        description: Option<&str>,
    ) -> Result<(), StoreError> {
        self.inner.set_pool(name, slots, description).await
    }
    async fn delete_pool(&self, name: &str) -> Result<bool, StoreError> {
        self.inner.delete_pool(name).await
    }
}

#[async_trait]
impl ConnectionLookup for FaultyStore {
    async fn connections(&self) -> Result<Vec<Connection>, StoreError> {
        self.inner.connections().await
    }
}
