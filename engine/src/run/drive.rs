//! Driving runs to their end, together with the runs they cause: the one loop behind
//! `dagctl trigger`, `backfill`, `runs resume` and the scheduler.
//!
//! A [`Driver`] looks at the unfinished runs in the store, takes those in its [`Scope`], and
//! executes each (the executor first acquires the run in the store, so one process drives a
//! run at a time and `max_active_runs` holds across processes). Runs waiting for their DAG's
//! run limit, or driven by another live process, are looked at again when something
//! changes. Dataset events are turned into runs on every turn, so a run's downstream runs are
//! never forgotten, after a crash included.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;
use tokio::task::JoinSet;

use crate::engine::{Engine, EngineError};
use crate::events::Event;
use crate::executor::{RunError, RunOutcome};
use crate::state::{RunState, TaskState};
use crate::store::{DagRun, RunFilter, RunKey};
use crate::worker::is_orphan;

pub use super::drive_report::DriveReport;

/// How often runs that wait (for their DAG's run limit, or for another process) are looked
/// at again when no event says something changed.
const RECHECK: Duration = Duration::from_millis(250);

/// A turn (reading every unfinished run) takes at most about this share of a driver's time:
/// after a turn of `t`, the next waits until `t × TURN_SPACING` has passed, the runs that end
/// meanwhile all looked at in it. A turn of a few runs costs microseconds, so a single run
/// waits for nothing; with 1,000 runs in flight it keeps a backfill from re-reading them for
/// every run that ends.
const TURN_SPACING: u32 = 4;

/// Queued runs read per turn, oldest first, while more wait (a backfill queues one run per
/// interval): a turn costs the same with 100 or 100,000 runs waiting.
const QUEUED_PAGE: u32 = 1024;

/// Which runs a [`Driver`] takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Exactly these runs; the runs they cause stay queued (`--no-follow`).
    Only(Vec<RunKey>),
    /// These runs and every run they cause, transitively (`trigger_dag`, dataset events):
    /// `dagctl trigger` and `backfill`. Unrelated runs are left alone.
    Following(Vec<RunKey>),
    /// Every unfinished run of a loaded DAG, including the runs created while driving:
    /// `dagctl runs resume` and the scheduler.
    All,
}

type Joined = (RunKey, Result<RunOutcome, EngineError>);

/// Drives the runs of a [`Scope`]; see the module docs.
pub struct Driver {
    engine: Arc<Engine>,
    scope: Scope,
    /// Whether a run is in the scope (`Following`), by key: memoized walks up the
    /// `triggered_by` chain.
    family: HashMap<RunKey, bool>,
    inflight: HashSet<RunKey>,
    joins: JoinSet<Joined>,
    /// The run each spawned execution drives, to name it if it panics.
    ids: HashMap<tokio::task::Id, RunKey>,
    /// Runs this driver is done with, though unfinished: left, held by another process, or
    /// failed to execute. (A run driven to its end is not kept: should it be queued again —
    /// cleared, reset — it is driven again; memory stays flat over any number of runs.)
    done: HashSet<RunKey>,
    /// Runs to look at again: at their DAG's run limit, or driven by another process.
    waiting: BTreeMap<RunKey, String>,
    events: broadcast::Receiver<Event>,
    report: DriveReport,
    /// At most this many runs executing at once (a worker's `--concurrency`).
    max_inflight: Option<usize>,
    /// At most this many outcomes of runs that succeeded are kept in the report.
    keep_succeeded: usize,
    /// When the next turn may be taken ([`TURN_SPACING`]).
    next_turn: tokio::time::Instant,
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("scope", &self.scope)
            .field("inflight", &self.inflight.len())
            .finish_non_exhaustive()
    }
}

impl Driver {
    /// A driver of `scope` on `engine`.
    pub fn new(engine: Arc<Engine>, scope: Scope) -> Self {
        let mut family = HashMap::new();
        if let Scope::Following(roots) = &scope {
            family.extend(roots.iter().map(|k| (k.clone(), true)));
        }
        let events = engine.events();
        Driver {
            engine,
            scope,
            family,
            inflight: HashSet::new(),
            joins: JoinSet::new(),
            ids: HashMap::new(),
            done: HashSet::new(),
            waiting: BTreeMap::new(),
            events,
            report: DriveReport::default(),
            max_inflight: None,
            keep_succeeded: usize::MAX,
            next_turn: tokio::time::Instant::now(),
        }
    }

