//! Pool slots hold across DAGs, runs and processes: a claim sums the slots its pool's running
//! instances hold, whichever DAG they belong to, in its own transaction.

use super::{now, run, ti};
use crate::state::TaskState;
use crate::store::{Batch, Change, Store};

pub(crate) async fn check(s: &dyn Store) {
    let t = now();
    // Two DAGs with tasks in pool `p` (3 slots); `big` takes 2 slots.
    for (dag, run_id) in [("one", "p1"), ("two", "p2")] {
        let mut r = run(run_id);
        r.dag_id = dag.into();
        let mut big = ti("big");
        big.pool = "p".into();
        big.pool_slots = 2;
        let mut small = ti("small");
        small.pool = "p".into();
        let other = ti("other");
        s.create_run(&r, &[big, small, other], &[]).await.unwrap();
    }
    let batch = |dag: &str, run_id: &str, changes| Batch {
        dag_id: dag.into(),
        run_id: run_id.into(),
        changes,
    };
    let claim = |task: &str, pool: &str, size| Change::Claim {
        task_id: task.into(),
        try_number: 1,
        worker_id: "w1".into(),
        max_active_tasks: 16,
        max_active_tis_per_dag: None,
        pool: Some((pool.into(), size)),
        waited: None,
        lease_until: t + chrono::Duration::seconds(30),
        at: t,
        queued: false,
    };
    assert_eq!(
        s.commit(&batch("one", "p1", vec![claim("big", "p", 3)]))
            .await
            .unwrap(),
        [true]
    );
    assert_eq!(
        s.commit(&batch("two", "p2", vec![claim("big", "p", 3)]))
            .await
            .unwrap(),
        [false],
        "2 of 3 slots held by another DAG: no room for 2 more"
    );
    assert_eq!(
        s.commit(&batch(
            "two",
            "p2",
            vec![claim("small", "p", 3), claim("other", "default_pool", 128)]
        ))
        .await
        .unwrap(),
        [true, true],
        "room for 1 slot; another pool is not counted"
    );
    assert_eq!(
        s.commit(&batch("one", "p1", vec![claim("small", "p", 3)]))
            .await
            .unwrap(),
        [false],
        "3 of 3 slots held"
    );
    // The try of `one`'s `big` ends: its 2 slots are free.
    s.commit(&batch(
        "one",
        "p1",
        vec![
            Change::EndTry {
                task_id: "big".into(),
                try_number: 1,
                state: TaskState::Success,
                at: t,
                duration: std::time::Duration::from_millis(1),
                error: None,
            },
            Change::SetTask {
                task_id: "big".into(),
                state: TaskState::Success,
                next_attempt_at: None,
                end_date: Some(t),
            },
        ],
    ))
    .await
    .unwrap();
    assert_eq!(
        s.commit(&batch("two", "p2", vec![claim("big", "p", 3)]))
            .await
            .unwrap(),
        [true],
        "2 slots freed by the end of a try of another DAG"
    );
}
