//! A broadcast stream of state changes, for embedders, the CLI's progress display and
//! callbacks.

use crate::state::{RunState, TaskState};

/// A state change of a run or a task instance.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A run changed state.
    Run {
        /// The DAG.
        dag_id: String,
        /// The run.
        run_id: String,
        /// Its new state.
        state: RunState,
    },
    /// A task instance changed state.
    Task {
        /// The DAG.
        dag_id: String,
        /// The run.
        run_id: String,
        /// The task.
        task_id: String,
        /// The try the change belongs to (0 before the first try).
        try_number: u32,
        /// Its new state.
        state: TaskState,
    },
}

/// How many events a slow subscriber may lag behind before it misses some.
pub const EVENT_BUFFER: usize = 4096;