    /// Executes at most `n` runs at once; the others wait for a later turn (or for another
    /// process: a worker leaves them to the other workers meanwhile).
    pub fn with_max_inflight(mut self, n: usize) -> Self {
        self.max_inflight = Some(n.max(1));
        self
    }

    /// Keeps at most `n` outcomes of runs that succeeded in the report (they are still
    /// counted, and every run that did not succeed is kept): a drive of 100,000 runs then
    /// holds a few of them in memory, not every one.
    pub fn keep_succeeded(mut self, n: usize) -> Self {
        self.keep_succeeded = n;
        self
    }

    /// Takes the outcomes and the runs that could not be executed reported so far (a
    /// long-running driver, the scheduler's, reports them as they come and keeps nothing).
    pub fn take_ended(&mut self) -> (Vec<RunOutcome>, Vec<(RunKey, String)>) {
        (
            std::mem::take(&mut self.report.outcomes),
            std::mem::take(&mut self.report.failures),
        )
    }

    /// Drives until nothing in the scope is left to run, calling `on_done` as runs end.
    ///
    /// # Errors
    /// A store failure while looking for runs; a run that cannot be executed is in the
    /// report's failures instead.
    pub async fn run(
        mut self,
        mut on_done: impl FnMut(&RunOutcome),
    ) -> Result<DriveReport, EngineError> {
        loop {
            let started = tokio::time::Instant::now();
            self.turn().await?;
            self.next_turn = started + started.elapsed() * (TURN_SPACING + 1);
            if self.inflight.is_empty() && !self.blocked_by_own_work() {
                break;
            }
            self.next(&mut on_done).await;
        }
        let mut report = self.report;
        report.left.extend(self.waiting);
        Ok(report)
    }

    /// Whether waiting runs can still start: runs in `Following` scope wait for whoever holds
    /// them; in `All` scope, with nothing in flight, nobody here frees a run limit.
    fn blocked_by_own_work(&self) -> bool {
        matches!(self.scope, Scope::Following(_)) && !self.waiting.is_empty()
    }

