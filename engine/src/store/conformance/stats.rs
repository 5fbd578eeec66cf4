//! Statistics ([`Store::stats`]): counts by DAG and state, duration histograms, queue depth,
//! pool use and live workers, as the generic computation over ordinary reads finds them —
//! so a store's counters and queries are checked against the rows themselves — and counters
//! that only grow when runs are cleared, end again and are removed.

use std::time::Duration;

use super::{now, run, ti};
use crate::state::{RunState, RunType, TaskState};
use crate::store::stats::{StoreStats, computed};
use crate::store::{Batch, Change, Store};

pub(crate) async fn check(s: &dyn Store) {
    let t = now();
    let lease = t + chrono::Duration::seconds(60);
    let claim = |task: &str, queued: bool| Change::Claim {
        task_id: task.into(),
        try_number: 1,
        worker_id: "w_stats".into(),
        max_active_tasks: 16,
        max_active_tis_per_dag: None,
        pool: None,
        waited: None,
        lease_until: lease,
        at: t,
        queued,
    };
    let end = |task: &str, state, secs: u64| Change::EndTry {
        task_id: task.into(),
        try_number: 1,
        state,
        at: t,
        duration: Duration::from_secs(secs),
        error: None,
    };
    let set = |task: &str, state| Change::SetTask {
        task_id: task.into(),
        state,
        next_attempt_at: None,
        end_date: Some(t),
    };
    let mut waited_3s = claim("a", false);
    if let Change::Claim { waited, .. } = &mut waited_3s {
        *waited = Some(Duration::from_secs(3));
    }
    let runs = [
        (
            "s_ok",
            vec![
                waited_3s,
                end("a", TaskState::Success, 2),
                set("a", TaskState::Success),
                claim("b", false),
                end("b", TaskState::Success, 40),
                set("b", TaskState::Success),
                Change::SetRun {
                    state: RunState::Success,
                    start_date: Some(t - chrono::Duration::seconds(45)),
                    end_date: Some(t),
                },
            ],
        ),
        (
            "s_running",
            vec![
                claim("a", false),
                claim("b", true),
                Change::SetRun {
                    state: RunState::Running,
                    start_date: Some(t),
                    end_date: None,
                },
            ],
        ),
    ];
    for (id, changes) in runs {
        let mut r = run(id);
        r.dag_id = "stats".into();
        if id == "s_running" {
            // A scheduled run, due 10 s before its first try: its lag.
            r.run_type = RunType::Scheduled;
            r.data_interval_end = t - chrono::Duration::seconds(10);
        }
        s.create_run(&r, &[ti("a"), ti("b")], &[]).await.unwrap();
        commit(s, id, changes).await;
    }
    // A claim refused by `max_active_tasks` (two of the DAG's instances run) is counted
    // under its task's pool.
    let mut r = run("s_refused");
    r.dag_id = "stats".into();
    let mut gpu = ti("a");
    gpu.pool = "gpu".into();
    s.create_run(&r, &[gpu], &[]).await.unwrap();
    let mut refused = claim("a", false);
    if let Change::Claim {
        max_active_tasks, ..
    } = &mut refused
    {
        *max_active_tasks = 2;
    }
    let won = s
        .commit(&Batch {
            dag_id: "stats".into(),
            run_id: "s_refused".into(),
            changes: vec![refused],
        })
        .await
        .unwrap();
    assert_eq!(won, [false]);
    let got = s.stats(t).await.unwrap();
    assert_eq!(
        got.claims_refused
            .get(&("stats".to_string(), "gpu".to_string())),
        Some(&1),
        "{:?}",
        got.claims_refused
    );
    // The claim that waited 3 s (within the 5 s bound), in its task's pool; the others
    // said no wait.
    let wait = &got.slot_wait[&("stats".to_string(), "default_pool".to_string())];
    assert_eq!((wait.count, wait.sum), (1, 3.0), "{wait:?}");
    assert_eq!(&wait.buckets[2..4], &[0, 1]);
    let d = |state| ("stats".to_string(), state);
    assert_eq!(got.ended_runs.get(&d(RunState::Success)), Some(&1));
    assert_eq!(got.active_runs.get(&d(RunState::Running)), Some(&1));
    let ti_ended = |got: &StoreStats, state| {
        got.ended_task_instances
            .get(&("stats".to_string(), state))
            .copied()
    };
    assert_eq!(ti_ended(&got, TaskState::Success), Some(2));
    let active = |state| {
        got.active_task_instances
            .get(&("stats".to_string(), state))
            .copied()
            .unwrap_or(0)
    };
    assert_eq!(
        active(TaskState::Running) + active(TaskState::Queued),
        2,
        "one running, one handed: {got:?}"
    );
    let runs = &got.run_durations["stats"];
    assert_eq!((runs.count, runs.sum), (1, 45.0));
    // 45 s: above the 30 s bound, within 60 s.
    assert_eq!(&runs.buckets[..7], &[0, 0, 0, 0, 0, 0, 1]);
    let tries = &got.try_durations["stats"];
    assert_eq!((tries.count, tries.sum), (2, 42.0));
    assert_eq!(tries.buckets[3], 1, "2 s is within 5 s");
    // Two claims, one lag: the first try's, 10 s (within the 10 s bound).
    let lag = &got.schedule_lag["stats"];
    assert_eq!((lag.count, lag.sum), (1, 10.0), "{lag:?}");
    assert_eq!(&lag.buckets[3..5], &[0, 1]);
    assert!(got.queued_tries >= 1, "the handed try waits: {got:?}");
    assert!(got.workers_alive >= 1, "w_stats holds a live lease");
    assert!(got.pool_used["default_pool"] >= 2);
    same(&got, &computed(s, t).await.unwrap());

    // Counters only grow: a cleared run that ends again counts twice, and removing it
    // (`db clean`) takes nothing back.
    let mut again: Vec<Change> = ["a", "b"]
        .into_iter()
        .map(|task| Change::ResetTask {
            task_id: task.into(),
            max_tries: 2,
        })
        .collect();
    again.push(Change::SetRun {
        state: RunState::Queued,
        start_date: None,
        end_date: None,
    });
    commit(s, "s_ok", again).await;
    let cleared = s.stats(t).await.unwrap();
    assert_eq!(
        cleared.ended_runs, got.ended_runs,
        "a clear lowers no counter"
    );
    assert_eq!(cleared.ended_task_instances, got.ended_task_instances);
    commit(
        s,
        "s_ok",
        vec![
            set("a", TaskState::Failed),
            set("b", TaskState::UpstreamFailed),
            Change::SetRun {
                state: RunState::Failed,
                start_date: Some(t),
                end_date: Some(t),
            },
        ],
    )
    .await;
    s.clean(t + chrono::Duration::days(1), Some("stats"), false)
        .await
        .unwrap();
    let last = s.stats(t).await.unwrap();
    assert_eq!(last.ended_runs.get(&d(RunState::Success)), Some(&1));
    assert_eq!(last.ended_runs.get(&d(RunState::Failed)), Some(&1));
    assert_eq!(ti_ended(&last, TaskState::Success), Some(2));
    assert_eq!(ti_ended(&last, TaskState::Failed), Some(1));
    assert_eq!(ti_ended(&last, TaskState::UpstreamFailed), Some(1));
    assert_eq!(last.run_durations["stats"].count, 2);
    assert_eq!(last.try_durations["stats"], got.try_durations["stats"]);
}

