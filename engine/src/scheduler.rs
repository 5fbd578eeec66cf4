//! Creating runs from schedules: the scheduler loop, and backfills.
//!
//! A scheduled run's logical date is the start of its data interval and it is created once
//! the interval has ended ([`crate::timetable`]). The scheduler creates every due run of every
//! DAG (all missed ones with `catchup`, the latest only without), never more than a DAG's
//! `max_active_runs` at once, executes them, picks up DAG file changes without a restart, and
//! on shutdown lets running tries finish within a grace period; whatever is left stays
//! resumable. At start it continues runs left unfinished by a crash.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::dag::Dag;
use crate::engine::{Engine, EngineError};
use crate::executor::{RunError, RunOutcome};
use crate::state::{RunState, RunType, TaskState};
use crate::store::{Batch, Change, DagRun, RunFilter};
use crate::timetable::DataInterval;

/// What a backfill does with one data interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackfillAction {
    /// No run yet: create one.
    Create,
    /// A run exists and is unfinished: continue it.
    Resume,
    /// A failed run, cleared to run again (`--rerun-failed`): its failed tasks and those
    /// downstream of them run again.
    RerunFailed,
    /// A run cleared entirely to run again (`--reset`).
    Reset,
    /// A run exists and is left as it is (success, or failed without `--rerun-failed`).
    Skip,
}

impl BackfillAction {
    /// The action in words.
    pub fn as_str(self) -> &'static str {
        match self {
            BackfillAction::Create => "create",
            BackfillAction::Resume => "resume",
            BackfillAction::RerunFailed => "rerun failed",
            BackfillAction::Reset => "reset",
            BackfillAction::Skip => "skip",
        }
    }
}

/// One interval of a backfill.
#[derive(Debug, Clone, PartialEq)]
pub struct BackfillItem {
    /// The data interval; its start is the logical date.
    pub interval: DataInterval,
    /// What happens to it.
    pub action: BackfillAction,
    /// The run that covers it (existing or to be created).
    pub run_id: String,
    /// The existing run's state, if one exists.
    pub existing: Option<RunState>,
}

/// The outcome of one scheduler step.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tick {
    /// Runs created in this step.
    pub created: Vec<DagRun>,
    /// When the next interval of any DAG ends (the next time a run becomes due).
    pub next_due: Option<DateTime<Utc>>,
}

fn run_id(kind: RunType, logical_date: DateTime<Utc>) -> String {
    format!(
        "{}__{}",
        kind.as_str(),
        logical_date.to_rfc3339_opts(SecondsFormat::AutoSi, false)
    )
}

impl Engine {
    /// Every run of a DAG, newest first.
    async fn runs_of(&self, dag_id: &str) -> Result<Vec<DagRun>, EngineError> {
        Ok(self
            .store
            .list_runs(&RunFilter {
                dag_id: Some(dag_id.to_string()),
                ..RunFilter::default()
            })
            .await?)
    }

    /// Creates the run of one data interval (`scheduled__…` or `backfill__…`).
    ///
    /// # Errors
    /// A store failure, or a run id that exists.
    pub async fn create_interval_run(
        &self,
        dag: &Dag,
        interval: DataInterval,
        kind: RunType,
    ) -> Result<DagRun, EngineError> {
        let now = self.executor.now();
        let run = DagRun {
            dag_id: dag.id.clone(),
            run_id: run_id(kind, interval.start),
            run_type: kind,
            logical_date: interval.start,
            data_interval_start: interval.start,
            data_interval_end: interval.end,
            conf: serde_json::json!({}),
            state: RunState::Queued,
            created_at: now,
            start_date: None,
            end_date: None,
        };
        self.insert_run(dag, run).await
    }

    /// Clears a finished run so that executing it runs tasks again: every task (`only` =
    /// `None`), or the tasks in the given states and every task downstream of them.
    ///
    /// # Errors
    /// A store failure.
    pub async fn clear_run(
        &self,
        dag: &Dag,
        run_id: &str,
        only: Option<&[TaskState]>,
    ) -> Result<(), EngineError> {
        let tis = self.store.task_instances(&dag.id, run_id).await?;
        let mut chosen: HashSet<usize> = HashSet::new();
        for ti in &tis {
            let Some(i) = dag.graph.index_of(&ti.task_id) else {
                continue;
            };
            if only.is_none_or(|states| states.contains(&ti.state)) {
                chosen.insert(i);
                chosen.extend(dag.graph.descendants(i));
            }
        }
        let mut changes: Vec<Change> = tis
            .iter()
            .filter(|ti| {
                dag.graph
                    .index_of(&ti.task_id)
                    .is_some_and(|i| chosen.contains(&i))
            })
            .map(|ti| Change::ResetTask {
                task_id: ti.task_id.clone(),
                max_tries: ti.try_number
                    + dag.task(&ti.task_id).map_or(0, |t| t.policy.retries)
                    + 1,
            })
            .collect();
        changes.push(Change::SetRun {
            state: RunState::Queued,
            start_date: None,
            end_date: None,
        });
        self.store
            .commit(&Batch {
                dag_id: dag.id.clone(),
                run_id: run_id.to_string(),
                changes,
            })
            .await?;
        Ok(())
    }