    /// Creates the runs dataset events call for, then starts every runnable run of the scope
    /// within its DAG's free run slots, oldest logical date first.
    ///
    /// # Errors
    /// A store failure.
    pub async fn turn(&mut self) -> Result<Vec<DagRun>, EngineError> {
        let created = if matches!(self.scope, Scope::Only(_)) {
            Vec::new()
        } else {
            self.engine.schedule_datasets().await?
        };
        let (mut unfinished, complete) = self.unfinished().await?;
        unfinished.sort_by(|a, b| {
            (a.logical_date, a.created_at, &a.run_id).cmp(&(
                b.logical_date,
                b.created_at,
                &b.run_id,
            ))
        });
        let keys: HashSet<RunKey> = unfinished
            .iter()
            .map(|r| RunKey::new(&r.dag_id, &r.run_id))
            .collect();
        // Runs that waited here and ended elsewhere (or vanished): their outcome is read once.
        // (Known only when every queued run was read.)
        let ended: Vec<RunKey> = self
            .waiting
            .keys()
            .filter(|k| complete && !keys.contains(*k) && !self.inflight.contains(*k))
            .cloned()
            .collect();
        for key in ended {
            self.waiting.remove(&key);
            self.spawn(key);
        }
        let now = self.engine.executor.now();
        let mut scoped = Vec::with_capacity(unfinished.len());
        for run in unfinished {
            let in_scope = self.in_scope(&run).await?;
            scoped.push((run, in_scope));
        }
        // Free run slots per DAG. A run being started here counts before the store says
        // `running` (else the next turn would start a later run beside it); a running run
        // outside the scope whose driver is gone holds its slot until someone resumes it.
        let mut room: HashMap<String, i64> = HashMap::new();
        let mut stale: HashMap<String, Vec<String>> = HashMap::new();
        // Runs started here that the store may not show running yet count wherever they are
        // (a queued one may lie past the page read).
        for key in &self.inflight {
            if let Ok(dag) = self.engine.dag(&key.dag_id) {
                *room
                    .entry(key.dag_id.clone())
                    .or_insert(i64::from(dag.max_active_runs())) -= 1;
            }
        }
        for (run, in_scope) in &scoped {
            let Ok(dag) = self.engine.dag(&run.dag_id) else {
                continue;
            };
            let r = room
                .entry(run.dag_id.clone())
                .or_insert(i64::from(dag.max_active_runs()));
            let key = RunKey::new(&run.dag_id, &run.run_id);
            let starting = self.inflight.contains(&key);
            if run.state == RunState::Running && !starting {
                *r -= 1;
            }
            // (Whether its driver is gone is asked last: it may look at a process.)
            let gone = || {
                run.owner
                    .as_ref()
                    .is_none_or(|o| is_orphan(&o.worker_id, Some(o.until), now))
            };
            if run.state == RunState::Running && !in_scope && !starting && gone() {
                stale
                    .entry(run.dag_id.clone())
                    .or_default()
                    .push(run.run_id.clone());
            }
        }
        for (run, in_scope) in scoped {
            let key = RunKey::new(&run.dag_id, &run.run_id);
            if !in_scope || self.inflight.contains(&key) || self.done.contains(&key) {
                continue;
            }
            // A run another live process drives is held, as its executor would find after a
            // read and a refused acquire — which workers polling each other's runs paid for
            // on every turn.
            if matches!(self.scope, Scope::All)
                && run.state == RunState::Running
                && let Some(o) = run
                    .owner
                    .as_ref()
                    .filter(|o| o.worker_id != self.engine.worker_id())
                    .filter(|o| !is_orphan(&o.worker_id, Some(o.until), now))
            {
                let busy = RunError::Busy {
                    dag_id: run.dag_id.clone(),
                    run_id: run.run_id.clone(),
                    worker: o.worker_id.clone(),
                    until: o.until.to_rfc3339(),
                };
                self.report.held.push((key.clone(), busy.to_string()));
                self.done.insert(key);
                continue;
            }
            let Some(r) = room.get_mut(&run.dag_id) else {
                self.leave(key, "its DAG is not loaded (see `dagctl validate`)".into());
                continue;
            };
            if run.state == RunState::Queued {
                if *r <= 0 {
                    let limit = i64::from(
                        self.engine
                            .dag(&run.dag_id)
                            .map_or(0, |d| d.max_active_runs()),
                    );
                    match stale.get(&run.dag_id) {
                        // Nothing alive holds the slots it waits for: say so, do not wait.
                        Some(ids) if ids.len() as i64 >= limit => self.leave(
                            key,
                            format!(
                                "waits for a run slot (max_active_runs) held by {} of {}, left \
                                 unfinished by a process that stopped; `dagctl runs resume` \
                                 continues it",
                                ids.join(", "),
                                run.dag_id
                            ),
                        ),
                        _ => {
                            self.waiting.insert(
                                key,
                                "waiting for a free run slot (max_active_runs)".into(),
                            );
                        }
                    }
                    continue;
                }
                *r -= 1;
            }
            if self.max_inflight.is_some_and(|m| self.inflight.len() >= m) {
                break;
            }
            self.waiting.remove(&key);
            self.spawn(key);
        }
        Ok(created)
    }

    /// The unfinished runs a turn considers: every running one and the queued ones in the
    /// order they start — all of them, or (more waiting than [`QUEUED_PAGE`]) the first page
    /// of all DAGs and of each loaded DAG, so that a DAG with few runs is not starved
    /// behind another's long queue. Also whether every queued run was read.
    async fn unfinished(&self) -> Result<(Vec<DagRun>, bool), EngineError> {
        let store = &self.engine.store;
        let queued = |dag_id: Option<String>| RunFilter {
            dag_id,
            states: vec![RunState::Queued],
            oldest_first: true,
            limit: Some(QUEUED_PAGE),
            ..RunFilter::default()
        };
        let mut runs = store
            .list_runs(&RunFilter {
                states: vec![RunState::Running],
                ..RunFilter::default()
            })
            .await?;
        let page = store.list_runs(&queued(None)).await?;
        let complete = page.len() < QUEUED_PAGE as usize;
        let mut seen: HashSet<RunKey> = HashSet::new();
        for run in page {
            seen.insert(RunKey::new(&run.dag_id, &run.run_id));
            runs.push(run);
        }
        if !complete {
            // A DAG in the page has its oldest queued runs there; the others are read alone.
            let in_page: HashSet<&str> = runs.iter().map(|r| r.dag_id.as_str()).collect();
            let others: Vec<String> = self
                .engine
                .dags()
                .iter()
                .filter(|d| !in_page.contains(d.id.as_str()))
                .map(|d| d.id.clone())
                .collect();
            for dag_id in others {
                for run in store.list_runs(&queued(Some(dag_id))).await? {
                    if seen.insert(RunKey::new(&run.dag_id, &run.run_id)) {
                        runs.push(run);
                    }
                }
            }
        }
        Ok((runs, complete))
    }

