//! What a store holds, counted and summed for monitoring ([`Store::stats`], the web view's
//! `/metrics`): runs and task instances by DAG and state, durations as histograms, queue
//! depth, pool use and live workers. Labels are DAG ids, states and pools — never run ids —
//! so that the number of series stays bounded.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{RunFilter, Store, StoreError};
use crate::{RunState, RunType, TaskState};

/// Upper bounds (seconds) of the duration histograms' buckets; `+Inf` is implied.
pub const DURATION_BUCKETS: [f64; 12] = [
    0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 10800.0,
];

/// A histogram of durations, cumulative as Prometheus has them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    /// How many observations fell at or below each bound of [`DURATION_BUCKETS`].
    pub buckets: [u64; DURATION_BUCKETS.len()],
    /// How many observations in all.
    pub count: u64,
    /// Their sum, in seconds.
    pub sum: f64,
}

impl Histogram {
    /// Adds one observation.
    pub fn observe(&mut self, seconds: f64) {
        let seconds = seconds.max(0.0);
        for (b, bound) in self.buckets.iter_mut().zip(DURATION_BUCKETS) {
            if seconds <= bound {
                *b += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }
}

/// Counts and durations, by DAG (see the module documentation). The `ended_*` counts and
/// the histograms are counters: SQL and memory stores add to them when a run or task
/// instance ends and when a try ends or starts, so clearing, marking again or removing runs
/// never lowers them; the other fields say what is now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoreStats {
    /// Runs now queued or running, by (DAG, state).
    pub active_runs: BTreeMap<(String, RunState), u64>,
    /// Runs that ended, by (DAG, end state): each end counted once, when written.
    pub ended_runs: BTreeMap<(String, RunState), u64>,
    /// Task instances not ended of runs not over (queued or running), by (DAG, state).
    pub active_task_instances: BTreeMap<(String, TaskState), u64>,
    /// Task instances that ended, by (DAG, end state): each end counted once, when written.
    pub ended_task_instances: BTreeMap<(String, TaskState), u64>,
    /// Durations of ended runs, by DAG.
    pub run_durations: BTreeMap<String, Histogram>,
    /// Durations of ended tries, by DAG.
    pub try_durations: BTreeMap<String, Histogram>,
    /// From when a scheduled run was due (its data interval's end) to its first try, by DAG.
    pub schedule_lag: BTreeMap<String, Histogram>,
    /// Claims refused — a limit was reached (`max_active_tasks`, `max_active_tis_per_dag`, a
    /// pool's slots) or another worker was first — by (DAG, the task's pool). Kept only by
    /// stores with counters (the computation over ordinary reads leaves it empty).
    pub claims_refused: BTreeMap<(String, String), u64>,
    /// How long ready task instances waited for the claim that started them, by (DAG, the
    /// task's pool). Kept only by stores with counters, as `claims_refused`.
    pub slot_wait: BTreeMap<(String, String), Histogram>,
    /// Tries handed to workers and not taken yet.
    pub queued_tries: u64,
    /// Slots held by queued and running task instances of running runs, by pool.
    pub pool_used: BTreeMap<String, u64>,
    /// Workers holding a live lease on a run or a try.
    pub workers_alive: u64,
}

/// The statistics computed from the store's ordinary reads (every run, its instances and
/// tries): what [`Store::stats`] does for a store that keeps no counters. Its `ended_*`
/// counts and histograms are then what the store holds now, so clearing or removing runs
/// lowers them; SQL and memory stores keep counters instead.
///
/// # Errors
/// A store failure.
pub async fn computed<S: Store + ?Sized>(
    store: &S,
    now: DateTime<Utc>,
) -> Result<StoreStats, StoreError> {
    let mut s = StoreStats::default();
    let mut workers = std::collections::BTreeSet::new();
    for run in store.list_runs(&RunFilter::default()).await? {
        let runs = if run.state.is_finished() {
            &mut s.ended_runs
        } else {
            &mut s.active_runs
        };
        *runs.entry((run.dag_id.clone(), run.state)).or_default() += 1;
        if let (Some(a), Some(b)) = (run.start_date, run.end_date)
            && run.state.is_finished()
        {
            s.run_durations
                .entry(run.dag_id.clone())
                .or_default()
                .observe(seconds(b - a));
        }
        let tries = store.tries(&run.key(), None).await?;
        if let (RunType::Scheduled, Some(a)) =
            (run.run_type, tries.iter().map(|t| t.start_date).min())
        {
            s.schedule_lag
                .entry(run.dag_id.clone())
                .or_default()
                .observe(seconds(a - run.data_interval_end));
        }
        if let Some(o) = run
            .owner
            .as_ref()
            .filter(|o| o.until > now && run.state == RunState::Running)
        {
            workers.insert(o.worker_id.clone());
        }
        for ti in store.task_instances(&run.key()).await? {
            if ti.state.is_finished() {
                *s.ended_task_instances
                    .entry((run.dag_id.clone(), ti.state))
                    .or_default() += 1;
            } else if !run.state.is_finished() {
                *s.active_task_instances
                    .entry((run.dag_id.clone(), ti.state))
                    .or_default() += 1;
            }
            if run.state == RunState::Running
                && matches!(ti.state, TaskState::Queued | TaskState::Running)
            {
                *s.pool_used.entry(ti.pool.clone()).or_default() += u64::from(ti.pool_slots);
            }
        }
        for t in tries {
            if let Some(d) = t.duration {
                s.try_durations
                    .entry(run.dag_id.clone())
                    .or_default()
                    .observe(d.as_secs_f64());
            }
            match t.state {
                TaskState::Queued => s.queued_tries += 1,
                TaskState::Running if t.lease_until.is_some_and(|l| l > now) => {
                    workers.insert(t.worker_id.clone());
                }
                _ => {}
            }
        }
    }
    s.workers_alive = workers.len() as u64;
    Ok(s)
}

fn seconds(d: chrono::TimeDelta) -> f64 {
    d.num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6
}
