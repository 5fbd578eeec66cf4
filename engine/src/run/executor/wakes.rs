//! Where the waiters of this process wake: runs whose claim a limit refused, drivers waiting
//! for the outcome of a handed try, the worker loop waiting for handed tries. Each is told
//! by this process when it ends a try or hands one off, and by the store's [`Signal`]s when
//! another process does; polls remain only as the fallback of a store that sends none.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, broadcast};

use super::sharing::Inbox;
use crate::store::{RunKey, Signal, Store};

/// How often what waits looks at the store anyway when the store's signals reach this
/// process (in case one was lost between a look and the wait).
const SIGNALLED_POLL: Duration = Duration::from_secs(1);

/// The wake-ups of one executor.
#[derive(Debug, Default)]
pub(super) struct Wakes {
    /// Per DAG: one of its tries ended here or elsewhere. One waiting run looks (a slot
    /// freed lets one claim win, not every waiting run's).
    freed: Mutex<HashMap<String, Arc<Notify>>>,
    /// A try was handed off by another process: the worker loop looks.
    pub(super) queued: Notify,
    /// Hand-offs this process committed whose signal has not come back yet: as many
    /// `TryQueued` signals are this process's own (its worker loop was told already).
    handed_here: std::sync::atomic::AtomicUsize,
    /// Per run driven here: where its handed tries' outcomes arrive.
    inboxes: Mutex<HashMap<RunKey, Arc<Inbox>>>,
    /// Whether the store's signals reach this process.
    signalled: AtomicBool,
    /// Whether the store was asked for its signals (once per executor).
    subscribed: AtomicBool,
}

impl Wakes {
    /// Starts passing the store's signals to the waiters of this process, unless that was
    /// done already or the store sends none.
    pub(super) fn listen(self: &Arc<Self>, store: &dyn Store) {
        if self.subscribed.swap(true, Ordering::AcqRel) {
            return;
        }
        let Some(mut rx) = store.signals() else {
            return;
        };
        self.signalled.store(true, Ordering::Release);
        // Holds the wakes, not the store: it ends when the store's last clone is dropped.
        let wakes = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(signal) => wakes.apply(&signal),
                    Err(broadcast::error::RecvError::Lagged(_)) => wakes.apply(&Signal::Missed),
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
            wakes.signalled.store(false, Ordering::Release);
        });
    }

    /// How long a waiter waits before it looks at the store anyway: `poll` where nothing
    /// signals, longer where the store's signals wake it.
    pub(super) fn fallback(&self, poll: Duration) -> Duration {
        if self.signalled.load(Ordering::Acquire) {
            poll.max(SIGNALLED_POLL)
        } else {
            poll
        }
    }

    /// Wakes whoever waits for `signal`.
    fn apply(&self, signal: &Signal) {
        match signal {
            Signal::TryEnded { dag_id } => self.freed(dag_id).notify_one(),
            Signal::TryQueued => {
                let own = self
                    .handed_here
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                    .is_ok();
                if !own {
                    self.queued.notify_one();
                }
            }
            Signal::Outcome {
                run,
                task_id,
                try_number,
            } => {
                if let Some(inbox) = self.lock_inboxes().get(run)
                    && !inbox.heard_back(task_id, *try_number)
                {
                    inbox.elsewhere.notify_one();
                }
            }
            Signal::Missed => {
                for n in self
                    .freed
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .values()
                {
                    n.notify_waiters();
                }
                self.queued.notify_one();
                for inbox in self.lock_inboxes().values() {
                    inbox.elsewhere.notify_one();
                }
            }
        }
    }

    /// Says that this process committed a hand-off (its own worker loop was told; the
    /// store's signal of it, when it comes back, wakes nothing).
    pub(super) fn handed_here(&self) {
        if self.signalled.load(Ordering::Acquire) {
            self.handed_here.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Told when a try of `dag_id` ends, here or elsewhere.
    pub(super) fn freed(&self, dag_id: &str) -> Arc<Notify> {
        let mut freed = self.freed.lock().unwrap_or_else(|e| e.into_inner());
        match freed.get(dag_id) {
            Some(n) => Arc::clone(n),
            None => {
                let n = Arc::new(Notify::new());
                freed.insert(dag_id.to_string(), Arc::clone(&n));
                n
            }
        }
    }

    fn lock_inboxes(&self) -> std::sync::MutexGuard<'_, HashMap<RunKey, Arc<Inbox>>> {
        self.inboxes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The inbox of `run` (registered until [`Wakes::forget_inbox`]).
    pub(super) fn inbox(&self, run: &RunKey) -> Arc<Inbox> {
        Arc::clone(self.lock_inboxes().entry(run.clone()).or_default())
    }

    /// Stops delivering to `inbox` for `run` (its driver is done with it).
    pub(super) fn forget_inbox(&self, run: &RunKey, inbox: &Arc<Inbox>) {
        let mut inboxes = self.lock_inboxes();
        if inboxes.get(run).is_some_and(|w| Arc::ptr_eq(w, inbox)) {
            inboxes.remove(run);
        }
    }

    /// Gives the driver of `run`, if it is in this process, an outcome just recorded.
    pub(super) fn deliver(&self, run: &RunKey, outcome: super::sharing::Delivered) {
        if let Some(inbox) = self.lock_inboxes().get(run) {
            inbox.put(outcome);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_signal_wakes_what_waits_for_it() {
        let wakes = Wakes::default();
        let d = wakes.freed("d");
        let waiting = d.notified();
        tokio::pin!(waiting);
        waiting.as_mut().enable();
        wakes.apply(&Signal::TryEnded {
            dag_id: "other".into(),
        });
        assert!(futures_now(waiting.as_mut()).is_none(), "another DAG's try");
        wakes.apply(&Signal::TryEnded { dag_id: "d".into() });
        assert!(futures_now(waiting.as_mut()).is_some());
        // A signal that arrives while nobody waits is kept for the next waiter.
        wakes.apply(&Signal::TryEnded { dag_id: "d".into() });
        assert!(futures_now(d.notified()).is_some());

        let run = RunKey::new("d", "r");
        let outcome = |task: &str| Signal::Outcome {
            run: run.clone(),
            task_id: task.into(),
            try_number: 1,
        };
        let inbox = wakes.inbox(&run);
        wakes.apply(&outcome("t"));
        assert!(futures_now(inbox.elsewhere.notified()).is_some());
        // An outcome a worker of this process delivered: its signal wakes nothing.
        wakes.deliver(&run, ("mine".into(), 1, serde_json::json!({})));
        wakes.apply(&outcome("mine"));
        assert!(
            futures_now(inbox.elsewhere.notified()).is_none(),
            "heard back"
        );
        wakes.forget_inbox(&run, &inbox);
        wakes.apply(&outcome("t"));
        assert!(
            futures_now(inbox.elsewhere.notified()).is_none(),
            "forgotten"
        );

        // A hand-off of this process comes back once without waking its worker loop.
        wakes.signalled.store(true, Ordering::Release);
        wakes.handed_here();
        wakes.apply(&Signal::TryQueued);
        assert!(futures_now(wakes.queued.notified()).is_none(), "its own");
        wakes.apply(&Signal::TryQueued);
        assert!(futures_now(wakes.queued.notified()).is_some(), "another's");

        wakes.apply(&Signal::Missed);
        assert!(futures_now(wakes.queued.notified()).is_some());
    }

    /// The output of `f` if it is ready without waiting.
    fn futures_now<F: std::future::Future>(f: F) -> Option<F::Output> {
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut f = std::pin::pin!(f);
        match f.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(v) => Some(v),
            std::task::Poll::Pending => None,
        }
    }
}