    async fn in_scope(&mut self, run: &DagRun) -> Result<bool, EngineError> {
        match &self.scope {
            Scope::All => Ok(true),
            Scope::Only(keys) => Ok(keys
                .iter()
                .any(|k| k.dag_id == run.dag_id && k.run_id == run.run_id)),
            Scope::Following(_) => {
                let key = RunKey::new(&run.dag_id, &run.run_id);
                if let Some(&v) = self.family.get(&key) {
                    return Ok(v);
                }
                let mut chain = vec![key];
                let mut parent = run.triggered_by.clone();
                let verdict = loop {
                    if let Some(&v) = chain.last().and_then(|k| self.family.get(k)) {
                        break v;
                    }
                    let Some(p) = parent.take() else { break false };
                    if chain.len() > 10_000 || chain.contains(&p) {
                        break false;
                    }
                    if !self.family.contains_key(&p) {
                        parent = self
                            .engine
                            .store
                            .run(&p)
                            .await?
                            .and_then(|r| r.triggered_by);
                    }
                    chain.push(p);
                };
                for k in chain {
                    self.family.insert(k, verdict);
                }
                Ok(verdict)
            }
        }
    }

    /// Gives up on a run for this drive, saying why (it counts as left unfinished).
    fn leave(&mut self, key: RunKey, why: String) {
        self.waiting.remove(&key);
        self.report.left.push((key.clone(), why));
        self.done.insert(key);
    }

    fn spawn(&mut self, key: RunKey) {
        if !self.inflight.insert(key.clone()) {
            return;
        }
        let engine = Arc::clone(&self.engine);
        let k = key.clone();
        let handle = self.joins.spawn(async move {
            let result = engine.execute(&k.dag_id, &k.run_id).await;
            (k, result)
        });
        self.ids.insert(handle.id(), key);
    }

    /// Waits until something may have changed: a run ended (recorded, `on_done` called), an
    /// event that can start or create a run was announced, or, while runs wait, a short
    /// recheck interval passed. Events that cannot (see `Driver::wakes`) are consumed without a
    /// turn: a turn reads every unfinished run, and a busy run announces every task.
    pub async fn next(&mut self, on_done: &mut impl FnMut(&RunOutcome)) {
        let recheck = (!self.waiting.is_empty()).then(|| tokio::time::Instant::now() + RECHECK);
        // Something changed; the turn waits for its spacing, the runs ending meanwhile
        // recorded as they end.
        let mut woken = false;
        loop {
            if woken && tokio::time::Instant::now() >= self.next_turn {
                return;
            }
            tokio::select! {
                Some(joined) = self.joins.join_next_with_id(), if !self.inflight.is_empty() => {
                    self.joined(joined, on_done);
                    while let Some(j) = self.joins.try_join_next_with_id() {
                        self.joined(j, on_done);
                    }
                    woken = true;
                }
                _ = tokio::time::sleep_until(self.next_turn), if woken => return,
                // Once for all the events already waiting (a lagging receiver skips some:
                // that may hide one that mattered, so it wakes).
                event = self.events.recv() => {
                    let mut wake = self.wakes(event);
                    loop {
                        match self.events.try_recv() {
                            Ok(e) => wake |= self.wakes(Ok(e)),
                            Err(broadcast::error::TryRecvError::Lagged(_)) => wake = true,
                            Err(_) => break,
                        }
                    }
                    woken |= wake;
                }
                _ = tokio::time::sleep_until(recheck.unwrap_or_else(tokio::time::Instant::now)),
                    if recheck.is_some() && !woken => woken = true,
            }
        }
    }