    /// Creates a run of every DAG scheduled on datasets whose datasets all have events since
    /// its last dataset-triggered run (Airflow's rule), within `max_active_runs`. The events
    /// are in the run's conf as `triggering_dataset_events` (templates see them under that
    /// name too); events that arrive while the DAG is at its limit wait for the next call.
    ///
    /// # Errors
    /// A store failure.
    pub async fn schedule_datasets(&self) -> Result<Vec<DagRun>, EngineError> {
        let mut created = Vec::new();
        for dag in self.dags() {
            let crate::Schedule::Datasets(names) = &dag.schedule else {
                continue;
            };
            let runs = self.runs_of(&dag.id).await?;
            if runs.iter().filter(|r| !r.state.is_finished()).count()
                >= dag.max_active_runs as usize
            {
                continue;
            }
            let watermark = runs
                .iter()
                .filter(|r| r.run_type == RunType::DatasetTriggered)
                .map(|r| r.created_at)
                .max();
            let mut events = serde_json::Map::new();
            let mut latest = watermark;
            let mut ready = true;
            for name in names {
                let found = self.store.dataset_events(name, watermark).await?;
                if found.is_empty() {
                    ready = false;
                    break;
                }
                latest = found.iter().map(|e| e.created_at).chain(latest).max();
                events.insert(name.clone(), serde_json::json!(found));
            }
            if !ready {
                continue;
            }
            let now = self.executor.now();
            let run = DagRun {
                dag_id: dag.id.clone(),
                run_id: run_id(RunType::DatasetTriggered, now),
                run_type: RunType::DatasetTriggered,
                logical_date: now,
                data_interval_start: now,
                data_interval_end: now,
                conf: serde_json::json!({ "triggering_dataset_events": events }),
                state: RunState::Queued,
                // Never before the events it consumed: they must not count again.
                created_at: latest.map_or(now, |l| l.max(now)),
                start_date: None,
                end_date: None,
            };
            created.push(self.insert_run(&dag, run).await?);
        }
        Ok(created)
    }

    /// Creates the runs that are due now, for every DAG with a schedule, within each DAG's
    /// `max_active_runs`: time-based ones (intervals already covered by a run, a backfill's
    /// say, are not created twice) and dataset-triggered ones.
    ///
    /// # Errors
    /// A store failure.
    pub async fn schedule_due(&self) -> Result<Tick, EngineError> {
        let now = self.executor.now();
        let mut tick = Tick {
            created: self.schedule_datasets().await?,
            next_due: None,
        };
        for dag in self.dags() {
            let tt = dag.timetable();
            let runs = self.runs_of(&dag.id).await?;
            let covered: HashSet<DateTime<Utc>> = runs
                .iter()
                .filter(|r| r.run_type != RunType::Manual)
                .map(|r| r.logical_date)
                .collect();
            let mut last = runs
                .iter()
                .filter(|r| r.run_type == RunType::Scheduled)
                .max_by_key(|r| r.logical_date)
                .map(|r| DataInterval {
                    start: r.data_interval_start,
                    end: r.data_interval_end,
                });
            let active = runs.iter().filter(|r| !r.state.is_finished()).count();
            let mut room = (dag.max_active_runs as usize).saturating_sub(active);
            while room > 0 {
                let Some(next) = tt.next_interval(last, now) else {
                    break;
                };
                if next.end > now {
                    break;
                }
                last = Some(next);
                if covered.contains(&next.start) {
                    continue;
                }
                match self
                    .create_interval_run(&dag, next, RunType::Scheduled)
                    .await
                {
                    Ok(run) => tick.created.push(run),
                    Err(EngineError::Store(crate::StoreError::AlreadyExists { .. })) => {}
                    Err(e) => return Err(e),
                }
                room -= 1;
            }
            // A DAG at its run limit wakes the loop when one of its runs ends, not before:
            // its next interval may already be due, and waking for it now would spin.
            if room > 0
                && let Some(next) = tt.next_interval(last, now)
            {
                let due = next.end.max(now);
                tick.next_due = Some(tick.next_due.map_or(due, |d| d.min(due)));
            }
        }
        Ok(tick)
    }

