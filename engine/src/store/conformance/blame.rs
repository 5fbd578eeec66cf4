//! Orphans blamed on their task: a blamed orphan reads back as blamed, only the try named
//! is, and a clear of the task forgives its earlier ones (a fresh orphan limit with the fresh
//! retries), leaving other tasks' alone.

use super::{now, run, ti};
use crate::state::{RunState, TaskState};
use crate::store::{Batch, Change, RunKey, Store};

pub(crate) async fn check(s: &dyn Store) {
    let t = now();
    let mut r = run("o1");
    r.dag_id = "blame".into();
    s.create_run(&r, &[ti("a"), ti("b")], &[]).await.unwrap();
    let key = RunKey::new("blame", "o1");
    let batch = |changes| Batch {
        dag_id: "blame".into(),
        run_id: "o1".into(),
        changes,
    };
    let orphan = |task: &str, try_number: u32, blamed: bool| {
        let mut c = vec![
            Change::Claim {
                task_id: task.into(),
                try_number,
                worker_id: "gone".into(),
                max_active_tasks: 16,
                max_active_tis_per_dag: None,
                pool: None,
                waited: None,
                lease_until: t,
                at: t,
                queued: false,
            },
            Change::EndTry {
                task_id: task.into(),
                try_number,
                state: TaskState::Orphaned,
                at: t,
                duration: std::time::Duration::ZERO,
                error: Some("orphaned".into()),
            },
            Change::SetTask {
                task_id: task.into(),
                state: TaskState::Scheduled,
                next_attempt_at: None,
                end_date: None,
            },
        ];
        if blamed {
            c.push(Change::Blame {
                task_id: task.into(),
                try_number,
            });
        }
        c
    };
    s.commit(&batch(vec![Change::SetRun {
        state: RunState::Running,
        start_date: Some(t),
        end_date: None,
    }]))
    .await
    .unwrap();
    s.commit(&batch(orphan("a", 1, true))).await.unwrap();
    s.commit(&batch(orphan("a", 2, false))).await.unwrap();
    s.commit(&batch(orphan("b", 1, true))).await.unwrap();
    let blamed = |tries: &[crate::store::TryRecord]| -> Vec<(String, u32)> {
        tries
            .iter()
            .filter(|x| x.blamed)
            .map(|x| (x.task_id.clone(), x.try_number))
            .collect()
    };
    let tries = s.tries(&key, None).await.unwrap();
    assert_eq!(tries.len(), 3);
    assert_eq!(
        blamed(&tries),
        [("a".to_string(), 1), ("b".to_string(), 1)],
        "only the tries named are blamed"
    );
    s.commit(&batch(vec![Change::ResetTask {
        task_id: "a".into(),
        max_tries: 5,
    }]))
    .await
    .unwrap();
    let tries = s.tries(&key, None).await.unwrap();
    assert_eq!(
        blamed(&tries),
        [("b".to_string(), 1)],
        "a clear forgives its task's orphans, not another task's"
    );
}
