//! One behaviour suite that every [`Store`] implementation must pass.

use std::time::Duration;

use chrono::{DateTime, DurationRound, Utc};

pub(crate) mod blame;
pub(crate) mod clean;
pub(crate) mod concurrent_claims;
mod consumption;
pub(crate) mod handed;
pub(crate) mod lifecycle;
pub(crate) mod mapped;
pub(crate) mod pool_limit;
pub(crate) mod records;
pub(crate) mod run_filter;
pub(crate) mod stats;
pub(crate) mod task_limit;

use super::{Batch, Change, DagRun, RunFilter, RunKey, Store, StoreError, TaskInstance};
use crate::run::NewRun;
use crate::state::{RunState, RunType, TaskState};
use crate::timetable::DataInterval;

/// Now, to the microsecond: the precision stores must keep.
pub(super) fn now() -> DateTime<Utc> {
    Utc::now()
        .duration_trunc(chrono::Duration::microseconds(1))
        .unwrap()
}

pub(super) fn run(id: &str) -> DagRun {
    let t = now();
    let mut new = NewRun::new("d", RunType::Manual, DataInterval { start: t, end: t });
    new.run_id = Some(id.into());
    new.conf = serde_json::json!({"a": 1});
    new.build(t)
}

/// A claim of try 1 of `task` by worker `w1` under `max_active_tasks`, made `at` with a
/// lease of 30 s (no task cap, no declared pool, not queued).
pub(super) fn plain_claim(task: &str, max_active_tasks: u32, at: DateTime<Utc>) -> Change {
    Change::Claim {
        task_id: task.into(),
        try_number: 1,
        worker_id: "w1".into(),
        max_active_tasks,
        max_active_tis_per_dag: None,
        pool: None,
        waited: None,
        lease_until: at + chrono::Duration::seconds(30),
        at,
        queued: false,
    }
}

pub(super) fn ti(id: &str) -> TaskInstance {
    TaskInstance {
        task_id: id.into(),
        state: TaskState::Scheduled,
        try_number: 0,
        max_tries: 2,
        pool: "default_pool".into(),
        pool_slots: 1,
        next_attempt_at: None,
        start_date: None,
        end_date: None,
        mapped_args: None,
        rendered_map_index: None,
    }
}

/// Runs the suite against `s` (which must be empty).
pub async fn check(s: &dyn Store) {
    core(s).await;
    properties(s).await;
}

