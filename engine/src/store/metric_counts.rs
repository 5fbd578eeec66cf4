//! Counters kept as things happen, for monitoring (`/metrics`): runs and task instances
//! counted when they end, and histograms of run and try durations and of scheduling lag
//! counted when observed. A store adds to them in the transaction that records the event, so
//! they only grow: clearing a run, marking it again or removing it (`db clean`) never lowers
//! them, which is what Prometheus counters and `rate()` need. Reading them is one small
//! `GROUP BY`, however many runs the store holds.
//!
//! Each count is a row (DAG, name, label, shard) of `metric_counts`: the label is an end state
//! or a histogram bucket's index; the shard ([`next_shard`]) keeps concurrent writers of one DAG
//! on different rows, so that PostgreSQL transactions do not queue behind one counter row.

use std::sync::LazyLock;
use std::time::Duration;

use super::Change;
use super::statements::GATE;
use super::stats::{DURATION_BUCKETS, StoreStats};
use crate::state::{RunState, TaskState};

/// Runs ended, by end state.
pub(crate) const RUNS: &str = "dag_run";
/// Task instances ended, by end state.
pub(crate) const TASKS: &str = "task_instance";
/// Durations of ended runs, by bucket.
pub(crate) const RUN_SECONDS: &str = "run_seconds";
/// Durations of ended tries, by bucket.
pub(crate) const TRY_SECONDS: &str = "try_seconds";
/// From a scheduled run's due time (its data interval's end) to its first try, by bucket.
pub(crate) const LAG_SECONDS: &str = "lag_seconds";
/// Claims a limit refused (or another worker won), by the task's pool.
pub(crate) const CLAIMS_REFUSED: &str = "claims_refused";
/// How long ready task instances waited for their claim, by `pool/bucket`.
pub(crate) const SLOT_WAIT: &str = "slot_wait_seconds";

/// How many rows each (DAG, name, label) count is spread over.
const SHARDS: u64 = 64;

/// What a change counts, if anything.
pub(crate) enum Counted<'a> {
    /// A run ended (its duration is read from the run).
    RunEnded(RunState),
    /// A task instance ended.
    TaskEnded(TaskState),
    /// A try ended after running this long.
    TryEnded(Duration),
    /// A try was claimed: the run's first try of a scheduled run measures its lag.
    Claimed {
        task_id: &'a str,
        try_number: u32,
        at: chrono::DateTime<chrono::Utc>,
        /// How long the instance waited, ready, for the claim.
        waited: Option<Duration>,
    },
}

/// The one rule of what is counted: ends of runs and task instances, tries' durations, and
/// claims (for the lag of a scheduled run's first try).
pub(crate) fn counted(change: &Change) -> Option<Counted<'_>> {
    match change {
        Change::SetRun { state, .. } if state.is_finished() => Some(Counted::RunEnded(*state)),
        Change::SetTask { state, .. } if state.is_finished() => Some(Counted::TaskEnded(*state)),
        Change::EndTry { duration, .. } => Some(Counted::TryEnded(*duration)),
        Change::Claim {
            task_id,
            try_number,
            at,
            waited,
            ..
        } => Some(Counted::Claimed {
            task_id,
            try_number: *try_number,
            at: *at,
            waited: *waited,
        }),
        _ => None,
    }
}

impl Counted<'_> {
    /// The counter row of an end — (name, label, the duration its total adds) — for all but
    /// a claim, whose lag depends on the run's other tries. A run's end also adds its
    /// duration, which the store reads from the run.
    pub(crate) fn row(&self) -> Option<(&'static str, String, Duration)> {
        Some(match self {
            Counted::RunEnded(state) => (RUNS, state.as_str().to_string(), Duration::ZERO),
            Counted::TaskEnded(state) => (TASKS, state.as_str().to_string(), Duration::ZERO),
            Counted::TryEnded(d) => (TRY_SECONDS, bucket(d.as_secs_f64()).to_string(), *d),
            Counted::Claimed { .. } => return None,
        })
    }
}

/// The shard of a transaction's counts: the next of this process's turn over the shards,
/// starting from one of its own. Concurrent transactions of a process then never share a
/// counter row, and those of different processes rarely do — a row written before a DAG's
/// lock is held until the commit, so two transactions on one row wait for each other's
/// lock wait too (which shard a count lands in does not matter: readers sum them).
pub(crate) fn next_shard() -> i64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: LazyLock<AtomicU64> = LazyLock::new(|| {
        // FNV-1a of the process id and the clock: another start for each process.
        let seed = format!("{}{:?}", std::process::id(), std::time::SystemTime::now());
        AtomicU64::new(seed.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        }))
    });
    (NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS) as i64
}

