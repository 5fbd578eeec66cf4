//! Retention: finished runs that ended before the cut-off go with everything of theirs;
//! running, queued and newer runs, pinned runs, and other DAGs' runs when one DAG is named,
//! stay.

use super::{now, run, ti};
use crate::state::RunState;
use crate::store::{Batch, Change, CleanReport, RunFilter, RunKey, Store, pin_run};

/// Where `c_ok`'s XCom value was kept, as its stored reference says.
const SPILLED: &str = "xcom/old/c_ok/a/try-1/return_value.json";

pub(super) async fn check(s: &dyn Store) {
    let t = now();
    let old = t - chrono::Duration::days(10);
    let make = |dag: &'static str, id: &'static str, state: RunState, ended| async move {
        let mut r = run(id);
        r.dag_id = dag.into();
        s.create_run(&r, &[ti("a")], &[]).await.unwrap();
        let changes = vec![
            Change::Claim {
                task_id: "a".into(),
                try_number: 1,
                worker_id: "w".into(),
                max_active_tasks: 16,
                max_active_tis_per_dag: None,
                lease_until: t,
                at: t,
                queued: false,
            },
            Change::Log {
                task_id: "a".into(),
                try_number: 1,
                seq: 0,
                text: "out\n".into(),
            },
            Change::Xcom {
                task_id: "a".into(),
                key: "return_value".into(),
                value: if id == "c_ok" {
                    serde_json::json!({"__dagctl_xcom_ref__": SPILLED, "bytes": 300_000})
                } else {
                    serde_json::json!(1)
                },
            },
            Change::SetRun {
                state,
                start_date: Some(t),
                end_date: ended,
            },
        ];
        s.commit(&Batch {
            dag_id: dag.into(),
            run_id: id.into(),
            changes,
        })
        .await
        .unwrap();
    };
    make("old", "c_ok", RunState::Success, Some(old)).await;
    make("old", "c_failed", RunState::Failed, Some(old)).await;
    make("old", "c_new", RunState::Success, Some(t)).await;
    make("old", "c_running", RunState::Running, None).await;
    make("other", "c_other", RunState::Success, Some(old)).await;
    // A run that registered a model version is pinned (twice: pinning again changes nothing).
    make("old", "c_pinned", RunState::Success, Some(old)).await;
    for by in ["model m v1", "model n v1"] {
        s.write_records(&[pin_run("old", "c_pinned", by)])
            .await
            .unwrap();
    }
    let cut = t - chrono::Duration::days(1);
    let ids = || async {
        let mut v: Vec<String> = s
            .list_runs(&RunFilter::default())
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.run_id.starts_with("c_"))
            .map(|r| r.run_id)
            .collect();
        v.sort();
        v
    };
    let per_run = |runs| CleanReport {
        runs,
        task_instances: runs,
        tries: runs,
        log_chunks: runs,
        xcoms: runs,
        spilled: Vec::new(),
        pinned: 1,
    };
    let with_spilled = |runs| CleanReport {
        spilled: vec![SPILLED.to_string()],
        ..per_run(runs)
    };
    assert_eq!(s.clean(cut, None, true).await.unwrap(), with_spilled(3));
    assert_eq!(ids().await.len(), 6, "a dry run removes nothing");
    assert_eq!(
        s.clean(cut, Some("old"), false).await.unwrap(),
        with_spilled(2)
    );
    assert_eq!(ids().await, ["c_new", "c_other", "c_pinned", "c_running"]);
    let pinned = RunKey::new("old", "c_pinned");
    assert_eq!(
        s.tries(&pinned, None).await.unwrap().len(),
        1,
        "a pinned run keeps its tries"
    );
    assert_eq!(s.log(&pinned, "a", 1).await.unwrap(), "out\n");
    let gone = RunKey::new("old", "c_ok");
    assert!(s.task_instances(&gone).await.unwrap().is_empty());
    assert!(s.tries(&gone, None).await.unwrap().is_empty());
    assert_eq!(s.log(&gone, "a", 1).await.unwrap(), "");
    assert!(s.xcoms(&gone).await.unwrap().is_empty());
    let kept = RunKey::new("old", "c_new");
    assert_eq!(s.tries(&kept, None).await.unwrap().len(), 1);
    assert_eq!(s.clean(cut, None, false).await.unwrap(), per_run(1));
    assert_eq!(ids().await, ["c_new", "c_pinned", "c_running"]);
}
