//! Retention: finished runs that ended before the cut-off go with everything of theirs;
//! running, queued and newer runs, pinned runs, and other DAGs' runs when one DAG is named,
//! stay.

use super::{now, run, ti};
use crate::state::RunState;
use crate::store::{Batch, Change, CleanReport, RunFilter, RunKey, Store, pin_run};

/// Where `c_ok`'s XCom value was kept, as its stored reference says.
const SPILLED: &str = "xcom/old/c_ok/a/try-1/return_value.json";

pub(crate) async fn check(s: &dyn Store) {
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
                pool: None,
                waited: None,
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

/// Old dataset events go once no consumer waits for them, with their consumptions; an event
/// a consumer has not consumed stays, and so does every consumption of an event still there.
pub(crate) async fn events(s: &dyn Store) {
    use crate::store::{DatasetEvent, EventConsumer, EventsCleaned};
    let t = now();
    let old = t - chrono::Duration::days(10);
    for at in [old, old + chrono::Duration::seconds(1), t] {
        s.commit(&Batch {
            dag_id: "producer".into(),
            run_id: "p1".into(),
            changes: vec![Change::DatasetEvent {
                dataset: "ds_clean".into(),
                task_id: "out".into(),
                at,
            }],
        })
        .await
        .unwrap();
    }
    let all: Vec<DatasetEvent> = s.dataset_events("ds_clean", None).await.unwrap();
    assert_eq!(all.len(), 3);
    let consumer = |dag: &str, since| EventConsumer {
        dataset: "ds_clean".into(),
        dag_id: dag.into(),
        since,
    };
    let early = old - chrono::Duration::days(1);
    // `c1` consumed the first; `c2` came after the first and consumed nothing.
    let consumers = [
        consumer("c1", early),
        consumer("c2", old + chrono::Duration::milliseconds(500)),
    ];
    let mut r = run("ce1");
    r.dag_id = "c1".into();
    s.create_run(&r, &[ti("a")], &all[..1]).await.unwrap();
    let cut = t - chrono::Duration::days(1);
    let one = EventsCleaned {
        events: 1,
        consumptions: 1,
    };
    assert_eq!(s.clean_events(cut, &consumers, true).await.unwrap(), one);
    assert_eq!(s.dataset_events("ds_clean", None).await.unwrap().len(), 3);
    assert_eq!(s.clean_events(cut, &consumers, false).await.unwrap(), one);
    let left = s.dataset_events("ds_clean", None).await.unwrap();
    assert_eq!(
        left,
        all[1..].to_vec(),
        "the event c1 still waits for stays"
    );
    // Neither consumer sees the removed event as new: it starts nothing again.
    for c in ["c1", "c2"] {
        assert_eq!(
            s.unconsumed_events(c, "ds_clean", early).await.unwrap(),
            all[1..].to_vec(),
            "{c}"
        );
    }
    // c1 consumes the second: c2 still waits for it, so it stays with its consumption.
    let mut r = run("ce2");
    r.dag_id = "c1".into();
    s.create_run(&r, &[ti("a")], &all[1..2]).await.unwrap();
    assert_eq!(
        s.clean_events(cut, &consumers, false).await.unwrap(),
        EventsCleaned::default()
    );
    assert!(
        s.unconsumed_events("c1", "ds_clean", early)
            .await
            .unwrap()
            .len()
            == 1
    );
    // Without c2 (its DAG removed), nobody waits: it goes.
    assert_eq!(
        s.clean_events(cut, &consumers[..1], false).await.unwrap(),
        one
    );
    assert_eq!(
        s.dataset_events("ds_clean", None).await.unwrap(),
        all[2..].to_vec()
    );
}
