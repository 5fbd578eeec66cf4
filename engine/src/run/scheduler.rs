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

use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt, TryStreamExt};

use crate::dag::Dag;
use crate::engine::{Engine, EngineError};
use crate::executor::RunOutcome;
use crate::run::control::Clear;
use crate::run::{DriveReport, Driver, NewRun, Scope, run_id};
use crate::state::{RunState, RunType, TaskState};
use crate::store::{DagRun, DatasetEvent, RunFilter, RunKey};
use crate::timetable::DataInterval;

pub mod heartbeat;
mod serve_loop;

pub use serve_loop::{SchedulerOptions, SchedulerReport, run_scheduler};

/// The interval of a DAG's latest scheduled run: where its schedule goes on from.
async fn last_scheduled(
    store: &dyn crate::store::Store,
    dag_id: &str,
) -> Result<Option<DataInterval>, crate::store::StoreError> {
    Ok(store
        .list_runs(&RunFilter {
            dag_id: Some(dag_id.to_string()),
            run_types: vec![RunType::Scheduled],
            by_logical_date: true,
            limit: Some(1),
            ..RunFilter::default()
        })
        .await?
        .first()
        .map(|r| DataInterval {
            start: r.data_interval_start,
            end: r.data_interval_end,
        }))
}

impl Engine {
    /// The next interval the scheduler creates a run of `dag_id` for, if its schedule has
    /// one (skipping those other runs covered): the run starts when the interval ends (at
    /// once if that has passed and a scheduler runs).
    ///
    /// # Errors
    /// An unknown DAG, or a store failure.
    pub async fn next_run(&self, dag_id: &str) -> Result<Option<DataInterval>, EngineError> {
        let dag = self.dag(dag_id)?;
        let now = self.executor.now();
        let (mut last, covered) = self.schedule_view(&dag, now).await?;
        // Intervals a backfill or a dataset-triggered run covered are skipped, as the
        // scheduler skips them.
        while let Some(next) = dag.timetable().next_interval(last, now) {
            if !covered.contains(&next.start) {
                return Ok(Some(next));
            }
            last = Some(next);
        }
        Ok(None)
    }
}

/// The most data intervals one backfill creates; a longer range is refused, not cut.
pub const MAX_BACKFILL: usize = 100_000;

/// How many of a backfill's new runs are created together (one transaction on SQLite).
const CREATE_AT_ONCE: usize = 256;

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

impl Engine {
    /// What scheduling a DAG's time-based runs needs: the interval of its newest scheduled
    /// run, the logical dates already covered by a non-manual run from the next interval on
    /// (a backfill's, say), and how many of its runs are unfinished.
    async fn schedule_view(
        &self,
        dag: &Dag,
        now: DateTime<Utc>,
    ) -> Result<(Option<DataInterval>, HashSet<DateTime<Utc>>), EngineError> {
        let of_dag = || RunFilter {
            dag_id: Some(dag.id.clone()),
            ..RunFilter::default()
        };
        let last = last_scheduled(self.store.as_ref(), &dag.id).await?;
        let covered = match dag.timetable().next_interval(last, now) {
            Some(next) => self
                .store
                .list_runs(&RunFilter {
                    run_types: vec![
                        RunType::Scheduled,
                        RunType::Backfill,
                        RunType::DatasetTriggered,
                    ],
                    logical_from: Some(next.start),
                    ..of_dag()
                })
                .await?
                .iter()
                .map(|r| r.logical_date)
                .collect(),
            None => HashSet::new(),
        };
        Ok((last, covered))
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
        self.runs()
            .create(NewRun::new(&dag.id, kind, interval), &[])
            .await
    }

