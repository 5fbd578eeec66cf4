//! Applying a [`Batch`] to a [`MemoryStore`](super::MemoryStore)'s data: every change on a
//! copy of the run's rows, swapped in at the end, so a batch lands all or nothing.

use super::{Data, key};
use crate::state::{RunState, TaskState};
use crate::store::{Batch, Change, DatasetEvent, StoreError, TryRecord, metric_counts};

/// Applies `batch` to `d` and returns whether each claim won, in order; on
/// [`StoreError::NotOwner`] (a failed `Owned` guard) nothing is changed.
pub(super) fn apply(d: &mut Data, batch: &Batch) -> Result<Vec<bool>, StoreError> {
    let k = key(&batch.dag_id, &batch.run_id);
    let mut claims = Vec::new();
    // Applied to a copy and swapped in at the end: all or nothing, like a transaction.
    let mut tis = d.tis.get(&k).cloned().unwrap_or_default();
    let mut tries = d.tries.get(&k).cloned().unwrap_or_default();
    let mut run = d.runs.get(&k).cloned();
    let mut logs = Vec::new();
    let mut vars = Vec::new();
    let mut xcoms = Vec::new();
    let mut events = Vec::new();
    // Running instances of this DAG in its other runs (`max_active_tasks` spans runs).
    let running_elsewhere = d
        .tis
        .iter()
        .filter(|(key, _)| key.0 == batch.dag_id && **key != k)
        .flat_map(|(_, tis)| tis)
        .filter(|t| is_running_try(t))
        .count();
    // …and those of one task (`max_active_tis_per_dag`).
    let running_elsewhere_of = |task: &str| {
        d.tis
            .iter()
            .filter(|(key, _)| key.0 == batch.dag_id && **key != k)
            .flat_map(|(_, tis)| tis)
            .filter(|t| same_task(&t.task_id, task) && is_running_try(t))
            .count()
    };
    // …and the slots a pool's running instances hold in every DAG's other runs.
    let pool_used_elsewhere = |pool: &str| -> u64 {
        d.tis
            .iter()
            .filter(|(key, _)| **key != k)
            .flat_map(|(_, tis)| tis)
            .filter(|t| t.pool == pool && is_running_try(t))
            .map(|t| u64::from(t.pool_slots))
            .sum()
    };
    let mut counted = Vec::new();
    for change in &batch.changes {
        match change {
            Change::Claim {
                task_id,
                try_number,
                worker_id,
                max_active_tasks,
                max_active_tis_per_dag,
                pool,
                waited: _,
                lease_until,
                at,
                queued,
            } => {
                let pool_room = pool.as_ref().is_none_or(|(name, size)| {
                    let here: u64 = tis
                        .iter()
                        .filter(|t| t.pool == *name && is_running_try(t))
                        .map(|t| u64::from(t.pool_slots))
                        .sum();
                    let slots = tis
                        .iter()
                        .find(|t| t.task_id == *task_id)
                        .map_or(1, |t| u64::from(t.pool_slots));
                    pool_used_elsewhere(name) + here + slots <= u64::from(*size)
                });
                let running = running_elsewhere + tis.iter().filter(|t| is_running_try(t)).count();
                let same_task = |t: &&crate::store::TaskInstance| {
                    same_task(&t.task_id, task_id) && is_running_try(t)
                };
                let task_running =
                    running_elsewhere_of(task_id) + tis.iter().filter(same_task).count();
                let room = running < *max_active_tasks as usize
                    && max_active_tis_per_dag.is_none_or(|cap| task_running < cap as usize)
                    && pool_room;
                let ti = tis.iter_mut().find(|t| t.task_id == *task_id);
                let won = match ti {
                    Some(ti)
                        if room
                            && TaskState::CLAIMABLE.contains(&ti.state)
                            && ti.try_number + 1 == *try_number =>
                    {
                        ti.state = TaskState::Running;
                        ti.try_number = *try_number;
                        ti.start_date.get_or_insert(*at);
                        ti.next_attempt_at = None;
                        true
                    }
                    _ => false,
                };
                if won {
                    tries.push(TryRecord {
                        task_id: task_id.clone(),
                        try_number: *try_number,
                        state: if *queued {
                            TaskState::Queued
                        } else {
                            TaskState::Running
                        },
                        worker_id: if *queued {
                            String::new()
                        } else {
                            worker_id.clone()
                        },
                        lease_until: (!*queued).then_some(*lease_until),
                        start_date: *at,
                        end_date: None,
                        duration: None,
                        error: None,
                        handed: *queued,
                        outcome: None,
                        blamed: false,
                    });
                }
                claims.push(won);
            }
            Change::Held {
                task_id,
                try_number,
                worker_id,
            } => {
                let held = tries.iter().any(|t| {
                    t.task_id == *task_id
                        && t.try_number == *try_number
                        && t.worker_id == *worker_id
                        && t.state == TaskState::Running
                        && t.outcome.is_none()
                });
                if !held {
                    return Err(crate::store::guard_failed(batch));
                }
            }
            Change::Outcome {
                task_id,
                try_number,
                outcome,
                at,
            } => {
                if let Some(t) = try_mut(&mut tries, task_id, *try_number) {
                    t.outcome = Some(outcome.clone());
                    t.end_date = Some(*at);
                }
            }
            Change::Requeue {
                task_id,
                try_number,
            } => {
                if let Some(t) = try_mut(&mut tries, task_id, *try_number) {
                    t.state = TaskState::Queued;
                    t.worker_id.clear();
                    t.lease_until = None;
                }
            }
            Change::EndTry {
                task_id,
                try_number,
                state,
                at,
                duration,
                error,
            } => {
                if let Some(t) = try_mut(&mut tries, task_id, *try_number) {
                    t.state = *state;
                    t.end_date = Some(*at);
                    t.duration = Some(*duration);
                    t.error = error.clone();
                    t.lease_until = None;
                }
            }
            Change::SetTask {
                task_id,
                state,
                next_attempt_at,
                end_date,
            } => {
                if let Some(ti) = tis.iter_mut().find(|t| t.task_id == *task_id) {
                    ti.state = *state;
                    ti.next_attempt_at = *next_attempt_at;
                    ti.end_date = *end_date;
                }
            }
            Change::Xcom {
                task_id,
                key: xkey,
                value,
            } => xcoms.push((
                (
                    batch.dag_id.clone(),
                    batch.run_id.clone(),
                    task_id.clone(),
                    xkey.clone(),
                ),
                value.clone(),
            )),
            Change::Log {
                task_id,
                try_number,
                seq,
                text,
            } => logs.push((
                (
                    batch.dag_id.clone(),
                    batch.run_id.clone(),
                    task_id.clone(),
                    *try_number,
                ),
                *seq,
                text.clone(),
            )),
            Change::SetVariable { key, value } => vars.push((key.clone(), value.clone())),
            Change::DatasetEvent {
                dataset,
                task_id,
                at,
            } => events.push(DatasetEvent {
                dataset: dataset.clone(),
                created_at: *at,
                seq: 0,
                dag_id: batch.dag_id.clone(),
                run_id: batch.run_id.clone(),
                task_id: task_id.clone(),
            }),
            Change::GrantTry { task_id } => {
                if let Some(ti) = tis.iter_mut().find(|t| t.task_id == *task_id) {
                    ti.max_tries += 1;
                }
            }
            Change::MapInstance {
                task_id,
                mapped_args,
                max_tries,
                pool,
                pool_slots,
                rendered_map_index,
            } => match tis.iter_mut().find(|t| t.task_id == *task_id) {
                Some(ti) => {
                    ti.mapped_args = Some(mapped_args.clone());
                    ti.rendered_map_index = rendered_map_index.clone();
                }
                None => tis.push(crate::store::TaskInstance {
                    task_id: task_id.clone(),
                    state: TaskState::None,
                    try_number: 0,
                    max_tries: *max_tries,
                    pool: pool.clone(),
                    pool_slots: *pool_slots,
                    next_attempt_at: None,
                    start_date: None,
                    end_date: None,
                    mapped_args: Some(mapped_args.clone()),
                    rendered_map_index: rendered_map_index.clone(),
                }),
            },
            Change::Blame {
                task_id,
                try_number,
            } => {
                if let Some(t) = try_mut(&mut tries, task_id, *try_number) {
                    t.blamed = true;
                }
            }
            Change::ResetTask { task_id, max_tries } => {
                for t in tries.iter_mut().filter(|t| t.task_id == *task_id) {
                    t.blamed = false;
                }
                if let Some(ti) = tis.iter_mut().find(|t| t.task_id == *task_id) {
                    ti.state = TaskState::None;
                    ti.next_attempt_at = None;
                    ti.start_date = None;
                    ti.end_date = None;
                    ti.max_tries = *max_tries;
                }
            }
            Change::Owned { worker_id } => {
                let owned = run
                    .as_ref()
                    .and_then(|r| r.owner.as_ref())
                    .is_some_and(|o| o.worker_id == *worker_id);
                if !owned {
                    return Err(StoreError::NotOwner {
                        dag_id: batch.dag_id.clone(),
                        run_id: batch.run_id.clone(),
                    });
                }
            }
            Change::SlotsFreed => {}
            Change::SetParent { parent } => {
                if let Some(r) = run.as_mut() {
                    r.triggered_by = parent.clone();
                }
            }
            Change::Renew { worker_id, until } => {
                if let Some(o) = run
                    .as_mut()
                    .and_then(|r| r.owner.as_mut())
                    .filter(|o| o.worker_id == *worker_id)
                {
                    o.until = *until;
                }
            }
            Change::Release { worker_id } => {
                if let Some(r) = run.as_mut()
                    && worker_id
                        .as_ref()
                        .is_none_or(|w| r.owner.as_ref().is_some_and(|o| o.worker_id == *w))
                {
                    r.owner = None;
                }
            }
            Change::SetRun {
                state,
                start_date,
                end_date,
            } => {
                if let Some(r) = run.as_mut() {
                    r.state = *state;
                    if start_date.is_some() || *state == RunState::Queued {
                        r.start_date = *start_date;
                    }
                    r.end_date = *end_date;
                }
            }
        }
        if let Some(c) = metric_counts::counted(change) {
            count(c, run.as_ref(), &tis, &tries, &claims, &mut counted);
        }
    }
    d.tis.insert(k.clone(), tis);
    d.tries.insert(k.clone(), tries);
    if let Some(r) = run {
        d.runs.insert(k, r);
    }
    for (lk, seq, text) in logs {
        d.logs.entry(lk).or_default().insert(seq, text);
    }
    d.variables.extend(vars);
    d.xcom.extend(xcoms);
    for mut e in events {
        e.seq = d
            .datasets
            .iter()
            .filter(|x| x.dataset == e.dataset && x.created_at == e.created_at)
            .count() as i64;
        d.datasets.push(e);
    }
    for (name, label, seconds) in counted {
        let c = d
            .counts
            .entry((batch.dag_id.clone(), name.to_string(), label))
            .or_default();
        c.0 += 1;
        c.1 += seconds;
    }
    Ok(claims)
}

