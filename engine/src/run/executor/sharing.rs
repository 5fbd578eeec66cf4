//! Sharing tries between workers (`dagctl worker`): which tries a driver keeps and which it
//! hands off, this process's try slots, and the outcome a worker records for a try it took.
//!
//! A driver of a run in a sharing process starts a ready task here when the task's pool is
//! one this worker serves and one of its try slots (`--concurrency`) is free; otherwise it
//! hands the try off: the claim is committed as usual (`max_active_tasks` holds across
//! processes) but the try row waits `queued`. Any worker serving the pool takes it
//! ([`crate::store::Store::take_queued`]), runs it, and records its outcome under its own
//! lease; the driver applies that outcome like the end of one of its own tries (one code
//! path for retries, XCom, skips and callbacks). A worker that dies loses its lease and the
//! try runs again without using a retry; one that comes back too late cannot record
//! anything ([`crate::store::Change::Held`]).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::context::{Pending, TaskError, TaskOutcome};

/// How a process shares tries with other workers ([`super::Executor::share_tries`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrySharing {
    /// Tries this process runs at once, of its own runs and taken from others
    /// (`dagctl worker --concurrency`).
    pub concurrency: usize,
    /// The pools whose tasks this process runs (`--pools`); `None`: every pool. Tasks of
    /// other pools are handed to the workers serving them.
    pub pools: Option<Vec<String>>,
    /// The longest wait between two looks for queued tries while idle (the looks back off
    /// from 20 ms to this).
    pub poll: Duration,
}

/// A process's sharing settings and try slots.
#[derive(Debug)]
pub(super) struct Sharing {
    pub(super) config: TrySharing,
    used: AtomicUsize,
    /// Told when a driver of this process hands a try off or a try slot frees.
    pub(super) wake: tokio::sync::Notify,
}

impl Sharing {
    pub(super) fn new(config: TrySharing) -> Self {
        Sharing {
            config,
            used: AtomicUsize::new(0),
            wake: tokio::sync::Notify::new(),
        }
    }

    /// Whether this process runs tasks of `pool`.
    pub(super) fn serves(&self, pool: &str) -> bool {
        self.config
            .pools
            .as_ref()
            .is_none_or(|p| p.iter().any(|x| x == pool))
    }

    /// Takes a try slot if one is free.
    pub(super) fn take_slot(&self) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                (u < self.config.concurrency.max(1)).then_some(u + 1)
            })
            .is_ok()
    }

    /// Gives a try slot back.
    pub(super) fn release_slot(&self) {
        let _ = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| u.checked_sub(1));
        self.wake.notify_waiters();
    }

    /// Free try slots.
    pub(super) fn free(&self) -> usize {
        self.config
            .concurrency
            .max(1)
            .saturating_sub(self.used.load(Ordering::Acquire))
    }
}

/// A handed try's outcome, recorded in the store by a worker of this process: (task, try,
/// outcome).
pub(super) type Delivered = (String, u32, Value);

/// Where the driver of one run receives the outcomes workers of its own process recorded,
/// so that it need not read them back from the store.
#[derive(Debug, Default)]
pub(super) struct Inbox {
    outcomes: std::sync::Mutex<Vec<Delivered>>,
    /// Told when an outcome arrives.
    pub(super) wake: tokio::sync::Notify,
    /// Told when a worker of another process recorded one (the store has it).
    pub(super) elsewhere: tokio::sync::Notify,
    /// The outcomes put here whose store signal has not come back yet.
    unheard: std::sync::Mutex<std::collections::HashSet<(String, u32)>>,
}

impl Inbox {
    pub(super) fn put(&self, d: Delivered) {
        self.unheard
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((d.0.clone(), d.1));
        self.outcomes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(d);
        self.wake.notify_one();
    }

