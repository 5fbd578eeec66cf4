//! Retention in a [`MemoryStore`](super::MemoryStore): finished runs removed with their
//! rows ([`Store::clean`](crate::store::Store::clean)) and dataset events no consumer waits
//! for ([`Store::clean_events`](crate::store::Store::clean_events)), as the SQL store's
//! `clean` does.

use chrono::{DateTime, Utc};

use super::{Data, EventId, RunIds, event_id};
use crate::state::RunState;
use crate::store::{CleanReport, DatasetEvent, EventConsumer, EventsCleaned};

/// [`Store::clean`](crate::store::Store::clean) on `d`.
pub(super) fn clean_runs(
    d: &mut Data,
    before: DateTime<Utc>,
    dag_id: Option<&str>,
    dry_run: bool,
) -> CleanReport {
    let (gone, pinned): (Vec<RunIds>, Vec<RunIds>) = d
        .runs
        .iter()
        .filter(|(k, r)| {
            matches!(r.state, RunState::Success | RunState::Failed)
                && r.end_date.is_some_and(|e| e < before)
                && dag_id.is_none_or(|id| k.0 == id)
        })
        .map(|(k, _)| k.clone())
        .partition(|k| {
            !d.records.contains_key(&(
                crate::store::PINNED_RUNS.to_string(),
                crate::store::records::pinned_key(&k.0, &k.1),
            ))
        });
    let of = |k: &(String, String, String, u32)| gone.contains(&(k.0.clone(), k.1.clone()));
    let report = CleanReport {
        runs: gone.len() as u64,
        task_instances: gone
            .iter()
            .filter_map(|k| d.tis.get(k))
            .map(Vec::len)
            .sum::<usize>() as u64,
        tries: gone
            .iter()
            .filter_map(|k| d.tries.get(k))
            .map(Vec::len)
            .sum::<usize>() as u64,
        log_chunks: d
            .logs
            .iter()
            .filter(|(k, _)| of(k))
            .map(|(_, c)| c.len())
            .sum::<usize>() as u64,
        xcoms: d
            .xcom
            .keys()
            .filter(|k| gone.contains(&(k.0.clone(), k.1.clone())))
            .count() as u64,
        spilled: d
            .xcom
            .iter()
            .filter(|(k, _)| gone.contains(&(k.0.clone(), k.1.clone())))
            .filter_map(|(_, v)| crate::xcom_spill::spilled_path(v).map(str::to_string))
            .collect(),
        pinned: pinned.len() as u64,
    };
    if !dry_run {
        for k in &gone {
            d.runs.remove(k);
            d.tis.remove(k);
            d.tries.remove(k);
        }
        d.logs.retain(|k, _| !of(k));
        d.xcom
            .retain(|k, _| !gone.contains(&(k.0.clone(), k.1.clone())));
    }
    report
}

/// [`Store::clean_events`](crate::store::Store::clean_events) on `d`.
pub(super) fn clean_events(
    d: &mut Data,
    before: DateTime<Utc>,
    consumers: &[EventConsumer],
    dry_run: bool,
) -> EventsCleaned {
    let waited_for =
        |e: &DatasetEvent, consumed: &std::collections::BTreeSet<(String, EventId)>| {
            consumers.iter().any(|c| {
                c.dataset == e.dataset
                    && e.created_at >= c.since
                    && !consumed.contains(&(c.dag_id.clone(), event_id(e)))
            })
        };
    let gone: std::collections::BTreeSet<EventId> = d
        .datasets
        .iter()
        .filter(|e| e.created_at < before && !waited_for(e, &d.consumed))
        .map(event_id)
        .collect();
    let remaining: std::collections::BTreeSet<EventId> = d
        .datasets
        .iter()
        .map(event_id)
        .filter(|id| !gone.contains(id))
        .collect();
    let consumptions_gone = |(_, id): &(String, EventId)| id.1 < before && !remaining.contains(id);
    let done = EventsCleaned {
        events: gone.len() as u64,
        consumptions: d.consumed.iter().filter(|c| consumptions_gone(c)).count() as u64,
    };
    if !dry_run {
        d.datasets.retain(|e| !gone.contains(&event_id(e)));
        d.consumed.retain(|c| !consumptions_gone(c));
    }
    done
}
