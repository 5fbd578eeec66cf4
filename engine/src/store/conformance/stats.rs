//! Statistics ([`Store::stats`]): counts by DAG and state, duration histograms, queue depth,
//! pool use and live workers, as the generic computation over ordinary reads finds them —
//! so a store's aggregate queries are checked against the rows themselves.

use std::time::Duration;

use super::{now, run, ti};
use crate::state::{RunState, TaskState};
use crate::store::stats::{StoreStats, computed};
use crate::store::{Batch, Change, Store};

pub(super) async fn check(s: &dyn Store) {
    let t = now();
    let lease = t + chrono::Duration::seconds(60);
    let claim = |task: &str, queued: bool| Change::Claim {
        task_id: task.into(),
        try_number: 1,
        worker_id: "w_stats".into(),
        max_active_tasks: 16,
        max_active_tis_per_dag: None,
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
    let runs = [
        (
            "s_ok",
            vec![
                claim("a", false),
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
        s.create_run(&r, &[ti("a"), ti("b")], &[]).await.unwrap();
        s.commit(&Batch {
            dag_id: "stats".into(),
            run_id: id.into(),
            changes,
        })
        .await
        .unwrap();
    }
    let got = s.stats(t).await.unwrap();
    let d = |state| ("stats".to_string(), state);
    assert_eq!(got.runs.get(&d(RunState::Success)), Some(&1));
    assert_eq!(got.runs.get(&d(RunState::Running)), Some(&1));
    let ti = |state| {
        got.task_instances
            .get(&("stats".to_string(), state))
            .copied()
    };
    assert_eq!(ti(TaskState::Success), Some(2));
    assert_eq!(
        ti(TaskState::Running).unwrap_or(0) + ti(TaskState::Queued).unwrap_or(0),
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
    assert!(got.queued_tries >= 1, "the handed try waits: {got:?}");
    assert!(got.workers_alive >= 1, "w_stats holds a live lease");
    assert!(got.pool_used["default_pool"] >= 2);
    same(&got, &computed(s, t).await.unwrap());
}

/// Equal but for the float error of summing in another order.
fn same(a: &StoreStats, b: &StoreStats) {
    assert_eq!(a.runs, b.runs);
    assert_eq!(a.task_instances, b.task_instances);
    assert_eq!(a.queued_tries, b.queued_tries);
    assert_eq!(a.pool_used, b.pool_used);
    assert_eq!(a.workers_alive, b.workers_alive);
    for (x, y) in [
        (&a.run_durations, &b.run_durations),
        (&a.try_durations, &b.try_durations),
        (&a.schedule_lag, &b.schedule_lag),
    ] {
        assert_eq!(x.keys().collect::<Vec<_>>(), y.keys().collect::<Vec<_>>());
        for (k, h) in x {
            let g = &y[k];
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