/// Runs, commits and reads of the core of the store.
pub(crate) async fn core(s: &dyn Store) {
    s.create_run(&run("r1"), &[ti("a"), ti("b")], &[])
        .await
        .unwrap();
    assert!(matches!(
        s.create_run(&run("r1"), &[], &[]).await,
        Err(StoreError::AlreadyExists { .. })
    ));
    let now = now();
    let claim = |task: &str| plain_claim(task, 16, now);
    let batch = |changes| Batch {
        dag_id: "d".into(),
        run_id: "r1".into(),
        changes,
    };
    // The second claim of the same task in one batch loses: it is running already.
    let won = s
        .commit(&batch(vec![claim("a"), claim("a")]))
        .await
        .unwrap();
    assert_eq!(won, [true, false]);
    let later = now + chrono::Duration::seconds(60);
    assert_eq!(s.renew_leases("w1", later).await.unwrap(), 1);
    assert_eq!(
        s.tries(&RunKey::new("d", "r1"), Some("a")).await.unwrap()[0].lease_until,
        Some(later)
    );
    s.commit(&batch(vec![
        Change::EndTry {
            task_id: "a".into(),
            try_number: 1,
            state: TaskState::Success,
            at: now,
            duration: Duration::from_millis(5),
            error: None,
        },
        Change::SetTask {
            task_id: "a".into(),
            state: TaskState::Success,
            next_attempt_at: None,
            end_date: Some(now),
        },
        Change::Xcom {
            task_id: "a".into(),
            key: "return_value".into(),
            value: serde_json::json!({"rows": 3}),
        },
        Change::Log {
            task_id: "a".into(),
            try_number: 1,
            seq: 1,
            text: "world\n".into(),
        },
        Change::Log {
            task_id: "a".into(),
            try_number: 1,
            seq: 0,
            text: "hello\n".into(),
        },
        Change::SetVariable {
            key: "k".into(),
            value: "v".into(),
        },
        Change::SetRun {
            state: RunState::Success,
            start_date: Some(now),
            end_date: Some(later),
        },
    ]))
    .await
    .unwrap();
    let tis = s.task_instances(&RunKey::new("d", "r1")).await.unwrap();
    let a = tis.iter().find(|t| t.task_id == "a").unwrap();
    assert_eq!(
        (a.state, a.try_number, a.end_date.is_some()),
        (TaskState::Success, 1, true)
    );
    let tries = s.tries(&RunKey::new("d", "r1"), Some("a")).await.unwrap();
    assert_eq!(tries.len(), 1);
    assert_eq!(tries[0].state, TaskState::Success);
    assert_eq!(tries[0].duration, Some(Duration::from_millis(5)));
    assert_eq!(tries[0].lease_until, None);
    assert_eq!(tries[0].worker_id, "w1");
    assert_eq!(
        s.xcom(&RunKey::new("d", "r1"), "a", "return_value")
            .await
            .unwrap(),
        Some(serde_json::json!({"rows": 3}))
    );
    assert_eq!(s.xcoms(&RunKey::new("d", "r1")).await.unwrap().len(), 1);
    assert_eq!(
        s.log(&RunKey::new("d", "r1"), "a", 1).await.unwrap(),
        "hello\nworld\n",
        "chunks in order"
    );
    assert_eq!(s.variable("k").await.unwrap().as_deref(), Some("v"));
    let r = s.run(&RunKey::new("d", "r1")).await.unwrap().unwrap();
    assert_eq!((r.state, r.end_date.is_some()), (RunState::Success, true));
    assert_eq!(r.conf, serde_json::json!({"a": 1}));
    assert_eq!(s.find_runs("r1").await.unwrap().len(), 1);
    assert!(s.run(&RunKey::new("d", "nope")).await.unwrap().is_none());

    // Clearing and granting tries (backfill --reset, sensors' deferrals).
    s.commit(&batch(vec![Change::ResetTask {
        task_id: "a".into(),
        max_tries: 5,
    }]))
    .await
    .unwrap();
    let a = s.task_instances(&RunKey::new("d", "r1")).await.unwrap();
    let a = a.iter().find(|t| t.task_id == "a").unwrap();
    assert_eq!(
        (a.state, a.max_tries, a.start_date, a.end_date),
        (TaskState::None, 5, None, None),
        "a cleared task starts afresh (a sensor's timeout too)"
    );
    s.commit(&batch(vec![Change::GrantTry {
        task_id: "a".into(),
    }]))
    .await
    .unwrap();
    let a = s.task_instances(&RunKey::new("d", "r1")).await.unwrap();
    assert_eq!(a.iter().find(|t| t.task_id == "a").unwrap().max_tries, 6);
    s.create_run(&run("r2"), &[ti("a")], &[]).await.unwrap();
    s.add_task_instances(&RunKey::new("d", "r2"), &[ti("a"), ti("z")])
        .await
        .unwrap();
    let ids: Vec<String> = s
        .task_instances(&RunKey::new("d", "r2"))
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.task_id)
        .collect();
    assert_eq!(
        ids.len(),
        2,
        "existing instances are kept, new ones added: {ids:?}"
    );
    let all = s.list_runs(&RunFilter::default()).await.unwrap();
    assert_eq!(all.len(), 2);
    let queued = s
        .list_runs(&RunFilter {
            states: vec![RunState::Queued],
            ..RunFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(
        queued.iter().map(|r| r.run_id.as_str()).collect::<Vec<_>>(),
        ["r2"]
    );
    let ids = |f: RunFilter| async move {
        s.list_runs(&f)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.run_id)
            .collect::<Vec<_>>()
    };
    let newest = ids(RunFilter {
        limit: Some(1),
        ..RunFilter::default()
    })
    .await;
    assert_eq!(newest.len(), 1);
    assert_eq!(
        newest,
        all[..1]
            .iter()
            .map(|r| r.run_id.clone())
            .collect::<Vec<_>>()
    );
    let two_states = ids(RunFilter {
        states: vec![RunState::Queued, RunState::Success],
        dag_id: Some("d".into()),
        limit: Some(5),
        ..RunFilter::default()
    })
    .await;
    assert_eq!(
        two_states,
        all.iter().map(|r| r.run_id.clone()).collect::<Vec<_>>()
    );
    // A page further down: the second newest, with and without a DAG and a limit.
    for (dag_id, limit) in [(None, Some(1)), (Some("d".to_string()), None)] {
        assert_eq!(
            ids(RunFilter {
                dag_id,
                limit,
                offset: Some(1),
                ..RunFilter::default()
            })
            .await,
            [all[1].run_id.clone()]
        );
    }
    assert!(
        ids(RunFilter {
            offset: Some(2),
            ..RunFilter::default()
        })
        .await
        .is_empty()
    );
    assert!(
        ids(RunFilter {
            states: vec![RunState::Failed],
            ..RunFilter::default()
        })
        .await
        .is_empty()
    );
    assert!(
        ids(RunFilter {
            dag_id: Some("other".into()),
            ..RunFilter::default()
        })
        .await
        .is_empty()
    );

    s.set_variable("x", "1").await.unwrap();
    s.set_variable("x", "2").await.unwrap();
    assert_eq!(s.variable("x").await.unwrap().as_deref(), Some("2"));
    assert!(s.delete_variable("x").await.unwrap());
    assert!(!s.delete_variable("x").await.unwrap());
    assert_eq!(
        s.variables().await.unwrap(),
        [("k".to_string(), "v".to_string())]
    );

    // Text that would break naive SQL quoting round-trips unchanged.
    let nasty = "it's '); DROP TABLE dag_runs; -- \"quoted\" \\ back\\slash\nnew line ünïcode";
    s.create_run(&run("r3"), &[ti("q")], &[]).await.unwrap();
    let r3 = |changes| Batch {
        dag_id: "d".into(),
        run_id: "r3".into(),
        changes,
    };
    let won = s
        .commit(&r3(vec![Change::Claim {
            task_id: "q".into(),
            try_number: 1,
            worker_id: nasty.into(),
            max_active_tasks: 16,
            max_active_tis_per_dag: None,
            pool: None,
            waited: None,
            lease_until: now,
            at: now,
            queued: false,
        }]))
        .await
        .unwrap();
    assert_eq!(won, [true]);
    s.commit(&r3(vec![
        Change::EndTry {
            task_id: "q".into(),
            try_number: 1,
            state: TaskState::Failed,
            at: now,
            duration: Duration::from_millis(1),
            error: Some(nasty.into()),
        },
        Change::Log {
            task_id: "q".into(),
            try_number: 1,
            seq: 0,
            text: nasty.into(),
        },
        Change::Xcom {
            task_id: "q".into(),
            key: nasty.into(),
            value: serde_json::json!({ "v": nasty }),
        },
        Change::SetVariable {
            key: "nasty".into(),
            value: nasty.into(),
        },
    ]))
    .await
    .unwrap();
    let t = &s.tries(&RunKey::new("d", "r3"), Some("q")).await.unwrap()[0];
    assert_eq!(
        (t.error.as_deref(), t.worker_id.as_str()),
        (Some(nasty), nasty)
    );
    assert_eq!(s.log(&RunKey::new("d", "r3"), "q", 1).await.unwrap(), nasty);
    assert_eq!(
        s.xcom(&RunKey::new("d", "r3"), "q", nasty).await.unwrap(),
        Some(serde_json::json!({ "v": nasty }))
    );
    assert_eq!(s.variable("nasty").await.unwrap().as_deref(), Some(nasty));
    assert_eq!(
        s.list_runs(&RunFilter::default()).await.unwrap().len(),
        3,
        "no table dropped"
    );
    s.delete_variable("nasty").await.unwrap();

    let t0 = now;
    s.commit(&batch(vec![
        Change::DatasetEvent {
            dataset: "raw".into(),
            task_id: "a".into(),
            at: t0,
        },
        Change::DatasetEvent {
            dataset: "raw".into(),
            task_id: "b".into(),
            at: t0,
        },
        Change::DatasetEvent {
            dataset: "raw".into(),
            task_id: "a".into(),
            at: t0 + chrono::Duration::seconds(1),
        },
    ]))
    .await
    .unwrap();
    assert_eq!(
        s.dataset_events("raw", None).await.unwrap().len(),
        3,
        "same instant, kept apart"
    );
    let later = s.dataset_events("raw", Some(t0)).await.unwrap();
    assert_eq!(later.len(), 1);
    assert_eq!(
        (later[0].run_id.as_str(), later[0].task_id.as_str()),
        ("r1", "a")
    );
    assert!(s.dataset_events("other", None).await.unwrap().is_empty());
    consumption::check(s, t0).await;

    let conn = super::Connection {
        name: "lake".into(),
        url: "s3://AKID:topsecret@bucket/prefix".into(),
        extra: [
            ("secret_access_key".to_string(), "s3cr3t".to_string()),
            ("region".to_string(), "eu-west-1".to_string()),
        ]
        .into_iter()
        .collect(),
    };
    s.set_connection(&conn).await.unwrap();
    assert_eq!(s.connections().await.unwrap(), std::slice::from_ref(&conn));
    let shown = format!("{conn:?}");
    assert!(
        !shown.contains("topsecret") && !shown.contains("s3cr3t"),
        "{shown}"
    );
    assert!(shown.contains("eu-west-1"));
    assert!(s.delete_connection("lake").await.unwrap());
    assert!(!s.delete_connection("lake").await.unwrap());

    s.set_pool("gpu", 2, Some("two cards")).await.unwrap();
    s.set_pool("gpu", 3, None).await.unwrap();
    assert_eq!(
        s.pools().await.unwrap(),
        [("gpu".into(), 3, Some("two cards".into()))]
    );
    assert!(s.delete_pool("gpu").await.unwrap());
    assert!(s.pools().await.unwrap().is_empty());
}

