//! One behaviour suite that every [`Store`] implementation must pass.

use std::time::Duration;

use chrono::{DateTime, DurationRound, Utc};

use super::{Batch, Change, DagRun, RunFilter, Store, StoreError, TaskInstance};
use crate::run::NewRun;
use crate::state::{RunState, RunType, TaskState};
use crate::timetable::DataInterval;

/// Now, to the microsecond: the precision stores must keep.
fn now() -> DateTime<Utc> {
    Utc::now()
        .duration_trunc(chrono::Duration::microseconds(1))
        .unwrap()
}

fn run(id: &str) -> DagRun {
    let t = now();
    let mut new = NewRun::new("d", RunType::Manual, DataInterval { start: t, end: t });
    new.run_id = Some(id.into());
    new.conf = serde_json::json!({"a": 1});
    new.build(t)
}

fn ti(id: &str) -> TaskInstance {
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
    }
}

/// Runs the suite against `s` (which must be empty).
pub async fn check(s: &dyn Store) {
    s.create_run(&run("r1"), &[ti("a"), ti("b")], &[])
        .await
        .unwrap();
    assert!(matches!(
        s.create_run(&run("r1"), &[], &[]).await,
        Err(StoreError::AlreadyExists { .. })
    ));
    let now = now();
    let claim = |task: &str| Change::Claim {
        task_id: task.into(),
        try_number: 1,
        worker_id: "w1".into(),
        lease_until: now + chrono::Duration::seconds(30),
        at: now,
    };
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
        s.tries("d", "r1", Some("a")).await.unwrap()[0].lease_until,
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
    let tis = s.task_instances("d", "r1").await.unwrap();
    let a = tis.iter().find(|t| t.task_id == "a").unwrap();
    assert_eq!(
        (a.state, a.try_number, a.end_date.is_some()),
        (TaskState::Success, 1, true)
    );
    let tries = s.tries("d", "r1", Some("a")).await.unwrap();
    assert_eq!(tries.len(), 1);
    assert_eq!(tries[0].state, TaskState::Success);
    assert_eq!(tries[0].duration, Some(Duration::from_millis(5)));
    assert_eq!(tries[0].lease_until, None);
    assert_eq!(tries[0].worker_id, "w1");
    assert_eq!(
        s.xcom("d", "r1", "a", "return_value").await.unwrap(),
        Some(serde_json::json!({"rows": 3}))
    );
    assert_eq!(s.xcoms("d", "r1").await.unwrap().len(), 1);
    assert_eq!(
        s.log("d", "r1", "a", 1).await.unwrap(),
        "hello\nworld\n",
        "chunks in order"
    );
    assert_eq!(s.variable("k").await.unwrap().as_deref(), Some("v"));
    let r = s.run("d", "r1").await.unwrap().unwrap();
    assert_eq!((r.state, r.end_date.is_some()), (RunState::Success, true));
    assert_eq!(r.conf, serde_json::json!({"a": 1}));
    assert_eq!(s.find_runs("r1").await.unwrap().len(), 1);
    assert!(s.run("d", "nope").await.unwrap().is_none());

    // Clearing and granting tries (backfill --reset, sensors' deferrals).
    s.commit(&batch(vec![Change::ResetTask {
        task_id: "a".into(),
        max_tries: 5,
    }]))
    .await
    .unwrap();
    let a = s.task_instances("d", "r1").await.unwrap();
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
    let a = s.task_instances("d", "r1").await.unwrap();
    assert_eq!(a.iter().find(|t| t.task_id == "a").unwrap().max_tries, 6);
    s.create_run(&run("r2"), &[ti("a")], &[]).await.unwrap();
    s.add_task_instances("d", "r2", &[ti("a"), ti("z")])
        .await
        .unwrap();
    let ids: Vec<String> = s
        .task_instances("d", "r2")
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
    })
    .await;
    assert_eq!(
        two_states,
        all.iter().map(|r| r.run_id.clone()).collect::<Vec<_>>()
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
            lease_until: now,
            at: now,
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
    let t = &s.tries("d", "r3", Some("q")).await.unwrap()[0];
    assert_eq!(
        (t.error.as_deref(), t.worker_id.as_str()),
        (Some(nasty), nasty)
    );
    assert_eq!(s.log("d", "r3", "q", 1).await.unwrap(), nasty);
    assert_eq!(
        s.xcom("d", "r3", "q", nasty).await.unwrap(),
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
    consumption(s, t0).await;

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

    records(s).await;
    lifecycle(s).await;
}

/// Dataset events are consumed at most once per DAG, with the run they start.
async fn consumption(s: &dyn Store, t0: DateTime<Utc>) {
    let events = s.unconsumed_events("train", "raw", t0).await.unwrap();
    assert_eq!(events.len(), 3, "all events since t0, oldest first");
    assert_eq!(
        (events[0].seq, events[1].seq),
        (0, 1),
        "same instant, told apart by seq"
    );
    let mut first = run("dt1");
    first.dag_id = "train".into();
    first.triggered_by = Some(super::RunKey::new("d", "r1"));
    s.create_run(&first, &[ti("fit")], &events[..1])
        .await
        .unwrap();
    let stored = s.run("train", "dt1").await.unwrap().unwrap();
    assert_eq!(stored.triggered_by, first.triggered_by);
    assert_eq!(
        s.unconsumed_events("train", "raw", t0).await.unwrap().len(),
        2
    );
    // Another DAG consumes the same events on its own.
    assert_eq!(
        s.unconsumed_events("other", "raw", t0).await.unwrap().len(),
        3
    );
    // A second run for a consumed event is refused whole: no run, nothing consumed.
    let mut again = run("dt2");
    again.dag_id = "train".into();
    assert!(matches!(
        s.create_run(&again, &[ti("fit")], &events[..2]).await,
        Err(StoreError::AlreadyExists { .. })
    ));
    assert!(s.run("train", "dt2").await.unwrap().is_none());
    assert_eq!(
        s.unconsumed_events("train", "raw", t0).await.unwrap().len(),
        2
    );
    assert!(
        s.unconsumed_events("train", "raw", t0 + chrono::Duration::seconds(2))
            .await
            .unwrap()
            .is_empty(),
        "nothing before `since`"
    );
}

/// One driver per run: acquiring, the run limit, the owner guard, release and takeover;
/// DAG flags.
async fn lifecycle(s: &dyn Store) {
    use super::{RunClaim, RunKey};
    let t = now();
    for id in ["q1", "q2"] {
        let mut r = run(id);
        r.dag_id = "limited".into();
        s.create_run(&r, &[ti("a")], &[]).await.unwrap();
    }
    let claim = |run_id: &str, worker: &str, take_from: Option<&str>| RunClaim {
        key: RunKey::new("limited", run_id),
        worker_id: worker.into(),
        until: t + chrono::Duration::seconds(30),
        now: t,
        max_active_runs: 1,
        take_from: take_from.map(str::to_string),
    };
    assert!(s.acquire_run(&claim("q1", "w1", None)).await.unwrap());
    let q1 = s.run("limited", "q1").await.unwrap().unwrap();
    assert_eq!(q1.state, RunState::Running);
    assert_eq!(q1.start_date, Some(t));
    assert_eq!(q1.owner.as_ref().map(|o| o.worker_id.as_str()), Some("w1"));
    assert!(
        !s.acquire_run(&claim("q1", "w2", None)).await.unwrap(),
        "owned by a live worker"
    );
    assert!(
        !s.acquire_run(&claim("q2", "w2", None)).await.unwrap(),
        "max_active_runs: 1 is taken"
    );
    assert_eq!(
        s.run("limited", "q2").await.unwrap().unwrap().state,
        RunState::Queued
    );
    let owned = |worker: &str, changes: Vec<Change>| Batch {
        dag_id: "limited".into(),
        run_id: "q1".into(),
        changes: [
            vec![Change::Owned {
                worker_id: worker.into(),
            }],
            changes,
        ]
        .concat(),
    };
    let set = |state| Change::SetTask {
        task_id: "a".into(),
        state,
        next_attempt_at: None,
        end_date: None,
    };
    s.commit(&owned("w1", vec![set(TaskState::Scheduled)]))
        .await
        .unwrap();
    // A dead owner is taken over only by naming it; then its writes are refused whole.
    assert!(
        !s.acquire_run(&claim("q1", "w2", Some("someone else")))
            .await
            .unwrap()
    );
    assert!(s.acquire_run(&claim("q1", "w2", Some("w1"))).await.unwrap());
    assert!(matches!(
        s.commit(&owned("w1", vec![set(TaskState::Failed)])).await,
        Err(StoreError::NotOwner { .. })
    ));
    assert_eq!(
        s.task_instances("limited", "q1").await.unwrap()[0].state,
        TaskState::Scheduled,
        "nothing of the refused batch"
    );
    s.commit(&owned(
        "w2",
        vec![Change::Renew {
            worker_id: "w2".into(),
            until: t + chrono::Duration::seconds(90),
        }],
    ))
    .await
    .unwrap();
    let until = s
        .run("limited", "q1")
        .await
        .unwrap()
        .unwrap()
        .owner
        .unwrap()
        .until;
    assert_eq!(until, t + chrono::Duration::seconds(90));
    // The run ends and lets go: the next one may start.
    s.commit(&owned(
        "w2",
        vec![
            Change::SetRun {
                state: RunState::Success,
                start_date: None,
                end_date: Some(t),
            },
            Change::Release {
                worker_id: Some("w2".into()),
            },
        ],
    ))
    .await
    .unwrap();
    let q1 = s.run("limited", "q1").await.unwrap().unwrap();
    assert_eq!((q1.state, q1.owner), (RunState::Success, None));
    assert!(
        !s.acquire_run(&claim("q1", "w3", None)).await.unwrap(),
        "finished"
    );
    assert!(s.acquire_run(&claim("q2", "w3", None)).await.unwrap());
    // Taken from its driver by a cancel: the owner is cleared and a queued run has no start.
    s.commit(&Batch {
        dag_id: "limited".into(),
        run_id: "q2".into(),
        changes: vec![
            Change::Release { worker_id: None },
            Change::SetRun {
                state: RunState::Queued,
                start_date: None,
                end_date: None,
            },
        ],
    })
    .await
    .unwrap();
    let q2 = s.run("limited", "q2").await.unwrap().unwrap();
    assert_eq!(
        (q2.state, q2.owner, q2.start_date),
        (RunState::Queued, None, None)
    );

    let flags = s
        .register_dags(&["limited".into(), "other".into()], t)
        .await
        .unwrap();
    assert_eq!(flags.len(), 2);
    assert!(flags.iter().all(|f| !f.paused && f.first_seen == t));
    s.set_paused("limited", true, t + chrono::Duration::seconds(5))
        .await
        .unwrap();
    let flags = s
        .register_dags(&["limited".into()], t + chrono::Duration::seconds(9))
        .await
        .unwrap();
    let limited = flags.iter().find(|f| f.dag_id == "limited").unwrap();
    assert!(limited.paused);
    assert_eq!(limited.first_seen, t, "first seen is kept");
}

async fn records(s: &dyn Store) {
    use super::{Expect, RecordWrite};
    let w = |key: &str, v: serde_json::Value, expect| RecordWrite {
        collection: "models".into(),
        key: key.into(),
        value: v,
        expect,
    };
    s.write_records(&[w("churn", serde_json::json!({"latest": 1}), Expect::Absent)])
        .await
        .unwrap();
    let r = s.record("models", "churn").await.unwrap().unwrap();
    assert_eq!((r.version, r.value["latest"].as_i64()), (1, Some(1)));
    // Creating it again conflicts; updating from a stale version conflicts and writes nothing,
    // not even the batch's other, valid write.
    let again = s
        .write_records(&[w("churn", serde_json::json!({}), Expect::Absent)])
        .await;
    assert!(
        matches!(again, Err(StoreError::Conflict { .. })),
        "{again:?}"
    );
    let stale = s
        .write_records(&[
            w("a_new_one", serde_json::json!(1), Expect::Absent),
            w(
                "churn",
                serde_json::json!({"latest": 9}),
                Expect::Version(7),
            ),
        ])
        .await;
    assert!(
        matches!(stale, Err(StoreError::Conflict { .. })),
        "{stale:?}"
    );
    assert!(s.record("models", "a_new_one").await.unwrap().is_none());
    s.write_records(&[w(
        "churn",
        serde_json::json!({"latest": 2}),
        Expect::Version(1),
    )])
    .await
    .unwrap();
    let r = s.record("models", "churn").await.unwrap().unwrap();
    assert_eq!((r.version, r.value["latest"].as_i64()), (2, Some(2)));
    // Prefix listing treats `%` and `_` literally and stays within its collection.
    for key in [
        "churn/0001",
        "churn/0002",
        "churn%/x",
        "churnx_1",
        "other/1",
    ] {
        s.write_records(&[w(key, serde_json::json!(key), Expect::Absent)])
            .await
            .unwrap();
    }
    let keys = |rs: Vec<super::Record>| rs.into_iter().map(|r| r.key).collect::<Vec<_>>();
    assert_eq!(
        keys(s.records("models", "churn/").await.unwrap()),
        ["churn/0001", "churn/0002"]
    );
    assert_eq!(
        keys(s.records("models", "churn%").await.unwrap()),
        ["churn%/x"]
    );
    assert!(s.records("experiments", "").await.unwrap().is_empty());
    let quoted = "it's \"odd\" '); DROP TABLE records; --";
    s.write_records(&[w(quoted, serde_json::json!({"q": quoted}), Expect::Absent)])
        .await
        .unwrap();
    assert_eq!(
        s.record("models", quoted).await.unwrap().unwrap().value["q"],
        quoted
    );
}

#[tokio::test]
async fn conformance_in_memory() {
    check(&super::MemoryStore::new()).await;
}
