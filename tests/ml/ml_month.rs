//! The shipped loop over a month, run from a directory other than the repository (as a
//! service manager runs dagctl): every day validated, prepared on a rolling 30-day window with
//! the day itself held out, trained, registered, and promoted only on a decision made on the
//! same held-out rows for champion and challenger.

use crate::common;

use common::Env;
use serde_json::Value;

const DAYS: u32 = 30;

fn metadata(env: &Env, day: u32) -> Value {
    let path = env.home().join(format!(
        "data/prepared_data/2026-01-{day:02}/feature_metadata.json"
    ));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn a_month_of_the_shipped_loop_from_another_directory() {
    let env = Env::shipped();
    let elsewhere = tempfile::TempDir::new().unwrap();
    let end = format!("2026-01-{DAYS:02}");
    let out = env.ok_in(
        elsewhere.path(),
        &[
            "backfill",
            "01_data_generation_pipeline",
            "--start",
            "2026-01-01",
            "--end",
            &end,
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!(
            "summary: {} of {} runs succeeded",
            4 * DAYS,
            4 * DAYS
        )),
        "{text}"
    );

    // Every day was validated, with the JSON report and its page.
    for day in 1..=DAYS {
        let dir = env
            .home()
            .join(format!("data/raw_data/year=2026/month=01/day={day:02}"));
        let report: Value =
            serde_json::from_slice(&std::fs::read(dir.join("_validation_report.json")).unwrap())
                .unwrap();
        assert_eq!(report["success"], true, "day {day}: {report}");
        assert!(dir.join("_validation_report.html").exists());
    }

    // A rolling window: day d reads min(d, 30) days; from the second day on, the day itself is
    // held out and the model trains on the days before it.
    let mut last_train = 0;
    for day in 1..=DAYS {
        let m = metadata(&env, day);
        let partitions = m["source"]["partitions"].as_array().unwrap().len();
        assert_eq!(partitions, day.min(30) as usize, "day {day}");
        let train = m["rows"]["train"].as_u64().unwrap();
        if day == 1 {
            assert_eq!(m["holdout"]["method"], "random");
            assert!(
                m["holdout"]["note"]
                    .as_str()
                    .unwrap()
                    .contains("no day before")
            );
        } else {
            assert_eq!(m["holdout"]["method"], "newest_day", "day {day}");
            assert_eq!(m["holdout"]["days"][0], format!("2026-01-{day:02}"));
            assert!(train > last_train, "the window grows: day {day}");
            assert_eq!(
                m["files"]["holdout"]["rows"], m["rows"]["test"],
                "the raw holdout is the test split"
            );
        }
        last_train = train;
    }

    // One version a day, each decided on its own day's holdout, both models scored on it.
    let shown = env.json(&["models", "show", "churn_model", "--json"]);
    let versions = shown["versions"].as_array().unwrap();
    assert_eq!(versions.len(), DAYS as usize);
    let decisions: Vec<&Value> = shown["model"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["action"] == "promote")
        .map(|h| &h["decision"])
        .collect();
    assert_eq!(decisions.len(), DAYS as usize);
    let mut production = None;
    for (i, d) in decisions.iter().enumerate() {
        assert_eq!(
            d["holdout"]["reference"],
            format!("prepared_data/2026-01-{:02}", i + 1)
        );
        if i > 0 {
            assert!(d["champion"].is_number(), "day {}: {d}", i + 1);
            assert!(d["interval"]["low"].is_number(), "day {}: {d}", i + 1);
        }
        if d["promote"] == true {
            production = Some(i + 1);
        }
    }
    let stages: Vec<&str> = versions
        .iter()
        .map(|v| v["stage"].as_str().unwrap())
        .collect();
    assert_eq!(stages.iter().filter(|s| **s == "production").count(), 1);
    assert_eq!(stages[production.unwrap() - 1], "production");
    // Nothing left unfinished, nothing trained twice.
    let runs = env.runs();
    assert_eq!(runs.len(), 4 * DAYS as usize);
    assert!(runs.iter().all(|r| r["state"] == "success"));
}
