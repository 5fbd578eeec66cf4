//! One driver per run: acquiring, the run limit, the owner guard, release and takeover.

use super::{now, run, ti};
use crate::state::{RunState, TaskState};
use crate::store::{Batch, Change, Store, StoreError};

/// One driver per run: acquiring, the run limit, the owner guard, release and takeover;
/// DAG flags.
pub(crate) async fn check(s: &dyn Store) {
    use crate::store::{RunClaim, RunKey};
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
    let q1 = s.run(&RunKey::new("limited", "q1")).await.unwrap().unwrap();
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
        s.run(&RunKey::new("limited", "q2"))
            .await
            .unwrap()
            .unwrap()
            .state,
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
        s.task_instances(&RunKey::new("limited", "q1"))
            .await
            .unwrap()[0]
            .state,
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
        .run(&RunKey::new("limited", "q1"))
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
    let q1 = s.run(&RunKey::new("limited", "q1")).await.unwrap().unwrap();
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
    let q2 = s.run(&RunKey::new("limited", "q2")).await.unwrap().unwrap();
    assert_eq!(
        (q2.state, q2.owner, q2.start_date),
        (RunState::Queued, None, None)
    );

    let reg = |id: &str, paused| crate::store::DagRegistration {
        dag_id: id.into(),
        paused_upon_creation: paused,
    };
    let flags = s
        .register_dags(&[reg("limited", false), reg("other", false)], t)
        .await
        .unwrap();
    assert_eq!(flags.len(), 2);
    assert!(flags.iter().all(|f| !f.paused && f.first_seen == t));
    // `is_paused_upon_creation`: a new DAG starts paused; an existing one keeps its flag.
    let flags = s
        .register_dags(&[reg("other", true), reg("born_paused", true)], t)
        .await
        .unwrap();
    let paused = |id: &str| flags.iter().find(|f| f.dag_id == id).unwrap().paused;
    assert!(paused("born_paused"));
    assert!(!paused("other"));
    s.set_paused("limited", true, t + chrono::Duration::seconds(5))
        .await
        .unwrap();
    let flags = s
        .register_dags(&[reg("limited", false)], t + chrono::Duration::seconds(9))
        .await
        .unwrap();
    let limited = flags.iter().find(|f| f.dag_id == "limited").unwrap();
    assert!(limited.paused);
    assert_eq!(limited.first_seen, t, "first seen is kept");
}
