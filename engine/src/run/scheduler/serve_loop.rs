//! The long-running loop of `dagctl scheduler` and `dagctl worker`: creating due runs,
//! driving unfinished ones, sharing tries with other workers, reloading the DAG folder, and
//! draining on shutdown.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Tick;
use crate::engine::{Engine, EngineError};
use crate::executor::RunOutcome;
use crate::run::{Driver, Scope};

/// Settings of [`run_scheduler`]: its roles, and how often it looks again.
///
/// The default does both jobs (`dagctl scheduler`); `execute: false` only creates runs
/// (`dagctl scheduler --no-execute`); `create_runs: false` only executes the runs others
/// create (`dagctl worker`). Any number of each may share one store: a run is created once
/// (its key is unique) and driven by one process at a time (its lease).
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// How often the DAG folder is read again for changes.
    pub reload_every: Duration,
    /// How long running runs may take to finish after a shutdown request.
    pub grace: Duration,
    /// Whether this process creates the runs schedules call for.
    pub create_runs: bool,
    /// Whether this process executes runs.
    pub execute: bool,
    /// How often an executing process that creates no runs asks the store for runs to take
    /// (runs created elsewhere, or left by a process that died).
    pub poll: Duration,
    /// At most this many runs executed at once by this process (`None`: every runnable one).
    pub max_runs: Option<usize>,
    /// Share tries with other workers (`dagctl worker`): hand off what this process does
    /// not serve or has no slot for, and take what others handed off
    /// ([`Executor::share_tries`](crate::executor::Executor::share_tries)).
    pub sharing: Option<crate::executor::TrySharing>,
}

impl Default for SchedulerOptions {
    fn default() -> Self {
        SchedulerOptions {
            reload_every: Duration::from_secs(10),
            grace: Duration::from_secs(30),
            create_runs: true,
            execute: true,
            poll: Duration::from_secs(1),
            max_runs: None,
            sharing: None,
        }
    }
}

/// What a scheduler did before it stopped.
#[derive(Debug, Clone, Default)]
pub struct SchedulerReport {
    /// How many runs it created.
    pub created: usize,
    /// How many runs it executed to their end.
    pub finished: usize,
    /// Runs, and tries taken from other drivers, still executing when the grace period ran
    /// out (left resumable; the tries run again elsewhere).
    pub interrupted: usize,
}

/// Runs the scheduler until `shutdown` is cancelled: creates due runs (schedules, dataset
/// events) and drives every unfinished run (a crash's included) through a [`Driver`] of
/// [`Scope::All`], re-reads the DAG folder every `reload_every`, and on shutdown lets running
/// runs finish within the grace period. [`SchedulerOptions`] may leave out either job (a
/// scheduler that only creates runs, a worker that only executes them).
///
/// # Errors
/// A store failure while scheduling (a failing run is only reported).
pub async fn run_scheduler(
    engine: Arc<Engine>,
    shutdown: CancellationToken,
    options: SchedulerOptions,
    mut on_event: impl FnMut(&str),
) -> Result<SchedulerReport, EngineError> {
    let mut report = SchedulerReport::default();
    let served = options
        .sharing
        .clone()
        .filter(|_| options.execute)
        .map(|sharing| {
            engine.executor.share_tries(sharing);
            let engine = Arc::clone(&engine);
            let (stop, grace) = (shutdown.clone(), options.grace);
            AbortOnDrop(tokio::spawn(async move {
                engine.executor.serve_tries(stop, grace).await
            }))
        });
    let mut driver = Driver::new(Arc::clone(&engine), Scope::All);
    if let Some(n) = options.max_runs {
        driver = driver.with_max_inflight(n);
    }
    let mut next_reload = tokio::time::Instant::now() + options.reload_every;
    let mut next_poll = tokio::time::Instant::now() + options.poll;
    let worker = options.execute && !options.create_runs;
    let mut ignore = |_: &RunOutcome| {};
    let role = match (options.create_runs, options.execute) {
        (true, true) => "scheduler",
        (true, false) => "creator",
        _ => "worker",
    };
    let mut clock = super::heartbeat::LoopClock::new(role, engine.worker_id());
    loop {
        if shutdown.is_cancelled() {
            break;
        }
        let started = std::time::Instant::now();
        // A store that fails now (a restart, a lock held too long) is tried again at the next
        // wake-up; the runs being executed go on.
        let tick = if options.create_runs {
            match engine.schedule_due().await {
                Ok(tick) => tick,
                Err(e) => {
                    on_event(&format!("cannot create due runs (trying again): {e}"));
                    Tick::default()
                }
            }
        } else {
            Tick::default()
        };
        let created = if options.execute {
            driver.turn().await
        } else {
            // Not executing: dataset events were looked at by `schedule_due`.
            Ok(Vec::new())
        };
        let created = match created {
            Ok(created) => created,
            Err(e) => {
                on_event(&format!(
                    "cannot look for runs to execute (trying again): {e}"
                ));
                Vec::new()
            }
        };
        for run in tick.created.iter().chain(&created) {
            on_event(&format!("created run {} of {}", run.run_id, run.dag_id));
            report.created += 1;
        }
        // Reported as they come, then forgotten: a scheduler's memory stays flat.
        let (outcomes, failures) = driver.take_ended();
        for (key, why) in &failures {
            on_event(&format!("{key} could not run: {why}"));
        }
        for o in &outcomes {
            on_event(&format!("run {} of {}: {}", o.run_id, o.dag_id, o.state));
        }
        report.finished += outcomes.len();
        clock
            .observe(started.elapsed(), engine.store().as_ref())
            .await;
        let mut wake = tick
            .next_due
            .map(|t| engine.executor.instant_at(t))
            .unwrap_or(next_reload)
            .min(next_reload);
        if worker {
            wake = wake.min(next_poll);
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = driver.next(&mut ignore), if options.execute => {}
            _ = tokio::time::sleep_until(wake) => {
                if worker && tokio::time::Instant::now() >= next_poll {
                    next_poll = tokio::time::Instant::now() + options.poll;
                    // Runs held by other processes are tried again: a process that died
                    // loses them when its lease ends.
                    driver.forget_held();
                }
                if tokio::time::Instant::now() >= next_reload {
                    next_reload = tokio::time::Instant::now() + options.reload_every;
                    // Runs held by other processes are looked at again.
                    driver.forget_held();
                    if let Err(e) = engine.reload().await {
                        on_event(&format!("cannot reload the DAG folder: {e}"));
                    }
                }
            }
        }
    }
    on_event(&format!(
        "shutting down: waiting up to {}s for running runs",
        options.grace.as_secs(),
    ));
    report.interrupted = driver.drain(options.grace, &mut ignore).await;
    if let Some(mut served) = served {
        report.interrupted += (&mut served.0).await.unwrap_or_default();
    }
    report.finished += driver.take_ended().0.len();
    Ok(report)
}

/// A spawned task that ends with its owner (a scheduler dropped mid-way takes its try
/// server with it).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
