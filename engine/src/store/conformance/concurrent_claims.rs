//! Claims of many runs of a DAG committed at once (PostgreSQL commits them as groups): the
//! limit holds over all of them, each caller hears its own claims' outcome, and a batch whose
//! guard fails is refused alone while the others are written.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use super::{now, plain_claim, run, ti};
use crate::store::{Batch, Change, RunKey, Store, StoreError};

pub(crate) async fn check(s: &dyn Store) {
    let t = now();
    let runs: Vec<String> = (0..12).map(|i| format!("c{i}")).collect();
    for id in &runs {
        let mut r = run(id);
        r.dag_id = "crowd".into();
        s.create_run(&r, &[ti("a"), ti("b")], &[]).await.unwrap();
    }
    let claim = |task: &str| plain_claim(task, 5, t);
    let batch = |run_id: &str, changes| Batch {
        dag_id: "crowd".into(),
        run_id: run_id.into(),
        changes,
    };
    // Each run claims both its tasks, all at once; one batch's guard fails (its run is not
    // this worker's).
    let mut batches: Vec<Batch> = runs
        .iter()
        .map(|r| batch(r, vec![claim("a"), claim("b")]))
        .collect();
    batches.push(batch(
        "c0",
        vec![
            Change::Owned {
                worker_id: "somebody else".into(),
            },
            claim("a"),
        ],
    ));
    let outcomes = all_at_once(batches.iter().map(|b| s.commit(b)).collect()).await;
    let mut won = 0;
    for (i, outcome) in outcomes.into_iter().enumerate() {
        if i == runs.len() {
            assert!(
                matches!(outcome, Err(StoreError::NotOwner { .. })),
                "the batch whose guard failed: {outcome:?}"
            );
            continue;
        }
        let claims = outcome.unwrap();
        assert_eq!(claims.len(), 2, "each caller hears its own two claims");
        let tries = s
            .tries(&RunKey::new("crowd", &runs[i]), None)
            .await
            .unwrap();
        assert_eq!(
            tries.len(),
            claims.iter().filter(|w| **w).count(),
            "a try row for each claim won, none for one lost"
        );
        won += claims.iter().filter(|w| **w).count();
    }
    assert_eq!(
        won, 5,
        "max_active_tasks: 5 over every claim committed at once"
    );
}

/// The outcomes of futures polled together, in their order.
async fn all_at_once<'a, T>(
    mut futures: Vec<Pin<Box<dyn Future<Output = T> + Send + 'a>>>,
) -> Vec<T> {
    let mut out: Vec<Option<T>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, o) in futures.iter_mut().zip(out.iter_mut()) {
            if o.is_none() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => *o = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}
