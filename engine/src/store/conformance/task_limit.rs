//! `max_active_tasks` holds across the runs of a DAG (and so across processes): a claim
//! counts the DAG's running instances in its own transaction; `max_active_tis_per_dag` the
//! running instances of its task.

use std::time::Duration;

use super::{now, plain_claim, run, ti};
use crate::state::TaskState;
use crate::store::{Batch, Change, RunKey, Store};

pub(crate) async fn check(s: &dyn Store) {
    let t = now();
    for id in ["m1", "m2"] {
        let mut r = run(id);
        r.dag_id = "capped".into();
        s.create_run(&r, &[ti("a"), ti("b")], &[]).await.unwrap();
    }
    let batch = |run_id: &str, changes| Batch {
        dag_id: "capped".into(),
        run_id: run_id.into(),
        changes,
    };
    let claim = |task: &str, cap| plain_claim(task, cap, t);
    // Two of two slots taken by one run: the other run's claim loses and writes no try.
    let won = s
        .commit(&batch("m1", vec![claim("a", 2), claim("b", 2)]))
        .await
        .unwrap();
    assert_eq!(won, [true, true]);
    assert_eq!(
        s.commit(&batch("m2", vec![claim("a", 2)])).await.unwrap(),
        [false],
        "max_active_tasks: 2 spans the DAG's runs"
    );
    assert!(
        s.tries(&RunKey::new("capped", "m2"), None)
            .await
            .unwrap()
            .is_empty()
    );
    let m2a = &s
        .task_instances(&RunKey::new("capped", "m2"))
        .await
        .unwrap()[0];
    assert_eq!(
        (m2a.state, m2a.try_number),
        (TaskState::Scheduled, 0),
        "a claim lost to the limit leaves the instance claimable"
    );
    // Other DAGs are not counted; a higher limit has room.
    assert_eq!(
        s.commit(&batch("m2", vec![claim("a", 3)])).await.unwrap(),
        [true]
    );
    // A try that ends gives its slot back.
    s.commit(&batch(
        "m1",
        vec![Change::EndTry {
            task_id: "a".into(),
            try_number: 1,
            state: TaskState::Success,
            at: t,
            duration: Duration::from_millis(1),
            error: None,
        }],
    ))
    .await
    .unwrap();
    s.commit(&batch(
        "m1",
        vec![Change::SetTask {
            task_id: "a".into(),
            state: TaskState::Success,
            next_attempt_at: None,
            end_date: Some(t),
        }],
    ))
    .await
    .unwrap();
    assert_eq!(
        s.commit(&batch("m2", vec![claim("b", 3)])).await.unwrap(),
        [true]
    );
    // Per task: m1's `b` runs, so a third run's `b` with a cap of 1 loses; its `a` (whose
    // instances are all finished or in other tasks' counts) wins.
    let mut r = run("m3");
    r.dag_id = "capped".into();
    s.create_run(&r, &[ti("a"), ti("b")], &[]).await.unwrap();
    let capped = |task: &str, per_task| {
        let mut c = claim(task, 16);
        if let Change::Claim {
            max_active_tis_per_dag,
            ..
        } = &mut c
        {
            *max_active_tis_per_dag = Some(per_task);
        }
        c
    };
    assert_eq!(
        s.commit(&batch("m3", vec![capped("b", 2)])).await.unwrap(),
        [false],
        "two `b` run (m1, m2): a cap of 2 is full"
    );
    assert_eq!(
        s.commit(&batch("m3", vec![capped("a", 2), capped("b", 3)]))
            .await
            .unwrap(),
        [true, true],
        "one `a` runs (m2): room for a second; a cap of 3 has room for a third `b`"
    );
}