    /// Whether the signal of the outcome of `task_id`'s try `try_number` is of one put
    /// here (a worker of this process recorded it): then it was delivered already.
    pub(super) fn heard_back(&self, task_id: &str, try_number: u32) -> bool {
        self.unheard
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(task_id.to_string(), try_number))
    }

    pub(super) fn take(&self) -> Vec<Delivered> {
        std::mem::take(&mut *self.outcomes.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// The outcome of a handed try as its worker records it.
pub(super) fn encode(
    result: &Result<TaskOutcome, TaskError>,
    pending: &Pending,
    duration: Duration,
) -> Value {
    let result = match result {
        Ok(TaskOutcome::Success(value)) => json!({"success": value}),
        Ok(TaskOutcome::Skipped(reason)) => json!({"skipped": reason}),
        Ok(TaskOutcome::Branch(chosen)) => json!({"branch": chosen}),
        Ok(TaskOutcome::Defer { until }) => json!({"defer": until.to_rfc3339()}),
        Ok(TaskOutcome::ShortCircuit {
            skip_all_downstream,
        }) => json!({"short_circuit": skip_all_downstream}),
        Err(e) => json!({"error": e.message, "retryable": e.retryable}),
    };
    json!({
        "result": result,
        "xcom": pending.xcom,
        "variables": pending.variables,
        "duration_us": duration.as_micros() as u64,
    })
}

/// The outcome a worker recorded; one that cannot be read is a failed try saying so.
pub(super) fn decode(v: &Value) -> (Result<TaskOutcome, TaskError>, Pending, Duration) {
    let unreadable = || {
        (
            Err(TaskError::retryable(format!(
                "the outcome its worker recorded cannot be read: {v}"
            ))),
            Pending::default(),
            Duration::ZERO,
        )
    };
    let Some(r) = v.get("result").and_then(Value::as_object) else {
        return unreadable();
    };
    let result = if let Some(value) = r.get("success") {
        Ok(TaskOutcome::Success(
            (!value.is_null()).then(|| value.clone()),
        ))
    } else if let Some(reason) = r.get("skipped").and_then(Value::as_str) {
        Ok(TaskOutcome::Skipped(reason.to_string()))
    } else if let Some(chosen) = r.get("branch").and_then(Value::as_array) {
        Ok(TaskOutcome::Branch(
            chosen
                .iter()
                .filter_map(|c| c.as_str().map(str::to_string))
                .collect(),
        ))
    } else if let Some(until) = r.get("defer").and_then(Value::as_str) {
        match DateTime::parse_from_rfc3339(until) {
            Ok(t) => Ok(TaskOutcome::Defer {
                until: t.with_timezone(&Utc),
            }),
            Err(_) => return unreadable(),
        }
    } else if let Some(all) = r.get("short_circuit").and_then(Value::as_bool) {
        Ok(TaskOutcome::ShortCircuit {
            skip_all_downstream: all,
        })
    } else if let Some(message) = r.get("error").and_then(Value::as_str) {
        Err(TaskError {
            message: message.to_string(),
            retryable: r.get("retryable").and_then(Value::as_bool).unwrap_or(true),
        })
    } else {
        return unreadable();
    };
    let pairs = |key: &str| -> Option<Vec<(String, Value)>> {
        v.get(key)?
            .as_array()?
            .iter()
            .map(|p| Some((p.get(0)?.as_str()?.to_string(), p.get(1)?.clone())))
            .collect()
    };
    let (Some(xcom), Some(variables)) = (pairs("xcom"), pairs("variables")) else {
        return unreadable();
    };
    let variables = variables
        .into_iter()
        .map(|(k, v)| (k, v.as_str().map_or_else(|| v.to_string(), str::to_string)))
        .collect();
    let duration = Duration::from_micros(v.get("duration_us").and_then(Value::as_u64).unwrap_or(0));
    (result, Pending { xcom, variables }, duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_survive_the_store() {
        let pending = Pending {
            xcom: vec![("k".into(), json!({"a": [1, 2]}))],
            variables: vec![("v".into(), "text".into())],
        };
        let until = Utc::now();
        for result in [
            Ok(TaskOutcome::Success(Some(json!([1, "x"])))),
            Ok(TaskOutcome::Success(None)),
            Ok(TaskOutcome::Skipped("why".into())),
            Ok(TaskOutcome::Branch(vec!["a".into(), "b".into()])),
            Ok(TaskOutcome::Defer { until }),
            Ok(TaskOutcome::ShortCircuit {
                skip_all_downstream: false,
            }),
            Err(TaskError::fatal("no")),
            Err(TaskError::retryable("again")),
        ] {
            let v = encode(&result, &pending, Duration::from_millis(1500));
            let text = v.to_string();
            let (r, p, d) = decode(&serde_json::from_str(&text).unwrap());
            match (&result, &r) {
                (Ok(TaskOutcome::Defer { until: a }), Ok(TaskOutcome::Defer { until: b })) => {
                    assert_eq!(a.timestamp_micros(), b.timestamp_micros())
                }
                _ => assert_eq!(format!("{result:?}"), format!("{r:?}")),
            }
            assert_eq!(p.xcom, pending.xcom);
            assert_eq!(p.variables, pending.variables);
            assert_eq!(d, Duration::from_millis(1500));
        }
        let (r, _, _) = decode(&json!({"result": {"what": 1}}));
        assert!(r.unwrap_err().message.contains("cannot be read"));
    }

    #[test]
    fn try_slots_are_counted() {
        let s = Sharing::new(TrySharing {
            concurrency: 2,
            pools: Some(vec!["gpu".into()]),
            poll: Duration::from_secs(1),
        });
        assert!(s.serves("gpu") && !s.serves("default_pool"));
        assert!(s.take_slot() && s.take_slot());
        assert!(!s.take_slot(), "two slots only");
        assert_eq!(s.free(), 0);
        s.release_slot();
        assert_eq!(s.free(), 1);
        s.release_slot();
        s.release_slot();
        assert_eq!(s.free(), 2, "never more than the concurrency");
    }
}
