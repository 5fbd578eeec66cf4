//! What a task instance becomes when one of its tries ends: one pure function, so that every
//! path that ends a try (a try of this process, one a worker ran, one orphaned by a dead
//! process, one cut by its executor's own failure) decides the same way, and the decisions can
//! be tested one by one without a store.
//!
//! The budget: a task has `max_tries` tries (its retries + 1, reset by a clear); a try that
//! ended through nobody's fault in the task (deferred, orphaned) is given back. A failed try
//! is retried, after its delay, while tries remain and the error allows it. An orphan runs
//! again at once; where the engine can run a try alone, the next tries do (a death under
//! them is then the task's, see `executor::isolated`), else the task fails at its
//! [`MAX_ORPHANED`]-th orphaning, since it may be what kills its process.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::state::TaskState;

/// How many times a task's process may die under it before the task fails, in an engine
/// that cannot run a try alone to tell who killed it.
pub(crate) const MAX_ORPHANED: usize = 3;

/// How a try ended, as far as its task's next state goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TryEnd {
    /// It succeeded (a branch and a short-circuit too).
    Succeeded,
    /// It skipped itself.
    Skipped,
    /// It deferred itself until a time.
    Deferred(DateTime<Utc>),
    /// It failed; `retryable` says whether another try may help.
    Failed {
        /// Whether the error allows a retry.
        retryable: bool,
    },
    /// Its process died under it (`None`: of an unknown cause, which may be the task) or
    /// its executor cut it (`Some(ExecutorStopped)`), before it ended.
    Orphaned(Option<OrphanCause>),
}

/// Why a try was orphaned, when known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OrphanCause {
    /// Its executor stopped (the store failed under the run): never the task's fault.
    ExecutorStopped,
}

/// What the task has used of its budget when the try ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Budget {
    /// The try that ended (1 for the first).
    pub(crate) try_number: u32,
    /// The tries it may have.
    pub(crate) max_tries: u32,
    /// Orphans of unknown cause before this one, since the task was last cleared.
    pub(crate) orphaned_before: usize,
}

/// The engine's means, as far as the decision goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Means {
    /// The engine can run a try alone (an isolated process).
    pub(crate) isolation: bool,
}

/// What follows the end of a try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Next {
    /// The task instance's new state.
    pub(crate) state: TaskState,
    /// The try used nothing of the budget: `max_tries` grows by one.
    pub(crate) give_back: bool,
    /// When the next try may start (up for retry, deferred).
    pub(crate) next_attempt_at: Option<DateTime<Utc>>,
    /// The task's next tries run alone.
    pub(crate) isolate: bool,
    /// The task failed because its process died under it too often.
    pub(crate) orphaned_out: bool,
}

impl Next {
    fn to(state: TaskState) -> Next {
        Next {
            state,
            give_back: false,
            next_attempt_at: None,
            isolate: false,
            orphaned_out: false,
        }
    }
}

/// The task instance's next state after a try ended as `end`, with `budget` used; `delay`
/// gives the wait before retry `n` (of the task's policy).
pub(crate) fn after_try(
    end: TryEnd,
    budget: Budget,
    means: Means,
    delay: impl Fn(u32) -> Duration,
    now: DateTime<Utc>,
) -> Next {
    match end {
        TryEnd::Succeeded => Next::to(TaskState::Success),
        TryEnd::Skipped => Next::to(TaskState::Skipped),
        TryEnd::Deferred(until) => Next {
            give_back: true,
            next_attempt_at: Some(until),
            ..Next::to(TaskState::Deferred)
        },
        TryEnd::Failed { retryable } if retryable && budget.try_number < budget.max_tries => {
            // Delays are bounded when a DAG is loaded; a sum past the calendar waits
            // forever rather than panicking.
            let at = chrono::Duration::from_std(delay(budget.try_number.max(1)))
                .ok()
                .and_then(|d| now.checked_add_signed(d))
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
            Next {
                next_attempt_at: Some(at),
                ..Next::to(TaskState::UpForRetry)
            }
        }
        TryEnd::Failed { .. } => Next::to(TaskState::Failed),
        TryEnd::Orphaned(Some(OrphanCause::ExecutorStopped)) => Next {
            give_back: true,
            ..Next::to(TaskState::Scheduled)
        },
        TryEnd::Orphaned(None) if means.isolation => Next {
            give_back: true,
            isolate: true,
            ..Next::to(TaskState::Scheduled)
        },
        TryEnd::Orphaned(None) if budget.orphaned_before + 1 >= MAX_ORPHANED => Next {
            orphaned_out: true,
            ..Next::to(TaskState::Failed)
        },
        TryEnd::Orphaned(None) => Next {
            give_back: true,
            ..Next::to(TaskState::Scheduled)
        },
    }
}

#[cfg(test)]
mod tests;
