//! Mapped instances (`task[i]`): written with their arguments and names, written again (a
//! cleared run expanding anew) with their tries kept, and a mapped task `running` while its
//! instances run holds no `max_active_tasks` place (it has no try of its own).

use super::{now, run, ti};
use crate::state::TaskState;
use crate::store::{Batch, Change, RunKey, Store};

pub(crate) async fn check(s: &dyn Store) {
    let t = now();
    let mut r = run("mapped");
    r.dag_id = "maps".into();
    s.create_run(&r, &[ti("m"), ti("x")], &[]).await.unwrap();
    let key = RunKey::new("maps", "mapped");
    let batch = |changes| Batch {
        dag_id: "maps".into(),
        run_id: "mapped".into(),
        changes,
    };
    let instance = |i: usize, item: &str| Change::MapInstance {
        task_id: format!("m[{i}]"),
        mapped_args: serde_json::json!({"bash_command": item}),
        max_tries: 3,
        pool: "default_pool".into(),
        pool_slots: 1,
        rendered_map_index: Some(format!("item {item}")),
    };
    let set = |task: &str, state| Change::SetTask {
        task_id: task.into(),
        state,
        next_attempt_at: None,
        end_date: None,
    };
    s.commit(&batch(vec![
        set("m", TaskState::Running),
        instance(0, "a"),
        instance(1, "b"),
    ]))
    .await
    .unwrap();
    // A claim of try 1 within `max_active_tasks`, handed off when `queued`.
    let claim = |task: &str, max_active_tasks, cap, queued| Change::Claim {
        task_id: task.into(),
        try_number: 1,
        worker_id: "w1".into(),
        max_active_tasks,
        max_active_tis_per_dag: cap,
        pool: None,
        waited: None,
        lease_until: t + chrono::Duration::seconds(30),
        at: t,
        queued,
    };
    assert_eq!(
        s.commit(&batch(vec![claim("m[1]", 1, None, false)]))
            .await
            .unwrap(),
        [true],
        "the mapped task itself, running without a try, takes no place"
    );
    assert_eq!(
        s.commit(&batch(vec![claim("x", 1, None, false)]))
            .await
            .unwrap(),
        [false],
        "its running instance does"
    );
    let tis = s.task_instances(&key).await.unwrap();
    let get = |id: &str| tis.iter().find(|t| t.task_id == id).unwrap().clone();
    let m0 = get("m[0]");
    assert_eq!(
        (m0.state, m0.try_number, m0.max_tries),
        (TaskState::None, 0, 3)
    );
    assert_eq!(
        m0.mapped_args,
        Some(serde_json::json!({"bash_command": "a"}))
    );
    assert_eq!(m0.rendered_map_index.as_deref(), Some("item a"));
    assert_eq!(get("x").mapped_args, None);
    // Expanded anew: the arguments and name change, the tries stay.
    s.commit(&batch(vec![instance(1, "c")])).await.unwrap();
    let m1 = s
        .task_instances(&key)
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.task_id == "m[1]")
        .unwrap();
    assert_eq!((m1.state, m1.try_number), (TaskState::Running, 1));
    assert_eq!(
        m1.mapped_args,
        Some(serde_json::json!({"bash_command": "c"}))
    );
    assert_eq!(m1.rendered_map_index.as_deref(), Some("item c"));
    // A worker taking a handed instance gets its arguments with it (no read of the run's
    // every instance per try).
    let handed = claim("m[0]", 10, None, true);
    let running = Change::SetRun {
        state: crate::state::RunState::Running,
        start_date: Some(t),
        end_date: None,
    };
    assert_eq!(
        s.commit(&batch(vec![running, handed])).await.unwrap(),
        [true]
    );
    let got = s
        .take_queued(&crate::store::TakeQueued {
            worker_id: "w2".into(),
            dag_ids: vec!["maps".into()],
            pools: None,
            limit: 10,
            lease_until: t + chrono::Duration::seconds(30),
            at: t,
        })
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].task_id, "m[0]");
    assert_eq!(
        got[0].mapped_args,
        Some(serde_json::json!({"bash_command": "a"}))
    );
    // `max_active_tis_per_dag` counts a mapped task's instances together.
    s.commit(&batch(vec![instance(2, "d"), instance(3, "e")]))
        .await
        .unwrap();
    let capped = |task: &str| claim(task, 10, Some(3), false);
    assert_eq!(
        s.commit(&batch(vec![capped("m[2]"), capped("m[3]")]))
            .await
            .unwrap(),
        [true, false],
        "with m[0] and m[1] running, a cap of 3 takes one more instance of `m`"
    );
}
