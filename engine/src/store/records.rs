//! Documents kept for extensions (experiment runs, the model registry), and the
//! [`RecordStore`] capability that reads and writes them.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;

/// A document kept for an extension — experiment runs, model versions — as JSON under a
/// collection and a key. Its version grows by one with every write, for compare-and-swap.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The collection (`experiment_runs`, `models`, …).
    pub collection: String,
    /// The key within it.
    pub key: String,
    /// 1 when created, then one more per write.
    pub version: i64,
    /// The document.
    pub value: serde_json::Value,
    /// When it was last written.
    pub updated_at: DateTime<Utc>,
}

/// What a [`RecordWrite`] requires of the record before it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// The record must not exist (create; an immutable record is only ever created).
    Absent,
    /// The record must be at this version (update what was read).
    Version(i64),
    /// The record exists after the write: created with this value if absent, left as it is
    /// if present (a marker several writers may set, such as [`pin_run`]).
    Ensure,
}

/// One write of [`RecordStore::write_records`].
#[derive(Debug, Clone, PartialEq)]
pub struct RecordWrite {
    /// The collection.
    pub collection: String,
    /// The key.
    pub key: String,
    /// The new document.
    pub value: serde_json::Value,
    /// The condition for writing.
    pub expect: Expect,
}

impl RecordWrite {
    /// The conflict error of this write.
    pub(crate) fn conflict(&self) -> StoreError {
        StoreError::Conflict {
            what: format!(
                "record `{}` of `{}`{}",
                self.key,
                self.collection,
                match self.expect {
                    Expect::Absent => " (it exists already)".to_string(),
                    Expect::Version(v) => format!(" (expected version {v})"),
                    Expect::Ensure => String::new(),
                }
            ),
        }
    }
}

/// The collection of pinned runs: a finished run pinned there is never removed by
/// [`crate::Engine::clean`] (`dagctl db clean`), with its task instances, tries, logs and
/// XCom. Keys are `dag_id/run_id` (a DAG id holds no `/`).
pub const PINNED_RUNS: &str = "pinned_runs";

/// The key of a run in [`PINNED_RUNS`] (SQL stores match it as `dag_id || '/' || run_id`).
pub(crate) fn pinned_key(dag_id: &str, run_id: &str) -> String {
    format!("{dag_id}/{run_id}")
}

/// The write that pins the run `run_id` of `dag_id` ([`PINNED_RUNS`]), saying who keeps it
/// (`by`: "model churn v3"); pinning a run pinned already changes nothing.
pub fn pin_run(dag_id: &str, run_id: &str, by: &str) -> RecordWrite {
    RecordWrite {
        collection: PINNED_RUNS.into(),
        key: pinned_key(dag_id, run_id),
        value: serde_json::json!({ "by": by }),
        expect: Expect::Ensure,
    }
}

/// Documents kept for extensions (experiment runs, the model registry): the capability an
/// operator gets from [`crate::TaskContext::records`], without the rest of the store.
#[async_trait]
pub trait RecordStore: Send + Sync {
    /// A record, if it exists.
    async fn record(&self, collection: &str, key: &str) -> Result<Option<Record>, StoreError>;

    /// The records of a collection whose key starts with `prefix`, by key.
    async fn records(&self, collection: &str, prefix: &str) -> Result<Vec<Record>, StoreError>;

    /// Writes records all together or not at all: if any write's [`Expect`] does not hold,
    /// nothing is written and [`StoreError::Conflict`] names it.
    async fn write_records(&self, writes: &[RecordWrite]) -> Result<(), StoreError>;
}
