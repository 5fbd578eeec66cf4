//! Run ids and new [`DagRun`]s: the one place that builds either.

use chrono::{DateTime, SecondsFormat, Utc};

use crate::state::{RunState, RunType};
use crate::store::{DagRun, RunKey};
use crate::timetable::DataInterval;

/// Whether `id` may be a run id: 1 to 250 of `A-Z a-z 0-9 _ . ~ : + -`, Airflow's pattern. A
/// run id reaches file names, log lines and `bash_command` templates, so nothing else is let
/// in (`a; touch /tmp/pwned #` is refused before any run exists).
pub fn is_valid_run_id(id: &str) -> bool {
    (1..=250).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.~:+-".contains(&b))
}

/// The run id of a run of `kind` for `logical_date`: `manual__2026-01-01T00:00:00+00:00`,
/// as Airflow names runs.
pub fn run_id(kind: RunType, logical_date: DateTime<Utc>) -> String {
    format!(
        "{}__{}",
        kind.as_str(),
        logical_date.to_rfc3339_opts(SecondsFormat::AutoSi, false)
    )
}

/// What a new run is made of; [`NewRun::build`] makes the queued [`DagRun`].
#[derive(Debug, Clone)]
pub struct NewRun {
    /// The DAG.
    pub dag_id: String,
    /// How the run comes to be.
    pub kind: RunType,
    /// Its logical date: the start of its data interval unless set otherwise (a manual
    /// run's date, which Airflow keeps apart from the interval it infers).
    pub logical_date: DateTime<Utc>,
    /// Its data interval.
    pub interval: DataInterval,
    /// `dag_run.conf`.
    pub conf: serde_json::Value,
    /// Its run id; [`run_id`] of the kind and logical date when absent.
    pub run_id: Option<String>,
    /// The run that causes it.
    pub triggered_by: Option<RunKey>,
}

impl NewRun {
    /// A run of `dag_id` for `interval`, with an empty conf.
    pub fn new(dag_id: impl Into<String>, kind: RunType, interval: DataInterval) -> Self {
        NewRun {
            dag_id: dag_id.into(),
            kind,
            logical_date: interval.start,
            interval,
            conf: serde_json::json!({}),
            run_id: None,
            triggered_by: None,
        }
    }

    /// The queued run, created `now`.
    pub fn build(self, now: DateTime<Utc>) -> DagRun {
        DagRun {
            run_id: self
                .run_id
                .unwrap_or_else(|| run_id(self.kind, self.logical_date)),
            dag_id: self.dag_id,
            run_type: self.kind,
            logical_date: self.logical_date,
            data_interval_start: self.interval.start,
            data_interval_end: self.interval.end,
            conf: self.conf,
            state: RunState::Queued,
            created_at: now,
            start_date: None,
            end_date: None,
            triggered_by: self.triggered_by,
            owner: None,
        }
    }
}
