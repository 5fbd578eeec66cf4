//! Tries handed to workers: a `queued` claim waits for a worker serving its pool and DAG,
//! two takes never get the same try, only the worker holding a try records its outcome.

use super::{now, run, ti};
use crate::state::{RunState, TaskState};
use crate::store::{Batch, Change, RunKey, Store, StoreError, TakeQueued};

pub(crate) async fn check(s: &dyn Store) {
    let t = now();
    let mut r = run("h1");
    r.dag_id = "handed".into();
    let mut gpu = ti("g");
    gpu.pool = "gpu".into();
    s.create_run(&r, &[ti("a"), gpu, ti("c")], &[])
        .await
        .unwrap();
    let key = RunKey::new("handed", "h1");
    let batch = |changes| Batch {
        dag_id: "handed".into(),
        run_id: "h1".into(),
        changes,
    };
    let claim = |task: &str, queued| Change::Claim {
        task_id: task.into(),
        try_number: 1,
        worker_id: "driver".into(),
        max_active_tasks: 16,
        max_active_tis_per_dag: None,
        pool: None,
        waited: None,
        lease_until: t + chrono::Duration::seconds(30),
        at: t,
        queued,
    };
    let take = |worker: &str, pools: Option<&[&str]>, dags: &[&str]| TakeQueued {
        worker_id: worker.into(),
        dag_ids: dags.iter().map(|d| d.to_string()).collect(),
        pools: pools.map(|p| p.iter().map(|x| x.to_string()).collect()),
        limit: 10,
        lease_until: t + chrono::Duration::seconds(30),
        at: t,
    };
    let won = s
        .commit(&batch(vec![
            Change::SetRun {
                state: RunState::Running,
                start_date: Some(t),
                end_date: None,
            },
            claim("a", true),
            claim("g", true),
            claim("c", false),
        ]))
        .await
        .unwrap();
    assert_eq!(won, [true, true, true]);
    let tries = s.tries(&key, None).await.unwrap();
    let a = tries.iter().find(|x| x.task_id == "a").unwrap();
    assert_eq!(
        (a.state, a.worker_id.as_str(), a.lease_until, a.handed),
        (TaskState::Queued, "", None, true),
        "a handed try waits without worker or lease"
    );
    let c = tries.iter().find(|x| x.task_id == "c").unwrap();
    assert_eq!((c.state, c.handed), (TaskState::Running, false));
    let tis = s.task_instances(&key).await.unwrap();
    assert!(tis.iter().all(|x| x.state == TaskState::Running));

    // Other DAGs, or other pools: nothing.
    assert!(
        s.take_queued(&take("w1", None, &["other"]))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        s.take_queued(&take("w1", Some(&["cpu"]), &["handed"]))
            .await
            .unwrap()
            .is_empty()
    );
    // The gpu worker gets the gpu try only; a second take gets nothing more of it.
    let got = s
        .take_queued(&take("w-gpu", Some(&["gpu"]), &["handed"]))
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].task_id.as_str(), got[0].try_number), ("g", 1));
    assert_eq!(got[0].run, key);
    assert!(
        s.take_queued(&take("w-gpu2", Some(&["gpu"]), &["handed"]))
            .await
            .unwrap()
            .is_empty()
    );
    let g = s.tries(&key, Some("g")).await.unwrap().remove(0);
    assert_eq!(
        (g.state, g.worker_id.as_str(), g.lease_until.is_some()),
        (TaskState::Running, "w-gpu", true)
    );
    // Any pool: the default-pool try; `c` runs at its driver and is never taken.
    let got = s.take_queued(&take("w1", None, &["handed"])).await.unwrap();
    assert_eq!(
        got.iter().map(|x| x.task_id.as_str()).collect::<Vec<_>>(),
        ["a"]
    );
    assert!(
        s.take_queued(&take("w2", None, &["handed"]))
            .await
            .unwrap()
            .is_empty()
    );

    // Only the worker holding a try writes for it.
    let outcome = serde_json::json!({"result": {"success": 7}});
    let record = |worker: &str| {
        batch(vec![
            Change::Held {
                task_id: "g".into(),
                try_number: 1,
                worker_id: worker.into(),
            },
            Change::Log {
                task_id: "g".into(),
                try_number: 1,
                seq: 0,
                text: "hello\n".into(),
            },
            Change::Outcome {
                task_id: "g".into(),
                try_number: 1,
                outcome: outcome.clone(),
                at: t,
            },
        ])
    };
    let err = s.commit(&record("w1")).await.unwrap_err();
    assert!(
        matches!(err, StoreError::TryLost { ref task_id, try_number: 1, .. } if task_id == "g"),
        "{err}"
    );
    assert_eq!(
        s.log(&key, "g", 1).await.unwrap(),
        "",
        "nothing of it was written"
    );
    s.commit(&record("w-gpu")).await.unwrap();
    let g = s.tries(&key, Some("g")).await.unwrap().remove(0);
    assert_eq!(g.outcome.as_ref(), Some(&outcome));
    assert_eq!(s.log(&key, "g", 1).await.unwrap(), "hello\n");
    // Recorded once: the same worker cannot record again.
    assert!(matches!(
        s.commit(&record("w-gpu")).await,
        Err(StoreError::TryLost { .. })
    ));

    // Given back: queued again, taken by another worker.
    s.commit(&batch(vec![
        Change::Held {
            task_id: "a".into(),
            try_number: 1,
            worker_id: "w1".into(),
        },
        Change::Requeue {
            task_id: "a".into(),
            try_number: 1,
        },
    ]))
    .await
    .unwrap();
    let got = s.take_queued(&take("w3", None, &["handed"])).await.unwrap();
    assert_eq!(got.len(), 1);
    // An ended try (its driver orphaned it) is never taken, and the old holder is fenced.
    s.commit(&batch(vec![Change::EndTry {
        task_id: "a".into(),
        try_number: 1,
        state: TaskState::Orphaned,
        at: t,
        duration: std::time::Duration::ZERO,
        error: None,
    }]))
    .await
    .unwrap();
    let late = batch(vec![Change::Held {
        task_id: "a".into(),
        try_number: 1,
        worker_id: "w3".into(),
    }]);
    assert!(matches!(
        s.commit(&late).await,
        Err(StoreError::TryLost { .. })
    ));

    // A queued try whose instance moved on (cleared meanwhile) is never taken, and ended.
    let mut again = claim("a", true);
    if let Change::Claim { try_number, .. } = &mut again {
        *try_number = 2;
    }
    let won = s
        .commit(&batch(vec![
            Change::SetTask {
                task_id: "a".into(),
                state: TaskState::Scheduled,
                next_attempt_at: None,
                end_date: None,
            },
            again,
        ]))
        .await
        .unwrap();
    assert_eq!(won, [true]);
    s.commit(&batch(vec![Change::ResetTask {
        task_id: "a".into(),
        max_tries: 3,
    }]))
    .await
    .unwrap();
    assert!(
        s.take_queued(&take("w4", None, &["handed"]))
            .await
            .unwrap()
            .is_empty()
    );
    let a2 = s.tries(&key, Some("a")).await.unwrap().remove(1);
    assert_eq!(a2.try_number, 2);
    assert_eq!(
        (a2.state, a2.error.as_deref(), a2.end_date),
        (TaskState::Failed, Some(crate::store::STALE_QUEUED), Some(t)),
        "nobody runs a cleared try: the take ends it, in every store"
    );
}