    /// What a backfill of `[from, to]` would do for each interval, without doing it.
    ///
    /// # Errors
    /// An unknown DAG, or a store failure.
    pub async fn backfill_plan(
        &self,
        dag_id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        rerun_failed: bool,
        reset: bool,
    ) -> Result<Vec<BackfillItem>, EngineError> {
        let dag = self.dag(dag_id)?;
        let intervals = dag.timetable().between(from, to, 100_000);
        if intervals.is_empty() {
            return Err(EngineError::BadOptions(format!(
                "DAG `{dag_id}` (schedule {}) has no data interval starting between {} and {}",
                dag.schedule,
                from.to_rfc3339(),
                to.to_rfc3339()
            )));
        }
        let runs = self.runs_of(&dag.id).await?;
        Ok(intervals
            .into_iter()
            .map(|interval| {
                let existing = runs
                    .iter()
                    .filter(|r| r.logical_date == interval.start)
                    .max_by_key(|r| r.created_at);
                let action = match existing.map(|r| r.state) {
                    None => BackfillAction::Create,
                    // An unfinished run may be executing elsewhere: continue it, never clear it.
                    Some(RunState::Queued | RunState::Running) => BackfillAction::Resume,
                    Some(_) if reset => BackfillAction::Reset,
                    Some(RunState::Failed) if rerun_failed => BackfillAction::RerunFailed,
                    Some(_) => BackfillAction::Skip,
                };
                BackfillItem {
                    interval,
                    action,
                    run_id: existing.map_or_else(
                        || run_id(RunType::Backfill, interval.start),
                        |r| r.run_id.clone(),
                    ),
                    existing: existing.map(|r| r.state),
                }
            })
            .collect())
    }

    /// Prepares the runs of a backfill plan (creates or clears them); returns the run ids to
    /// execute, in logical-date order.
    ///
    /// # Errors
    /// A store failure.
    pub async fn backfill_prepare(
        &self,
        dag_id: &str,
        plan: &[BackfillItem],
    ) -> Result<Vec<String>, EngineError> {
        let dag = self.dag(dag_id)?;
        let mut out = Vec::new();
        for item in plan {
            match item.action {
                BackfillAction::Create => {
                    let run = self
                        .create_interval_run(&dag, item.interval, RunType::Backfill)
                        .await?;
                    out.push(run.run_id);
                }
                BackfillAction::Resume => out.push(item.run_id.clone()),
                BackfillAction::RerunFailed => {
                    let failed = [TaskState::Failed, TaskState::UpstreamFailed];
                    self.clear_run(&dag, &item.run_id, Some(&failed)).await?;
                    out.push(item.run_id.clone());
                }
                BackfillAction::Reset => {
                    self.clear_run(&dag, &item.run_id, None).await?;
                    out.push(item.run_id.clone());
                }
                BackfillAction::Skip => {}
            }
        }
        Ok(out)
    }
}

/// Executes runs of one DAG, at most `parallel` at once, in order; calls `done` after each.
///
/// # Errors
/// The first run that could not be executed (task failures are in the outcomes).
pub async fn execute_runs(
    engine: Arc<Engine>,
    dag_id: &str,
    run_ids: Vec<String>,
    parallel: usize,
    mut done: impl FnMut(&RunOutcome),
) -> Result<Vec<RunOutcome>, EngineError> {
    let mut pending = run_ids.into_iter();
    let mut running = JoinSet::new();
    let mut outcomes = Vec::new();
    loop {
        while running.len() < parallel.max(1) {
            let Some(run_id) = pending.next() else { break };
            let engine = Arc::clone(&engine);
            let dag_id = dag_id.to_string();
            running.spawn(async move { engine.execute(&dag_id, &run_id).await });
        }
        match running.join_next().await {
            None => break,
            Some(Ok(result)) => {
                let outcome = result?;
                done(&outcome);
                outcomes.push(outcome);
            }
            Some(Err(e)) => return Err(EngineError::BadOptions(format!("a run panicked: {e}"))),
        }
    }
    outcomes.sort_by(|a, b| a.run_id.cmp(&b.run_id));
    Ok(outcomes)
}

/// Settings of [`run_scheduler`].
#[derive(Debug, Clone, Copy)]
pub struct SchedulerOptions {
    /// How often the DAG folder is read again for changes.
    pub reload_every: Duration,
    /// How long running runs may take to finish after a shutdown request.
    pub grace: Duration,
}

