use super::*;

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000, 0).unwrap()
}

fn budget(try_number: u32, max_tries: u32, orphaned_before: usize) -> Budget {
    Budget {
        try_number,
        max_tries,
        orphaned_before,
    }
}

const ALONE: Means = Means { isolation: true };
const SHARED: Means = Means { isolation: false };

fn ten_s(_: u32) -> Duration {
    Duration::from_secs(10)
}

/// Every end, with a try left and without, in both kinds of engine: the state it leads to
/// and whether the try is given back.
#[test]
fn each_end_leads_where_airflow_and_the_budget_say() {
    let later = t0() + chrono::Duration::hours(1);
    let failed = |retryable| TryEnd::Failed { retryable };
    let stopped = TryEnd::Orphaned(Some(OrphanCause::ExecutorStopped));
    #[rustfmt::skip]
    let table: Vec<(TryEnd, Budget, Means, TaskState, bool)> = vec![
        // end                     budget            means   state                  given back
        (TryEnd::Succeeded,        budget(1, 1, 0),  SHARED, TaskState::Success,    false),
        (TryEnd::Skipped,          budget(1, 1, 0),  SHARED, TaskState::Skipped,    false),
        (TryEnd::Deferred(later),  budget(1, 1, 0),  SHARED, TaskState::Deferred,   true),
        (failed(true),             budget(1, 2, 0),  SHARED, TaskState::UpForRetry, false),
        (failed(true),             budget(2, 2, 0),  SHARED, TaskState::Failed,     false),
        (failed(false),            budget(1, 5, 0),  SHARED, TaskState::Failed,     false),
        (TryEnd::Orphaned(None),   budget(1, 1, 0),  SHARED, TaskState::Scheduled,  true),
        (TryEnd::Orphaned(None),   budget(3, 3, 1),  SHARED, TaskState::Scheduled,  true),
        (TryEnd::Orphaned(None),   budget(3, 3, 2),  SHARED, TaskState::Failed,     false),
        (TryEnd::Orphaned(None),   budget(9, 9, 20), ALONE,  TaskState::Scheduled,  true),
        (stopped,                  budget(9, 9, 20), SHARED, TaskState::Scheduled,  true),
        (stopped,                  budget(9, 9, 20), ALONE,  TaskState::Scheduled,  true),
    ];
    for (end, b, means, state, give_back) in table {
        let next = after_try(end, b, means, ten_s, t0());
        assert_eq!(
            (next.state, next.give_back),
            (state, give_back),
            "{end:?} {b:?} {means:?}"
        );
        assert_eq!(
            next.orphaned_out,
            state == TaskState::Failed && matches!(end, TryEnd::Orphaned(_))
        );
        assert_eq!(
            next.isolate,
            means.isolation && end == TryEnd::Orphaned(None)
        );
    }
}

#[test]
fn a_retry_waits_its_delay_and_a_deferral_its_time() {
    let n = after_try(
        TryEnd::Failed { retryable: true },
        budget(1, 3, 0),
        SHARED,
        ten_s,
        t0(),
    );
    assert_eq!(
        n.next_attempt_at,
        Some(t0() + chrono::Duration::seconds(10))
    );
    let until = t0() + chrono::Duration::minutes(5);
    let n = after_try(
        TryEnd::Deferred(until),
        budget(1, 1, 0),
        SHARED,
        ten_s,
        t0(),
    );
    assert_eq!(n.next_attempt_at, Some(until));
    // A delay past the calendar waits forever instead of failing.
    let n = after_try(
        TryEnd::Failed { retryable: true },
        budget(1, 3, 0),
        SHARED,
        |_| Duration::MAX,
        t0(),
    );
    assert_eq!(n.next_attempt_at, Some(DateTime::<Utc>::MAX_UTC));
    assert_eq!(
        after_try(TryEnd::Succeeded, budget(1, 1, 0), SHARED, ten_s, t0()).next_attempt_at,
        None
    );
}

/// Random histories of a task (seeded, 2,000 of them): tries are numbered one after
/// another with none lost, it succeeds at most once and nothing follows an end, a kill from
/// outside never fails it where tries run alone, retryable failures fail it only once its
/// retries are used, and once nothing gives tries back it ends within its budget.
#[test]
fn random_histories_never_succeed_twice_lose_a_try_or_run_forever() {
    let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
    let mut rand = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    for history in 0..2000 {
        let retries = rand(4) as u32;
        let means = Means {
            isolation: rand(2) == 0,
        };
        let (mut max_tries, mut try_number, mut orphaned) = (retries + 1, 0u32, 0usize);
        let (mut successes, mut failures, mut steps) = (0, 0u32, 0);
        let mut state = TaskState::Scheduled;
        // Up to 12 ends that may give a try back, then only successes and failures.
        let free_ends = rand(13);
        while !state.is_finished() {
            steps += 1;
            assert!(
                steps <= 13 + max_tries as u64,
                "history {history}: no end after {steps} tries"
            );
            try_number += 1;
            let end = match if steps <= free_ends {
                rand(6)
            } else {
                3 + rand(2)
            } {
                0 => TryEnd::Deferred(t0()),
                1 => TryEnd::Orphaned(None),
                2 => TryEnd::Orphaned(Some(OrphanCause::ExecutorStopped)),
                3 => TryEnd::Failed {
                    retryable: rand(5) > 0,
                },
                _ => TryEnd::Succeeded,
            };
            let b = budget(try_number, max_tries, orphaned);
            let next = after_try(end, b, means, ten_s, t0());
            if next.give_back {
                max_tries += 1;
            }
            if end == TryEnd::Orphaned(None) {
                orphaned += 1;
            }
            if let TryEnd::Failed { retryable } = end {
                failures += 1;
                if next.state == TaskState::Failed && retryable {
                    assert_eq!(
                        failures,
                        retries + 1,
                        "history {history}: retries not used up"
                    );
                }
            }
            if next.state == TaskState::Success {
                successes += 1;
            }
            if next.orphaned_out {
                assert!(
                    !means.isolation,
                    "history {history}: a kill failed the task"
                );
                assert_eq!(orphaned, MAX_ORPHANED);
            }
            // Tries used: every try not given back; never more than the budget allows.
            assert!(
                try_number <= max_tries,
                "history {history}: try {try_number} of {max_tries}"
            );
            state = next.state;
        }
        assert!(successes <= 1, "history {history}");
    }
}