/// The properties checked after the core ones, each on data of its own.
async fn properties(s: &dyn Store) {
    records::check(s).await;
    lifecycle::check(s).await;
    task_limit::check(s).await;
    concurrent_claims::check(s).await;
    pool_limit::check(s).await;
    mapped::check(s).await;
    handed::check(s).await;
    blame::check(s).await;
    clean::check(s).await;
    clean::events(s).await;
    stats::check(s).await;
    run_filter::check(s).await;
}

/// One test per property, each on an empty store that `$store` makes (an expression giving
/// `(guard, store)`; the guard, a temporary folder say, lives as long as the test), so that a
/// failing property does not hide the others. The whole suite in a row ([`check`]) still runs
/// where an empty store costs more (PostgreSQL).
macro_rules! one_test_per_property {
    ($store:expr) => {
        one_test_per_property!(@each $store;
            core => $crate::store::conformance::core,
            records => $crate::store::conformance::records::check,
            lifecycle => $crate::store::conformance::lifecycle::check,
            task_limit => $crate::store::conformance::task_limit::check,
            concurrent_claims => $crate::store::conformance::concurrent_claims::check,
            pool_limit => $crate::store::conformance::pool_limit::check,
            mapped => $crate::store::conformance::mapped::check,
            handed => $crate::store::conformance::handed::check,
            blame => $crate::store::conformance::blame::check,
            clean => $crate::store::conformance::clean::check,
            clean_events => $crate::store::conformance::clean::events,
            stats => $crate::store::conformance::stats::check,
            run_filter => $crate::store::conformance::run_filter::check);
    };
    (@each $store:expr; $($name:ident => $check:path),*) => {
        $(
            #[tokio::test]
            async fn $name() {
                #[allow(clippy::let_unit_value)]
                let (_guard, s) = $store;
                $check(&s).await;
            }
        )*
    };
}
pub(crate) use one_test_per_property;

mod in_memory {
    one_test_per_property!(((), crate::store::MemoryStore::new()));
}