    /// Whether an announced change can let a run start or cause one: a run queued (created,
    /// cleared) or ended (its slot freed), a task done that updates datasets, or events
    /// missed. A task's other changes only concern its own run, which is already driven.
    fn wakes(&self, event: Result<Event, broadcast::error::RecvError>) -> bool {
        match event {
            Ok(Event::Run { state, .. }) => state != RunState::Running,
            Ok(Event::Task {
                dag_id,
                task_id,
                state: TaskState::Success,
                ..
            }) => self
                .engine
                .dag(&dag_id)
                .ok()
                .and_then(|d| d.task(&task_id).map(|t| !t.outlets.is_empty()))
                .unwrap_or(true),
            Ok(Event::Task { .. }) => false,
            // Missed events; a closed channel (the engine is gone) is not waited on.
            Err(broadcast::error::RecvError::Lagged(_)) => true,
            Err(broadcast::error::RecvError::Closed) => true,
        }
    }

    fn joined(
        &mut self,
        joined: Result<(tokio::task::Id, Joined), tokio::task::JoinError>,
        on_done: &mut impl FnMut(&RunOutcome),
    ) {
        let (key, result) = match joined {
            Ok((id, j)) => {
                self.ids.remove(&id);
                j
            }
            Err(e) => {
                if let Some(key) = self.ids.remove(&e.id()) {
                    self.inflight.remove(&key);
                    self.report
                        .failures
                        .push((key.clone(), format!("executing it panicked: {e}")));
                    self.done.insert(key);
                }
                return;
            }
        };
        self.inflight.remove(&key);
        match result {
            Ok(outcome) => {
                on_done(&outcome);
                let report = &mut self.report;
                report.ended += 1;
                let success = outcome.state == RunState::Success;
                if success {
                    report.succeeded += 1;
                }
                if !success || report.succeeded <= self.keep_succeeded {
                    report.outcomes.push(outcome);
                }
            }
            // Taken from this process while queued again (cleared): driven again.
            Err(EngineError::Run(e @ (RunError::AtLimit { .. } | RunError::Lost { .. }))) => {
                self.waiting.insert(key, e.to_string());
            }
            Err(EngineError::Run(e @ RunError::Busy { .. })) => {
                if matches!(self.scope, Scope::All) {
                    self.report.held.push((key.clone(), e.to_string()));
                    self.done.insert(key);
                } else {
                    self.waiting.insert(key, e.to_string());
                }
            }
            // The store failed under the run (a database restart): a process serving every
            // run goes on with it once the store answers, as it would after a crash.
            Err(EngineError::Run(RunError::Store(e)))
                if e.is_transient() && matches!(self.scope, Scope::All) =>
            {
                tracing::warn!("{key} stopped: {e}; going on with it when the store answers");
                self.waiting
                    .insert(key, format!("the state store failed: {e}"));
            }
            Err(e) => {
                tracing::error!("{key} could not be executed: {e}");
                self.report.failures.push((key.clone(), e.to_string()));
                self.done.insert(key);
            }
        }
    }

    /// Forgets which runs were left to other processes or left unfinished, so they are
    /// looked at again (the scheduler, after reloading the DAG folder).
    pub fn forget_held(&mut self) {
        let held = std::mem::take(&mut self.report.held);
        let left = std::mem::take(&mut self.report.left);
        for (key, _) in held.into_iter().chain(left) {
            self.done.remove(&key);
        }
    }

    /// Waits up to `grace` for executing runs, then aborts the rest (left resumable); returns
    /// how many were aborted.
    pub async fn drain(&mut self, grace: Duration, on_done: &mut impl FnMut(&RunOutcome)) -> usize {
        let deadline = tokio::time::Instant::now() + grace;
        while !self.inflight.is_empty() {
            tokio::select! {
                Some(joined) = self.joins.join_next_with_id() => self.joined(joined, on_done),
                _ = tokio::time::sleep_until(deadline) => {
                    let n = self.inflight.len();
                    self.joins.abort_all();
                    return n;
                }
            }
        }
        0
    }

    /// The report so far.
    pub fn report(&self) -> &DriveReport {
        &self.report
    }
}