/// What a change counts ([`metric_counts`]), as (name, label, seconds), once applied to the
/// run's copy.
fn count(
    c: metric_counts::Counted<'_>,
    run: Option<&crate::store::DagRun>,
    tis: &[crate::store::TaskInstance],
    tries: &[TryRecord],
    claims: &[bool],
    out: &mut Vec<(&'static str, String, f64)>,
) {
    use metric_counts::{Counted, bucket};
    let secs = |d: chrono::TimeDelta| d.num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6;
    if let Some((name, label, total)) = c.row() {
        out.push((name, label, total.as_secs_f64()));
    }
    match c {
        Counted::RunEnded(_) => {
            if let Some((a, b)) = run.and_then(|r| r.start_date.zip(r.end_date)) {
                let d = secs(b - a).max(0.0);
                out.push((metric_counts::RUN_SECONDS, bucket(d).to_string(), d));
            }
        }
        Counted::Claimed { task_id, .. } if claims.last() == Some(&false) => {
            if let Some(ti) = tis.iter().find(|t| t.task_id == task_id) {
                out.push((metric_counts::CLAIMS_REFUSED, ti.pool.clone(), 0.0));
            }
        }
        Counted::Claimed {
            at,
            task_id,
            waited,
            ..
        } => {
            if let (Some(w), Some(ti)) = (waited, tis.iter().find(|t| t.task_id == task_id)) {
                let d = w.as_secs_f64();
                out.push((
                    metric_counts::SLOT_WAIT,
                    format!("{}/{}", ti.pool, bucket(d)),
                    d,
                ));
            }
            // The claim just made won and its try is the run's only one.
            if claims.last() == Some(&true)
                && tries.len() == 1
                && let Some(r) = run.filter(|r| r.run_type == crate::state::RunType::Scheduled)
            {
                let d = secs(at - r.data_interval_end).max(0.0);
                out.push((metric_counts::LAG_SECONDS, bucket(d).to_string(), d));
            }
        }
        Counted::TaskEnded(_) | Counted::TryEnded(_) => {}
    }
}

/// Whether a task instance has a try running: a mapped task is `running` while its
/// instances run, without a try of its own, and holds no `max_active_tasks` place.
fn is_running_try(t: &crate::store::TaskInstance) -> bool {
    t.state == TaskState::Running && t.try_number > 0
}

/// Whether two task instance ids are of one task (a mapped task's instances `task[i]` are).
fn same_task(a: &str, b: &str) -> bool {
    use crate::dag::mapping::task_of_instance;
    task_of_instance(a) == task_of_instance(b)
}

/// Try `try_number` of `task_id` among a run's tries.
fn try_mut<'a>(
    tries: &'a mut [TryRecord],
    task_id: &str,
    try_number: u32,
) -> Option<&'a mut TryRecord> {
    tries
        .iter_mut()
        .find(|t| t.task_id == task_id && t.try_number == try_number)
}
