//! What a store tells every process that shares it, as it commits: a try ended (its task,
//! DAG and pool slots are free), a try was handed to workers, a handed try's outcome was
//! recorded. Processes that wait for one of these (a claim refused by a limit, a worker with
//! free try slots, a driver waiting for a handed try) wake at once instead of polling.
//!
//! On PostgreSQL, the transaction that makes the change sends `NOTIFY` (delivered only if it
//! commits) and each process listens on one connection of its own
//! ([`crate::store::SqlStore`]); other stores send nothing, and their processes poll. A
//! listener that lost its connection says [`Signal::Missed`]: everything that waits looks
//! at the store once.

use crate::store::{Batch, Change, RunKey};

/// The `NOTIFY` channel of a store's signals.
pub(crate) const CHANNEL: &str = "dagctl";

/// One thing committed that another process may be waiting for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Signal {
    /// A try of the DAG ended: one of its task slots, and of its task's pool, is free.
    TryEnded {
        /// The DAG.
        dag_id: String,
    },
    /// A try was handed to workers (claimed `queued`, or given back to the queue).
    TryQueued,
    /// A worker recorded what a handed try came to, for its run's driver.
    Outcome {
        /// The run.
        run: RunKey,
        /// The task.
        task_id: String,
        /// Which try.
        try_number: u32,
    },
    /// Signals may have been lost (the listener reconnected, or fell behind): whatever
    /// waits looks at the store.
    Missed,
}

impl Signal {
    /// The signals a committed batch sends, each once.
    ///
    /// A try's end is [`Signal::TryEnded`] only where its batch says it freed slots
    /// ([`Change::SlotsFreed`]): a wide run that ends one try and claims its next in one
    /// batch frees nothing another process could take, and telling them would wake a waiting
    /// run in each, whose claims the limit then refuses (most of the claims of three workers
    /// under the default `max_active_tasks` were such).
    pub(crate) fn of_batch(batch: &Batch) -> Vec<Signal> {
        let mut out = Vec::new();
        let mut push = |s: Signal| {
            if !out.contains(&s) {
                out.push(s);
            }
        };
        for change in &batch.changes {
            match change {
                Change::SlotsFreed => push(Signal::TryEnded {
                    dag_id: batch.dag_id.clone(),
                }),
                Change::Claim { queued: true, .. } | Change::Requeue { .. } => {
                    push(Signal::TryQueued)
                }
                Change::Outcome {
                    task_id,
                    try_number,
                    ..
                } => push(Signal::Outcome {
                    run: RunKey::new(batch.dag_id.clone(), batch.run_id.clone()),
                    task_id: task_id.clone(),
                    try_number: *try_number,
                }),
                _ => {}
            }
        }
        out
    }

    /// The `NOTIFY` payload: a tag and the names, separated by tabs (the last name takes
    /// the rest, so a run id may hold one).
    pub(crate) fn payload(&self) -> String {
        match self {
            Signal::TryEnded { dag_id } => format!("e\t{dag_id}"),
            Signal::TryQueued => "q".to_string(),
            Signal::Outcome {
                run,
                task_id,
                try_number,
            } => format!("o\t{}\t{try_number}\t{task_id}\t{}", run.dag_id, run.run_id),
            Signal::Missed => "m".to_string(),
        }
    }

    /// The signal of a payload; `None` for one this version does not know (a newer one's).
    pub(crate) fn parse(payload: &str) -> Option<Signal> {
        let (tag, rest) = payload.split_once('\t').unwrap_or((payload, ""));
        Some(match tag {
            "e" if !rest.is_empty() => Signal::TryEnded {
                dag_id: rest.to_string(),
            },
            "q" => Signal::TryQueued,
            "o" => {
                // DAG and task ids hold no tab (validation refuses one): the run id is the
                // rest.
                let mut parts = rest.splitn(4, '\t');
                let (dag_id, try_number, task_id, run_id) =
                    (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
                Signal::Outcome {
                    run: RunKey::new(dag_id, run_id),
                    task_id: task_id.to_string(),
                    try_number: try_number.parse().ok()?,
                }
            }
            "m" => Signal::Missed,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_read_back_as_the_signal_they_were() {
        for s in [
            Signal::TryEnded {
                dag_id: "d\twith tab".into(),
            },
            Signal::TryQueued,
            Signal::Outcome {
                run: RunKey::new("d", "manual__2026-01-01T00:00:00+00:00\tx"),
                task_id: "t[3]".into(),
                try_number: 2,
            },
            Signal::Missed,
        ] {
            let p = s.payload();
            assert_eq!(Signal::parse(&p), Some(s), "{p:?}");
        }
        assert_eq!(Signal::parse("z\tnew kind"), None);
        assert_eq!(Signal::parse("o\td\tnot a number\tt\tr"), None);
        assert_eq!(Signal::parse(""), None);
    }

    /// A try's end is announced only where its batch says it freed slots.
    #[test]
    fn only_a_batch_that_freed_slots_announces_them() {
        let at = chrono::Utc::now();
        let end = Change::EndTry {
            task_id: "a".into(),
            try_number: 1,
            state: crate::state::TaskState::Success,
            at,
            duration: std::time::Duration::ZERO,
            error: None,
        };
        let signals = |changes| {
            Signal::of_batch(&Batch {
                dag_id: "d".into(),
                run_id: "r".into(),
                changes,
            })
        };
        assert_eq!(signals(vec![end.clone()]), vec![]);
        assert_eq!(
            signals(vec![end, Change::SlotsFreed]),
            vec![Signal::TryEnded { dag_id: "d".into() }]
        );
    }
}