impl Default for SchedulerOptions {
    fn default() -> Self {
        SchedulerOptions {
            reload_every: Duration::from_secs(10),
            grace: Duration::from_secs(30),
        }
    }
}

/// What a scheduler did before it stopped.
#[derive(Debug, Clone, Default)]
pub struct SchedulerReport {
    /// Runs it created.
    pub created: Vec<(String, String)>,
    /// Runs it executed to their end, with their state.
    pub finished: Vec<(String, String, RunState)>,
    /// Runs still executing when the grace period ran out (left resumable).
    pub interrupted: usize,
}

/// Runs the scheduler until `shutdown` is cancelled: continues unfinished runs, creates due
/// runs and executes them, re-reads the DAG folder every `reload_every`.
///
/// # Errors
/// A store failure while scheduling (a failing run is only logged).
pub async fn run_scheduler(
    engine: Arc<Engine>,
    shutdown: CancellationToken,
    options: SchedulerOptions,
    mut on_event: impl FnMut(&str),
) -> Result<SchedulerReport, EngineError> {
    let mut report = SchedulerReport::default();
    let mut running: JoinSet<(String, String, Result<RunOutcome, EngineError>)> = JoinSet::new();
    let mut ids: std::collections::HashMap<tokio::task::Id, (String, String)> = Default::default();
    let mut executing: HashSet<(String, String)> = HashSet::new();
    // Runs another live process holds: left alone until the next reload.
    let mut busy: HashSet<(String, String)> = HashSet::new();
    let spawn = |running: &mut JoinSet<_>,
                 ids: &mut std::collections::HashMap<_, _>,
                 dag_id: String,
                 run_id: String| {
        let engine = Arc::clone(&engine);
        let key = (dag_id.clone(), run_id.clone());
        let handle = running.spawn(async move {
            let r = engine.execute(&dag_id, &run_id).await;
            (dag_id, run_id, r)
        });
        ids.insert(handle.id(), key);
    };
    let mut next_reload = tokio::time::Instant::now() + options.reload_every;
    loop {
        if shutdown.is_cancelled() {
            break;
        }
        // Unfinished runs (a crash, `--no-wait`, or created below) are executed.
        let unfinished = engine
            .store
            .list_runs(&RunFilter {
                states: vec![RunState::Queued, RunState::Running],
                ..RunFilter::default()
            })
            .await?;
        let tick = engine.schedule_due().await?;
        for run in &tick.created {
            on_event(&format!("created run {} of {}", run.run_id, run.dag_id));
            report
                .created
                .push((run.dag_id.clone(), run.run_id.clone()));
        }
        for run in unfinished.iter().rev().chain(tick.created.iter()) {
            let key = (run.dag_id.clone(), run.run_id.clone());
            if engine.dag(&run.dag_id).is_ok()
                && !busy.contains(&key)
                && executing.insert(key.clone())
            {
                spawn(&mut running, &mut ids, key.0, key.1);
            }
        }
        let wake = tick
            .next_due
            .map(|t| engine.executor.instant_at(t))
            .unwrap_or(next_reload)
            .min(next_reload);
        tokio::select! {
            _ = shutdown.cancelled() => break,
            Some(done) = running.join_next_with_id(), if !running.is_empty() => {
                match done {
                    Ok((id, (dag_id, run_id, result))) => {
                        ids.remove(&id);
                        executing.remove(&(dag_id.clone(), run_id.clone()));
                        match result {
                            Ok(o) => {
                                on_event(&format!("run {} of {}: {}", o.run_id, o.dag_id, o.state));
                                report.finished.push((o.dag_id, o.run_id, o.state));
                            }
                            // Held by another process, or failing to execute: left alone
                            // until the next reload rather than retried at once.
                            Err(EngineError::Run(RunError::Busy { .. })) => {
                                busy.insert((dag_id, run_id));
                            }
                            Err(e) => {
                                on_event(&format!("run {run_id} of {dag_id} could not run: {e}"));
                                busy.insert((dag_id, run_id));
                            }
                        }
                    }
                    Err(e) => {
                        if let Some(key) = ids.remove(&e.id()) {
                            on_event(&format!("run {} of {} panicked: {e}", key.1, key.0));
                            executing.remove(&key);
                            busy.insert(key);
                        }
                    }
                }
            }
            _ = tokio::time::sleep_until(wake) => {
                if tokio::time::Instant::now() >= next_reload {
                    next_reload = tokio::time::Instant::now() + options.reload_every;
                    busy.clear();
                    if let Err(e) = engine.reload().await {
                        on_event(&format!("cannot reload the DAG folder: {e}"));
                    }
                }
            }
        }
    }
    on_event(&format!(
        "shutting down: waiting up to {}s for {} running run(s)",
        options.grace.as_secs(),
        running.len()
    ));
    let deadline = tokio::time::Instant::now() + options.grace;
    while !running.is_empty() {
        tokio::select! {
            Some(done) = running.join_next() => {
                if let Ok((_, _, Ok(o))) = done {
                    report.finished.push((o.dag_id, o.run_id, o.state));
                }
            }
            _ = tokio::time::sleep_until(deadline) => {
                report.interrupted = running.len();
                running.abort_all();
                break;
            }
        }
    }
    Ok(report)
}