/// The bucket of a duration: the index of the first bound it does not exceed, or
/// `DURATION_BUCKETS.len()` (`+Inf`); a negative one counts as zero.
pub(crate) fn bucket(seconds: f64) -> usize {
    DURATION_BUCKETS
        .iter()
        .position(|b| seconds <= *b)
        .unwrap_or(DURATION_BUCKETS.len())
}

/// SQL giving the bucket label (text) of `micros`, an expression in microseconds: the same
/// buckets as [`bucket`].
pub(crate) fn bucket_sql(micros: &str) -> String {
    let mut s = String::from("CASE");
    for (i, b) in DURATION_BUCKETS.iter().enumerate() {
        s.push_str(&format!(
            " WHEN {micros} <= {} THEN '{i}'",
            (b * 1e6).round() as i64
        ));
    }
    s.push_str(&format!(" ELSE '{}' END", DURATION_BUCKETS.len()));
    s
}

/// How every statement adds to a counter row that exists already.
const UPSERT: &str = "ON CONFLICT (dag_id, name, label, shard) DO UPDATE SET \
     n = metric_counts.n + excluded.n, total = metric_counts.total + excluded.total";

/// Adds counts to their row, creating it (`$1` DAG, `$5` name, `$2` label, `$3` shard, `$6`
/// how many, `$4` their microseconds for the total).
pub(crate) static ADD: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO metric_counts (dag_id, name, label, shard, n, total) \
         VALUES ($1, $5, $2, $3, $6, CAST($4 AS DOUBLE PRECISION) / 1000000.0) {UPSERT}"
    )
});

/// Counts the duration of the run `$1`/`$2` (shard `$3`) as its row says, after its end was
/// written (a negative one, clocks apart, as zero, as [`Histogram::observe`] does).
///
/// [`Histogram::observe`]: super::stats::Histogram::observe
pub(crate) static ADD_RUN_SECONDS: LazyLock<String> = LazyLock::new(|| {
    let d = "(end_date - start_date)";
    let clamped = "(CASE WHEN end_date > start_date THEN end_date - start_date ELSE 0 END)";
    format!(
        "INSERT INTO metric_counts (dag_id, name, label, shard, n, total) \
         SELECT dag_id, '{RUN_SECONDS}', {}, $3, 1, \
         CAST({clamped} AS DOUBLE PRECISION) / 1000000.0 FROM dag_runs \
         WHERE dag_id = $1 AND run_id = $2 AND start_date IS NOT NULL AND end_date IS NOT NULL \
         {UPSERT}",
        bucket_sql(d)
    )
});

/// Counts the lag of a scheduled run `$1`/`$2` (shard `$3`) when the try just claimed (`$5`,
/// try `$6`, at `$4`) is its first.
pub(crate) static ADD_LAG: LazyLock<String> = LazyLock::new(|| {
    let d = "(CASE WHEN $4 > r.data_interval_end THEN $4 - r.data_interval_end ELSE 0 END)";
    format!(
        "INSERT INTO metric_counts (dag_id, name, label, shard, n, total) \
         SELECT r.dag_id, '{LAG_SECONDS}', {}, $3, 1, \
         CAST({d} AS DOUBLE PRECISION) / 1000000.0 FROM dag_runs r \
         WHERE r.dag_id = $1 AND r.run_id = $2 AND r.run_type = 'scheduled' \
         AND NOT EXISTS (SELECT 1 FROM task_tries t WHERE t.dag_id = $1 AND t.run_id = $2 \
         AND NOT (t.task_id = $5 AND t.try_number = $6)) {GATE} {UPSERT}",
        bucket_sql(d)
    )
});

/// Counts a refused claim of task `$4` of run `$1`/`$2` (shard `$3`) under its pool.
pub(crate) static ADD_REFUSED: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO metric_counts (dag_id, name, label, shard, n, total) \
         SELECT dag_id, '{CLAIMS_REFUSED}', pool, $3, 1, 0.0 FROM task_instances \
         WHERE dag_id = $1 AND run_id = $2 AND task_id = $4 {GATE} {UPSERT}"
    )
});

/// Observes the wait of the claimed task `$4` of run `$1`/`$2` (shard `$3`) in its pool's
/// slot-wait histogram: `$5` the bucket, `$6` the microseconds waited.
pub(crate) static ADD_SLOT_WAIT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO metric_counts (dag_id, name, label, shard, n, total) \
         SELECT dag_id, '{SLOT_WAIT}', pool || '/' || $5, $3, 1, \
         CAST($6 AS DOUBLE PRECISION) / 1000000.0 FROM task_instances \
         WHERE dag_id = $1 AND run_id = $2 AND task_id = $4 {GATE} {UPSERT}"
    )
});

