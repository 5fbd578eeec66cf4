use super::*;

fn ld() -> PyDateTime {
    PyDateTime::utc(Utc.with_ymd_and_hms(2026, 3, 15, 0, 0, 0).unwrap())
}

#[test]
fn prints_and_moves_as_pendulum_does() {
    // Expected outputs are Airflow 3.3.2's (pendulum 3.3.0).
    let d = ld();
    assert_eq!(d.to_string(), "2026-03-15 00:00:00+00:00");
    assert_eq!(
        d.end_of("month").unwrap().to_string(),
        "2026-03-31 23:59:59.999999+00:00"
    );
    assert_eq!(
        d.start_of("week").unwrap().to_string(),
        "2026-03-09 00:00:00+00:00"
    );
    assert_eq!(
        d.in_zone("Europe/Paris".parse().unwrap()).to_string(),
        "2026-03-15 01:00:00+01:00"
    );
    assert_eq!(
        d.shifted(1, 0, 0).unwrap().local.date().to_string(),
        "2026-04-15"
    );
    assert_eq!(
        d.shifted(0, 0, -3 * 3_600_000_000).unwrap().to_string(),
        "2026-03-14 21:00:00+00:00"
    );
    // The repeated hour of New York's autumn: 06:30 UTC is the second 01:30.
    let fall = PyDateTime::utc(Utc.with_ymd_and_hms(2026, 11, 1, 6, 30, 0).unwrap())
        .in_zone("America/New_York".parse().unwrap());
    assert_eq!(fall.to_string(), "2026-11-01 01:30:00-05:00");
    assert_eq!(fall.instant().to_string(), "2026-11-01 06:30:00");
    // A wall-clock time in Paris's spring gap moves forward, as pendulum moves it.
    let paris = d.in_zone("Europe/Paris".parse().unwrap());
    let gap = paris.with_local(
        NaiveDate::from_ymd_opt(2026, 3, 29)
            .unwrap()
            .and_hms_opt(2, 30, 0)
            .unwrap(),
    );
    assert_eq!(gap.to_string(), "2026-03-29 03:30:00+02:00");
    let later = d.shifted(0, 14, 0).unwrap();
    assert_eq!(
        later.diff_for_humans(Some(&d), false).unwrap(),
        "2 weeks after"
    );
    let h36 = d.shifted(0, 0, 36 * 3_600_000_000).unwrap();
    assert_eq!(
        d.diff_for_humans(Some(&h36), false).unwrap(),
        "1 day before"
    );
    assert_eq!(d.edge_of("month", true, None).unwrap().local.day(), 31);
}
