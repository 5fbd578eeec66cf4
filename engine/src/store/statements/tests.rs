use super::*;
use crate::state::TaskState;

/// Whatever the order of a batch's changes, the counters of its ends are written before
/// its first claim (where PostgreSQL takes the DAG's lock), so that no transaction holds a
/// counter row while it waits for the lock another holds while waiting for that row.
#[test]
fn counters_come_before_the_first_claim_whatever_the_order() {
    let at = chrono::Utc::now();
    let claim = |task: &str| crate::store::conformance::plain_claim(task, 16, at);
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

/// Batches committed together: every batch's own changes first (each batch's guard among
/// them, tagged with its batch), then their counters merged into one statement per row, then
/// the claims in batch order.
#[test]
fn a_group_writes_changes_then_merged_counters_then_claims() {
    let at = chrono::Utc::now();
    let batch = |run: &str| Batch {
        dag_id: "d".into(),
        run_id: run.into(),
        changes: vec![
            Change::Owned {
                worker_id: "w".into(),
            },
            Change::EndTry {
                task_id: "a".into(),
                try_number: 1,
                state: TaskState::Success,
                at,
                duration: std::time::Duration::from_millis(5),
                error: None,
            },
            Change::SetTask {
                task_id: "a".into(),
                state: TaskState::Success,
                next_attempt_at: None,
                end_date: Some(at),
            },
            crate::store::conformance::plain_claim("b", 16, at),
        ],
    };
    let (one, two) = (batch("r1"), batch("r2"));
    let g = group(&[&one, &two]);
    assert_eq!(g.stmts.len(), g.of.len());
    let at_role = |role: Role| -> Vec<usize> {
        g.stmts
            .iter()
            .enumerate()
            .filter(|(_, s)| s.role == role)
            .map(|(i, _)| i)
            .collect()
    };
    let adds: Vec<usize> = g
        .stmts
        .iter()
        .enumerate()
        .filter(|(_, s)| s.sql == crate::store::metric_counts::ADD.as_str())
        .map(|(i, _)| i)
        .collect();
    let (guards, claims) = (at_role(Role::Guard), at_role(Role::ClaimUpdate));
    assert_eq!(guards.len(), 2);
    assert_eq!(claims.len(), 2);
    assert_eq!(
        adds.len(),
        2,
        "a task and a try counted, once for both batches"
    );
    assert!(guards.iter().all(|g| adds.iter().all(|a| g < a)));
    assert!(adds.iter().all(|a| claims.iter().all(|c| a < c)));
    for a in &adds {
        assert!(
            matches!(g.stmts[*a].params[5], Param::Int(2)),
            "both batches' counts in one statement"
        );
    }
    assert_eq!(
        (
            g.of[guards[0]],
            g.of[guards[1]],
            g.of[claims[0]],
            g.of[claims[1]]
        ),
        (0, 1, 0, 1),
        "each statement says its batch"
    );
}