impl Engine {
    /// Triggers a run of `dag_id` and executes it together with every run it causes (runs
    /// created by `trigger_dag` or by the datasets its tasks update, and by the runs those
    /// start), concurrently, until none is left: one call runs a whole chain. Outcomes are in the order runs finished.
    ///
    /// # Errors
    /// As [`Engine::trigger`]; a run that fails is in the outcomes, not an error.
    pub async fn trigger_following(
        self: &Arc<Self>,
        dag_id: &str,
        options: crate::engine::TriggerOptions,
    ) -> Result<Vec<RunOutcome>, EngineError> {
        let root = self.create_run(dag_id, options).await?;
        self.execute_following(&root.dag_id, &root.run_id, &HashSet::new())
            .await
    }

    /// Executes an existing run together with every run it causes (see
    /// [`Engine::trigger_following`]), leaving alone the queued runs in `exclude` (a
    /// backfill's later days, for instance).
    ///
    /// # Errors
    /// A run that could not be executed at all; a run that fails is in the outcomes.
    pub async fn execute_following(
        self: &Arc<Self>,
        dag_id: &str,
        run_id: &str,
        exclude: &HashSet<(String, String)>,
    ) -> Result<Vec<RunOutcome>, EngineError> {
        let root =
            self.store.run(dag_id, run_id).await?.ok_or_else(|| {
                EngineError::BadOptions(format!("no run `{run_id}` of `{dag_id}`"))
            })?;
        let mut events = self.events();
        let mut running: JoinSet<(String, String, Result<RunOutcome, EngineError>)> =
            JoinSet::new();
        let mut seen: HashSet<(String, String)> = HashSet::new();
        let mut outcomes = Vec::new();
        let mut first_error = None;
        let spawn = |running: &mut JoinSet<_>, dag: String, run: String| {
            let engine = Arc::clone(self);
            running.spawn(async move {
                let r = engine.execute(&dag, &run).await;
                (dag, run, r)
            });
        };
        seen.extend(exclude.iter().cloned());
        seen.insert((root.dag_id.clone(), root.run_id.clone()));
        spawn(&mut running, root.dag_id, root.run_id);
        loop {
            // Runs waiting on datasets the finished tasks updated.
            self.schedule_datasets().await?;
            // Queued runs of DAGs we know (created by `trigger_dag`, cleared by
            // `reset_dag_run`, or by datasets), not yet taken.
            let queued = self
                .store
                .list_runs(&RunFilter {
                    states: vec![RunState::Queued],
                    ..RunFilter::default()
                })
                .await?;
            for run in queued.into_iter().rev() {
                let key = (run.dag_id.clone(), run.run_id.clone());
                if self.dag(&run.dag_id).is_ok() && seen.insert(key) {
                    spawn(&mut running, run.dag_id, run.run_id);
                }
            }
            if running.is_empty() {
                break;
            }
            tokio::select! {
                done = running.join_next() => match done {
                    Some(Ok((_, _, Ok(o)))) => outcomes.push(o),
                    // Another process holds it: that one finishes it.
                    Some(Ok((_, _, Err(EngineError::Run(RunError::Busy { .. }))))) => {}
                    // One run's failure to execute does not stop the others.
                    Some(Ok((dag, run, Err(e)))) => {
                        tracing::error!("run {run} of {dag} could not be executed: {e}");
                        first_error.get_or_insert(e);
                    }
                    Some(Err(e)) => {
                        first_error.get_or_insert(EngineError::BadOptions(format!(
                            "a run panicked: {e}"
                        )));
                    }
                    None => {}
                },
                // A task finishing may have triggered a run: look again at once, once for all
                // the events already waiting (a busy run sends many).
                _ = events.recv() => while events.try_recv().is_ok() {},
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        Ok(outcomes)
    }
}
