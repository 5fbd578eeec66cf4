//! Run and task-instance states, named as in Airflow.

use std::fmt;
use std::str::FromStr;

/// The state of a task instance.
///
/// `none → scheduled → running → success | failed | skipped | upstream_failed |
/// up_for_retry (→ scheduled after the delay)`. `queued` and `deferred` are kept for
/// compatibility with Airflow's vocabulary and for sensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TaskState {
    /// Waiting for its upstreams.
    None,
    /// Ready to run: its trigger rule said so.
    Scheduled,
    /// Claimed, about to start.
    Queued,
    /// A try is running.
    Running,
    /// Finished successfully.
    Success,
    /// Failed with no retry left.
    Failed,
    /// Skipped (by a branch, a short-circuit or its trigger rule).
    Skipped,
    /// Not run because an upstream failed.
    UpstreamFailed,
    /// A try failed; another one starts after the retry delay.
    UpForRetry,
    /// A sensor waiting for its next poke, holding no slot.
    Deferred,
    /// Of a try only: its worker died before it ended. The task runs again at once and the
    /// try does not count against its retries.
    Orphaned,
    /// A mapped instance past its task's latest expansion (the run was cleared and the task
    /// expanded into fewer instances): kept with its tries, no longer part of the run.
    Removed,
}

impl TaskState {
    /// Every state.
    pub const ALL: [TaskState; 12] = [
        TaskState::None,
        TaskState::Scheduled,
        TaskState::Queued,
        TaskState::Running,
        TaskState::Success,
        TaskState::Failed,
        TaskState::Skipped,
        TaskState::UpstreamFailed,
        TaskState::UpForRetry,
        TaskState::Deferred,
        TaskState::Orphaned,
        TaskState::Removed,
    ];

    /// States from which a worker may claim the task instance (the executor has checked its
    /// trigger rule or its wake-up time): every store must accept exactly these.
    pub const CLAIMABLE: [TaskState; 5] = [
        TaskState::None,
        TaskState::Scheduled,
        TaskState::Queued,
        TaskState::UpForRetry,
        TaskState::Deferred,
    ];

    /// The name used in the store and on screen.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::None => "none",
            TaskState::Scheduled => "scheduled",
            TaskState::Queued => "queued",
            TaskState::Running => "running",
            TaskState::Success => "success",
            TaskState::Failed => "failed",
            TaskState::Skipped => "skipped",
            TaskState::UpstreamFailed => "upstream_failed",
            TaskState::UpForRetry => "up_for_retry",
            TaskState::Deferred => "deferred",
            TaskState::Orphaned => "orphaned",
            TaskState::Removed => "removed",
        }
    }

    /// Whether the state is final for the run (nothing more will happen to the task).
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            TaskState::Success
                | TaskState::Failed
                | TaskState::Skipped
                | TaskState::UpstreamFailed
                | TaskState::Removed
        )
    }
}

/// The state of a DAG run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RunState {
    /// Created, not started.
    Queued,
    /// Being executed.
    Running,
    /// Every leaf task succeeded or was skipped.
    Success,
    /// A leaf task failed or was upstream_failed.
    Failed,
}

impl RunState {
    /// Every state.
    pub const ALL: [RunState; 4] = [
        RunState::Queued,
        RunState::Running,
        RunState::Success,
        RunState::Failed,
    ];

    /// The name used in the store and on screen.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Queued => "queued",
            RunState::Running => "running",
            RunState::Success => "success",
            RunState::Failed => "failed",
        }
    }

    /// Whether the run is over.
    pub fn is_finished(self) -> bool {
        matches!(self, RunState::Success | RunState::Failed)
    }
}

/// How a run came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunType {
    /// `dagctl trigger` or the API.
    Manual,
    /// The scheduler, for a schedule interval.
    Scheduled,
    /// `dagctl backfill`.
    Backfill,
    /// Dataset events.
    DatasetTriggered,
}

impl RunType {
    /// Every run type.
    pub const ALL: [RunType; 4] = [
        RunType::Manual,
        RunType::Scheduled,
        RunType::Backfill,
        RunType::DatasetTriggered,
    ];

    /// The name used in run ids and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            RunType::Manual => "manual",
            RunType::Scheduled => "scheduled",
            RunType::Backfill => "backfill",
            RunType::DatasetTriggered => "dataset_triggered",
        }
    }
}

/// A name that is not a known state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownState(pub String);

impl fmt::Display for UnknownState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown state `{}`", self.0)
    }
}

impl std::error::Error for UnknownState {}

macro_rules! state_text {
    ($ty:ty) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl FromStr for $ty {
            type Err = UnknownState;
            fn from_str(s: &str) -> Result<Self, UnknownState> {
                <$ty>::ALL
                    .into_iter()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| UnknownState(s.to_string()))
            }
        }
    };
}

state_text!(TaskState);
state_text!(RunState);
state_text!(RunType);
