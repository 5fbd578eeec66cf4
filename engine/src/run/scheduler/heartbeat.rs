//! Scheduler and worker heartbeats: how long each loop took, written to the store every few
//! seconds (collection [`COLLECTION`], one record per host and role), so that `/metrics` can
//! say how busy the schedulers of a deployment are and whether they are alive.

use std::time::{Duration, Instant};

use chrono::Utc;
use serde::{Deserialize, Serialize};

use crate::store::{Expect, RecordStore, RecordWrite};

/// The records' collection.
pub const COLLECTION: &str = "scheduler_heartbeats";

/// How often a heartbeat is written.
const EVERY: Duration = Duration::from_secs(5);

/// One process's heartbeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// `scheduler` (creates and executes runs), `creator` (`--no-execute`) or `worker`.
    pub role: String,
    /// The process's worker id.
    pub worker_id: String,
    /// When it was written.
    pub at: chrono::DateTime<Utc>,
    /// Loops since the process started.
    pub loops: u64,
    /// Their summed duration, in seconds.
    pub loop_seconds_sum: f64,
    /// The longest loop since the previous heartbeat, in seconds.
    pub loop_seconds_max: f64,
}

/// Measures loops and writes heartbeats.
pub(crate) struct LoopClock {
    beat: Heartbeat,
    key: String,
    next_write: Instant,
}

impl LoopClock {
    pub(crate) fn new(role: &str, worker_id: &str) -> LoopClock {
        let host = worker_id.split(':').next().unwrap_or(worker_id);
        LoopClock {
            beat: Heartbeat {
                role: role.to_string(),
                worker_id: worker_id.to_string(),
                at: Utc::now(),
                loops: 0,
                loop_seconds_sum: 0.0,
                loop_seconds_max: 0.0,
            },
            key: format!("{host}/{role}"),
            next_write: Instant::now(),
        }
    }

    /// Counts a loop that took `took`, and writes the heartbeat when it is due. A store that
    /// refuses the write is tried again at the next beat: a heartbeat never stops a loop.
    pub(crate) async fn observe(&mut self, took: Duration, store: &dyn RecordStore) {
        let s = took.as_secs_f64();
        self.beat.loops += 1;
        self.beat.loop_seconds_sum += s;
        self.beat.loop_seconds_max = self.beat.loop_seconds_max.max(s);
        if Instant::now() < self.next_write {
            return;
        }
        self.next_write = Instant::now() + EVERY;
        self.beat.at = Utc::now();
        let Ok(value) = serde_json::to_value(&self.beat) else {
            return;
        };
        let expect = match store.record(COLLECTION, &self.key).await {
            Ok(Some(r)) => Expect::Version(r.version),
            Ok(None) => Expect::Absent,
            Err(e) => {
                tracing::debug!("heartbeat not written: {e}");
                return;
            }
        };
        let write = RecordWrite {
            collection: COLLECTION.into(),
            key: self.key.clone(),
            value,
            expect,
        };
        match store.write_records(&[write]).await {
            Ok(()) => self.beat.loop_seconds_max = 0.0,
            Err(e) => tracing::debug!("heartbeat not written: {e}"),
        }
    }
}

/// The heartbeats written within `fresh` of now.
///
/// # Errors
/// A store failure.
pub async fn live(
    store: &dyn RecordStore,
    fresh: Duration,
) -> Result<Vec<Heartbeat>, crate::StoreError> {
    let cut = Utc::now() - chrono::Duration::from_std(fresh).unwrap_or_default();
    Ok(store
        .records(COLLECTION, "")
        .await?
        .into_iter()
        .filter_map(|r| serde_json::from_value::<Heartbeat>(r.value).ok())
        .filter(|h| h.at >= cut)
        .collect())
}
