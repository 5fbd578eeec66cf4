use super::*;
use crate::state::TaskState;

/// Whatever the order of a batch's changes, the counters of its ends are written before
/// its first claim (where PostgreSQL takes the DAG's lock), so that no transaction holds a
/// counter row while it waits for the lock another holds while waiting for that row.
#[test]
fn counters_come_before_the_first_claim_whatever_the_order() {
    let at = chrono::Utc::now();
    let claim = |task: &str| Change::Claim {
        task_id: task.into(),
        try_number: 1,
        worker_id: "w".into(),
        max_active_tasks: 16,
        max_active_tis_per_dag: None,
        pool: None,
        waited: None,
        lease_until: at,
        at,
        queued: false,
    };
    let end = |task: &str| {
        [
            Change::EndTry {
                task_id: task.into(),
                try_number: 1,
                state: TaskState::Success,
                at,
                duration: std::time::Duration::from_millis(5),
                error: None,
            },
            Change::SetTask {
                task_id: task.into(),
                state: TaskState::Success,
                next_attempt_at: None,
                end_date: Some(at),
            },
        ]
    };
    let mut after = vec![claim("b")];
    after.extend(end("a"));
    let mut before: Vec<Change> = end("a").into();
    before.push(claim("b"));
    for changes in [after, before] {
        let batch = Batch {
            dag_id: "d".into(),
            run_id: "r".into(),
            changes,
        };
        let out = statements(&batch);
        let first_claim = out
            .iter()
            .position(|s| matches!(s.role, Role::ClaimUpdate))
            .unwrap();
        let adds: Vec<usize> = out
            .iter()
            .enumerate()
            .filter(|(_, s)| s.sql == crate::store::metric_counts::ADD.as_str())
            .map(|(i, _)| i)
            .collect();
        assert_eq!(adds.len(), 2, "a task and a try counted");
        assert!(
            adds.iter().all(|i| *i < first_claim),
            "{adds:?} vs {first_claim}"
        );
    }
}
