//! Records: versioned writes, conflicts and prefix listing.

use crate::store::{Store, StoreError};

pub(crate) async fn check(s: &dyn Store) {
    use crate::store::{Expect, RecordWrite};
    let w = |key: &str, v: serde_json::Value, expect| RecordWrite {
        collection: "models".into(),
        key: key.into(),
        value: v,
        expect,
    };
    s.write_records(&[w("churn", serde_json::json!({"latest": 1}), Expect::Absent)])
        .await
        .unwrap();
    let r = s.record("models", "churn").await.unwrap().unwrap();
    assert_eq!((r.version, r.value["latest"].as_i64()), (1, Some(1)));
    // Creating it again conflicts; updating from a stale version conflicts and writes nothing,
    // not even the batch's other, valid write.
    let again = s
        .write_records(&[w("churn", serde_json::json!({}), Expect::Absent)])
        .await;
    assert!(
        matches!(again, Err(StoreError::Conflict { .. })),
        "{again:?}"
    );
    let stale = s
        .write_records(&[
            w("a_new_one", serde_json::json!(1), Expect::Absent),
            w(
                "churn",
                serde_json::json!({"latest": 9}),
                Expect::Version(7),
            ),
        ])
        .await;
    assert!(
        matches!(stale, Err(StoreError::Conflict { .. })),
        "{stale:?}"
    );
    assert!(s.record("models", "a_new_one").await.unwrap().is_none());
    s.write_records(&[w(
        "churn",
        serde_json::json!({"latest": 2}),
        Expect::Version(1),
    )])
    .await
    .unwrap();
    let r = s.record("models", "churn").await.unwrap().unwrap();
    assert_eq!((r.version, r.value["latest"].as_i64()), (2, Some(2)));
    // Prefix listing treats `%` and `_` literally and stays within its collection.
    for key in [
        "churn/0001",
        "churn/0002",
        "churn%/x",
        "churnx_1",
        "other/1",
    ] {
        s.write_records(&[w(key, serde_json::json!(key), Expect::Absent)])
            .await
            .unwrap();
    }
    let keys = |rs: Vec<crate::store::Record>| rs.into_iter().map(|r| r.key).collect::<Vec<_>>();
    assert_eq!(
        keys(s.records("models", "churn/").await.unwrap()),
        ["churn/0001", "churn/0002"]
    );
    assert_eq!(
        keys(s.records("models", "churn%").await.unwrap()),
        ["churn%/x"]
    );
    assert!(s.records("experiments", "").await.unwrap().is_empty());
    let quoted = "it's \"odd\" '); DROP TABLE records; --";
    s.write_records(&[w(quoted, serde_json::json!({"q": quoted}), Expect::Absent)])
        .await
        .unwrap();
    assert_eq!(
        s.record("models", quoted).await.unwrap().unwrap().value["q"],
        quoted
    );
}