/// The counts of a store, summed over shards: (DAG, name, label, count, total seconds).
pub(crate) type CountRow = (String, String, String, u64, f64);

/// Puts counts into `stats`: ended runs and task instances, and the three histograms.
/// Unknown names or labels (a newer version's) are left out.
pub(crate) fn fold(rows: impl IntoIterator<Item = CountRow>, stats: &mut StoreStats) {
    stats.ended_runs.clear();
    stats.ended_task_instances.clear();
    stats.run_durations.clear();
    stats.try_durations.clear();
    stats.schedule_lag.clear();
    stats.claims_refused.clear();
    stats.slot_wait.clear();
    for (dag, name, label, n, total) in rows {
        let histogram = match name.as_str() {
            CLAIMS_REFUSED => {
                *stats.claims_refused.entry((dag, label)).or_default() += n;
                continue;
            }
            SLOT_WAIT => {
                let Some((pool, bucket)) = label.rsplit_once('/') else {
                    continue;
                };
                if let Ok(i) = bucket.parse::<usize>()
                    && i <= DURATION_BUCKETS.len()
                {
                    let h = stats.slot_wait.entry((dag, pool.to_string())).or_default();
                    add_to(h, i, n, total);
                }
                continue;
            }
            RUNS => {
                if let Ok(s) = label.parse::<RunState>() {
                    *stats.ended_runs.entry((dag, s)).or_default() += n;
                }
                continue;
            }
            TASKS => {
                if let Ok(s) = label.parse::<TaskState>() {
                    *stats.ended_task_instances.entry((dag, s)).or_default() += n;
                }
                continue;
            }
            RUN_SECONDS => &mut stats.run_durations,
            TRY_SECONDS => &mut stats.try_durations,
            LAG_SECONDS => &mut stats.schedule_lag,
            _ => continue,
        };
        let Ok(i) = label.parse::<usize>() else {
            continue;
        };
        if i > DURATION_BUCKETS.len() {
            continue;
        }
        add_to(histogram.entry(dag).or_default(), i, n, total);
    }
}

/// Adds `n` observations of bucket `i` (`+Inf`, the last index, is in no bound's bucket, only
/// in the count) totalling `total` seconds to a cumulative histogram.
fn add_to(h: &mut super::stats::Histogram, i: usize, n: u64, total: f64) {
    for b in &mut h.buckets[i..] {
        *b += n;
    }
    h.count += n;
    h.sum += total;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_in_rust_and_sql_agree_and_the_migration_uses_them() {
        assert_eq!(bucket(0.0), 0);
        assert_eq!(bucket(-3.0), 0);
        assert_eq!(bucket(0.1), 0);
        assert_eq!(bucket(0.2), 1);
        assert_eq!(bucket(1e9), DURATION_BUCKETS.len());
        let sql = bucket_sql("d");
        assert!(sql.starts_with("CASE WHEN d <= 100000 THEN '0' WHEN d <= 500000 THEN '1'"));
        assert!(sql.ends_with("WHEN d <= 10800000000 THEN '11' ELSE '12' END"));
        // The migration that seeded the counts from the rows already there used these buckets.
        let seed = include_str!("migrations/0013_metric_counts.sql");
        for d in [
            "(end_date - start_date)",
            "duration_us",
            "(t.first_start - r.data_interval_end)",
        ] {
            assert!(seed.contains(&bucket_sql(d)), "{d}");
        }
    }

    #[test]
    fn folded_counts_are_cumulative_histograms() {
        let mut s = StoreStats::default();
        let row = |name: &str, label: &str, n, total| {
            (
                "d".to_string(),
                name.to_string(),
                label.to_string(),
                n,
                total,
            )
        };
        fold(
            [
                row(RUNS, "success", 3, 0.0),
                row(RUNS, "bogus", 1, 0.0),
                row(TRY_SECONDS, "0", 2, 0.1),
                row(TRY_SECONDS, "3", 1, 4.0),
                row(TRY_SECONDS, "12", 1, 99999.0),
            ],
            &mut s,
        );
        assert_eq!(s.ended_runs[&("d".into(), RunState::Success)], 3);
        let h = &s.try_durations["d"];
        assert_eq!(h.count, 4);
        assert_eq!(h.buckets[0], 2);
        assert_eq!(h.buckets[2], 2);
        assert_eq!(h.buckets[3], 3);
        assert_eq!(h.buckets[11], 3);
        assert!((h.sum - 100003.1).abs() < 1e-6);
    }
}