    /// Creates the runs that dataset events call for. For every unpaused DAG scheduled on
    /// datasets, the condition is evaluated as Airflow evaluates it, over the datasets with an
    /// update the DAG has not consumed yet; when it holds, a run is created that consumes the
    /// oldest unconsumed update of *every* dataset of the condition that has one (Airflow
    /// clears the DAG's whole queue, branches that did not count included), in the
    /// transaction that creates the run; then the condition is evaluated again. The run's
    /// logical date is that of the run that produced the newest of its events, so a day's
    /// data is trained on as that day's run; the events are in its conf as
    /// `triggering_dataset_events` (templates see them under that name too).
    ///
    /// Airflow keeps one queued update per dataset, folding repeated updates into one run;
    /// dagctl keeps every update and starts a run per update, so that no update goes
    /// unprocessed when several arrive together (after a crash, or while the DAG was at its
    /// run limit).
    ///
    /// # Errors
    /// A store failure.
    pub async fn schedule_datasets(&self) -> Result<Vec<DagRun>, EngineError> {
        let mut created = Vec::new();
        for dag in self.dags() {
            let Some(condition) = dag.schedule().datasets() else {
                continue;
            };
            // A dataset named twice is one condition (its event is consumed once).
            let names = condition.datasets();
            let Some(flags) = self.flags(&dag.id) else {
                continue;
            };
            if flags.paused {
                continue;
            }
            // Bounded: each turn consumes events or stops.
            for _ in 0..10_000 {
                let mut group = Vec::with_capacity(names.len());
                for name in &names {
                    let found = self
                        .store
                        .unconsumed_events(&dag.id, name, flags.first_seen)
                        .await?;
                    if let Some(e) = found.into_iter().next() {
                        group.push(e);
                    }
                }
                let updated = |d: &str| group.iter().any(|e| e.dataset == d);
                // A condition met names at least one event: the newest gives the run its date.
                let newest = group.iter().max_by_key(|e| (e.created_at, e.seq));
                let Some(newest) = newest.filter(|_| condition.evaluate(&updated)) else {
                    break;
                };
                match self.create_dataset_run(&dag, &group, newest).await {
                    Ok(run) => created.push(run),
                    // Another process consumed one of the events first: read them again.
                    Err(EngineError::Store(crate::StoreError::AlreadyExists { .. })) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(created)
    }

    /// The run of `dag` consuming `group`, dated by its `newest` event's producer.
    async fn create_dataset_run(
        &self,
        dag: &Dag,
        group: &[DatasetEvent],
        newest: &DatasetEvent,
    ) -> Result<DagRun, EngineError> {
        let producer_key = RunKey::new(&newest.dag_id, &newest.run_id);
        let producer = self.store.run(&producer_key).await?;
        let logical_date = producer
            .as_ref()
            .map_or(newest.created_at, |r| r.logical_date);
        let base = run_id(RunType::DatasetTriggered, logical_date);
        // A rerun of the producer updates the dataset again for the same date.
        let mut run_id = base.clone();
        let mut n = 1;
        while self
            .store
            .run(&RunKey::new(&dag.id, &run_id))
            .await?
            .is_some()
        {
            n += 1;
            run_id = format!("{base}.{n}");
        }
        let mut events = serde_json::Map::new();
        for e in group {
            events.insert(e.dataset.clone(), serde_json::json!([e]));
        }
        let mut new = NewRun::new(
            &dag.id,
            RunType::DatasetTriggered,
            DataInterval {
                start: logical_date,
                end: logical_date,
            },
        );
        new.run_id = Some(run_id);
        new.conf = serde_json::json!({ "triggering_dataset_events": events });
        new.triggered_by = Some(producer_key);
        self.runs().create(new, group).await
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
            if self.is_paused(&dag.id) {
                continue;
            }
            let tt = dag.timetable();
            // Only what this loop needs, each from an index: a DAG's loop costs the same at
            // 100 runs and at 100,000.
            let (mut last, covered) = self.schedule_view(&dag, now).await?;
            let active = self
                .store
                .list_runs(&RunFilter {
                    dag_id: Some(dag.id.clone()),
                    states: vec![RunState::Queued, RunState::Running],
                    ..RunFilter::default()
                })
                .await?
                .len();
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
    /// An unknown DAG, a range without intervals or with more than [`MAX_BACKFILL`], or a
    /// store failure.
    pub async fn backfill_plan(
        &self,
        dag_id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        rerun_failed: bool,
        reset: bool,
    ) -> Result<Vec<BackfillItem>, EngineError> {
        let dag = self.dag(dag_id)?;
        let intervals = dag.timetable().between(from, to, MAX_BACKFILL + 1);
        if intervals.len() > MAX_BACKFILL {
            return Err(EngineError::BadOptions(format!(
                "DAG `{dag_id}` (schedule {}) has more than {MAX_BACKFILL} data intervals between {} and {}: backfill a shorter range at a time",
                dag.schedule,
                from.to_rfc3339(),
                to.to_rfc3339()
            )));
        }
        if intervals.is_empty() {
            return Err(EngineError::BadOptions(format!(
                "DAG `{dag_id}` (schedule {}) has no data interval starting between {} and {}",
                dag.schedule,
                from.to_rfc3339(),
                to.to_rfc3339()
            )));
        }
        // The runs from the first interval on (an index range, not every run of the DAG).
        let runs = self
            .store
            .list_runs(&RunFilter {
                dag_id: Some(dag.id.clone()),
                logical_from: intervals.first().map(|i| i.start),
                ..RunFilter::default()
            })
            .await?;
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
        let mut out = Vec::with_capacity(plan.len());
        for chunk in plan.chunks(CREATE_AT_ONCE) {
            // The chunk's new runs at once: their commits go in one transaction.
            let created: Vec<DagRun> =
                stream::iter(chunk.iter().filter(|i| i.action == BackfillAction::Create))
                    .map(|i| self.create_interval_run(&dag, i.interval, RunType::Backfill))
                    .buffered(CREATE_AT_ONCE)
                    .try_collect()
                    .await?;
            let mut created = created.into_iter();
            for item in chunk {
                self.backfill_item(&dag, item, &mut created, &mut out)
                    .await?;
            }
        }
        Ok(out)
    }

    /// Prepares one item of a backfill plan; its run, if new, is the next of `created`.
    async fn backfill_item(
        &self,
        dag: &Dag,
        item: &BackfillItem,
        created: &mut impl Iterator<Item = DagRun>,
        out: &mut Vec<String>,
    ) -> Result<(), EngineError> {
        match item.action {
            BackfillAction::Create => out.extend(created.next().map(|r| r.run_id)),
            BackfillAction::Resume => out.push(item.run_id.clone()),
            BackfillAction::RerunFailed => {
                let failed = vec![TaskState::Failed, TaskState::UpstreamFailed];
                let key = RunKey::new(&dag.id, &item.run_id);
                self.runs()
                    .clear(&key, &Clear::States(failed), None)
                    .await?;
                out.push(item.run_id.clone());
            }
            BackfillAction::Reset => {
                let key = RunKey::new(&dag.id, &item.run_id);
                self.runs().clear(&key, &Clear::All, None).await?;
                out.push(item.run_id.clone());
            }
            BackfillAction::Skip => {}
        }
        Ok(())
    }
}

impl Engine {
    /// Triggers a run of `dag_id` and executes it together with every run it causes (runs
    /// created by `trigger_dag` or by the datasets its tasks update, and by the runs those
    /// start), until none is left: one call runs a whole chain. Unrelated runs are left
    /// alone. Outcomes are in the order runs finished.
    ///
    /// # Errors
    /// As [`Engine::create_run`], or a store failure; a run that fails, or cannot be
    /// executed, is in the report.
    pub async fn trigger_following(
        self: &Arc<Self>,
        dag_id: &str,
        options: crate::engine::TriggerOptions,
    ) -> Result<DriveReport, EngineError> {
        let root = self.create_run(dag_id, options).await?;
        self.drive(
            Scope::Following(vec![RunKey::new(&root.dag_id, &root.run_id)]),
            |_| {},
        )
        .await
    }

    /// Drives the runs of `scope` until none is left to run (see [`Driver`]).
    ///
    /// # Errors
    /// A store failure while looking for runs.
    pub async fn drive(
        self: &Arc<Self>,
        scope: Scope,
        on_done: impl FnMut(&RunOutcome),
    ) -> Result<DriveReport, EngineError> {
        Driver::new(Arc::clone(self), scope).run(on_done).await
    }
}
