//! What the scheduler and backfills read of a DAG's runs: by run type, from a logical date
//! on, newest logical date first (created in another order than their logical dates).

use chrono::{Duration, Utc};

use crate::run::NewRun;
use crate::state::RunType;
use crate::store::{RunFilter, Store};
use crate::timetable::DataInterval;

pub(crate) async fn check(s: &dyn Store) {
    let day = |d: i64| {
        chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 1, 1, 0, 0, 0).unwrap() + Duration::days(d)
    };
    // (run id, type, logical day), created in this order.
    let made = [
        ("s3", RunType::Scheduled, 3),
        ("b1", RunType::Backfill, 1),
        ("m9", RunType::Manual, 9),
        ("s5", RunType::Scheduled, 5),
        ("d7", RunType::DatasetTriggered, 7),
    ];
    for (i, (id, kind, d)) in made.iter().enumerate() {
        let mut new = NewRun::new(
            "lf",
            *kind,
            DataInterval {
                start: day(*d),
                end: day(*d + 1),
            },
        );
        new.run_id = Some((*id).into());
        s.create_run(&new.build(day(20) + Duration::seconds(i as i64)), &[], &[])
            .await
            .unwrap();
    }
    let ids = |f: RunFilter| async move {
        s.list_runs(&RunFilter {
            dag_id: Some("lf".into()),
            ..f
        })
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.run_id)
        .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(RunFilter::default()).await,
        ["d7", "s5", "m9", "b1", "s3"],
        "newest created first by default"
    );
    assert_eq!(
        ids(RunFilter {
            by_logical_date: true,
            ..RunFilter::default()
        })
        .await,
        ["m9", "d7", "s5", "s3", "b1"]
    );
    // The order queued runs start in: oldest logical date first, a page at a time, in
    // one DAG or all (both served by partial indexes of queued runs).
    let oldest = RunFilter {
        oldest_first: true,
        states: vec![crate::state::RunState::Queued],
        limit: Some(3),
        ..RunFilter::default()
    };
    assert_eq!(ids(oldest.clone()).await, ["b1", "s3", "s5"]);
    let all: Vec<String> = s
        .list_runs(&oldest)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.dag_id == "lf")
        .map(|r| r.run_id)
        .collect();
    assert_eq!(all, ["b1", "s3", "s5"]);
    assert_eq!(
        ids(RunFilter {
            run_types: vec![RunType::Scheduled],
            by_logical_date: true,
            limit: Some(1),
            ..RunFilter::default()
        })
        .await,
        ["s5"],
        "the newest scheduled interval"
    );
    assert_eq!(
        ids(RunFilter {
            run_types: vec![
                RunType::Scheduled,
                RunType::Backfill,
                RunType::DatasetTriggered
            ],
            logical_from: Some(day(3)),
            ..RunFilter::default()
        })
        .await,
        ["d7", "s5", "s3"],
        "non-manual runs from a logical date on (inclusive)"
    );
    assert_eq!(
        ids(RunFilter {
            run_types: vec![
                RunType::Scheduled,
                RunType::Backfill,
                RunType::DatasetTriggered
            ],
            logical_from: Some(day(3)),
            logical_before: Some(day(7)),
            by_logical_date: true,
            ..RunFilter::default()
        })
        .await,
        ["s5", "s3"],
        "runs between two logical dates (the upper one excluded)"
    );
}
