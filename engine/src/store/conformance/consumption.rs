//! Dataset events are consumed at most once per DAG.

use chrono::{DateTime, Utc};

use super::{run, ti};
use crate::store::{RunKey, Store, StoreError};

/// Dataset events are consumed at most once per DAG, with the run they start.
pub(super) async fn check(s: &dyn Store, t0: DateTime<Utc>) {
    let events = s.unconsumed_events("train", "raw", t0).await.unwrap();
    assert_eq!(events.len(), 3, "all events since t0, oldest first");
    assert_eq!(
        (events[0].seq, events[1].seq),
        (0, 1),
        "same instant, told apart by seq"
    );
    let mut first = run("dt1");
    first.dag_id = "train".into();
    first.triggered_by = Some(RunKey::new("d", "r1"));
    s.create_run(&first, &[ti("fit")], &events[..1])
        .await
        .unwrap();
    let stored = s.run(&RunKey::new("train", "dt1")).await.unwrap().unwrap();
    assert_eq!(stored.triggered_by, first.triggered_by);
    assert_eq!(
        s.unconsumed_events("train", "raw", t0).await.unwrap().len(),
        2
    );
    // Another DAG consumes the same events on its own.
    assert_eq!(
        s.unconsumed_events("other", "raw", t0).await.unwrap().len(),
        3
    );
    // A second run for a consumed event is refused whole: no run, nothing consumed.
    let mut again = run("dt2");
    again.dag_id = "train".into();
    assert!(matches!(
        s.create_run(&again, &[ti("fit")], &events[..2]).await,
        Err(StoreError::AlreadyExists { .. })
    ));
    assert!(s.run(&RunKey::new("train", "dt2")).await.unwrap().is_none());
    assert_eq!(
        s.unconsumed_events("train", "raw", t0).await.unwrap().len(),
        2
    );
    assert!(
        s.unconsumed_events("train", "raw", t0 + chrono::Duration::seconds(2))
            .await
            .unwrap()
            .is_empty(),
        "nothing before `since`"
    );
}