async fn commit(s: &dyn Store, run_id: &str, changes: Vec<Change>) {
    s.commit(&Batch {
        dag_id: "stats".into(),
        run_id: run_id.into(),
        changes,
    })
    .await
    .unwrap();
}

/// Of the DAG `stats`, equal but for the float error of summing in another order (the
/// suite's other checks cleared and removed runs of other DAGs, which the counters keep).
fn same(a: &StoreStats, b: &StoreStats) {
    let of = |m: &std::collections::BTreeMap<(String, RunState), u64>| {
        m.iter()
            .filter(|((d, _), _)| d == "stats")
            .map(|(k, v)| (k.clone(), *v))
            .collect::<Vec<_>>()
    };
    let of_ti = |m: &std::collections::BTreeMap<(String, TaskState), u64>| {
        m.iter()
            .filter(|((d, _), _)| d == "stats")
            .map(|(k, v)| (k.clone(), *v))
            .collect::<Vec<_>>()
    };
    assert_eq!(of(&a.ended_runs), of(&b.ended_runs));
    assert_eq!(of(&a.active_runs), of(&b.active_runs));
    assert_eq!(
        of_ti(&a.ended_task_instances),
        of_ti(&b.ended_task_instances)
    );
    assert_eq!(
        of_ti(&a.active_task_instances),
        of_ti(&b.active_task_instances)
    );
    assert_eq!(a.queued_tries, b.queued_tries);
    assert_eq!(a.pool_used, b.pool_used);
    assert_eq!(a.workers_alive, b.workers_alive);
    same_histograms(a, b, Some("stats"));
}

/// The three histograms of `a` and `b` are equal (those of `dag` only, when given), but
/// for the float error of summing in another order.
pub(crate) fn same_histograms(a: &StoreStats, b: &StoreStats, dag: Option<&str>) {
    for (x, y) in [
        (&a.run_durations, &b.run_durations),
        (&a.try_durations, &b.try_durations),
        (&a.schedule_lag, &b.schedule_lag),
    ] {
        let keys = |m: &std::collections::BTreeMap<String, _>| -> Vec<String> {
            m.keys()
                .filter(|k| dag.is_none_or(|d| *k == d))
                .cloned()
                .collect()
        };
        assert_eq!(keys(x), keys(y));
        for k in keys(x) {
            let (h, g) = (&x[&k], &y[&k]);
            assert_eq!((h.buckets, h.count), (g.buckets, g.count), "{k}");
            assert!(
                (h.sum - g.sum).abs() < 1e-6 * h.sum.max(1.0),
                "{k}: {} vs {}",
                h.sum,
                g.sum
            );
        }
    }
}
