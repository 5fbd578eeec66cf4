//! dagctl's drift statistics against scipy's (`ks_2samp`, `chi2_contingency`) and a PSI
//! computed independently with numpy, on generated customer days with and without drift.
//! `scripts/test.sh` installs scipy into the test virtualenv and sets `DAGCTL_TEST_PYTHON`.

use crate::common;

use chrono::NaiveDate;
use dagctl::operators::drift::stats;
use dagctl::operators::generate::{GenerateArgs, generate};
use serde_json::{Value, json};

fn days(from: u32, to: u32, drifted: bool) -> Vec<arrow::array::RecordBatch> {
    let args = if drifted {
        json!({"drift": {"from": "2026-01-01", "monthly_spend": 1.6, "sessions": 0.6, "age_shift": 6}})
    } else {
        json!({})
    };
    let g: GenerateArgs = dagctl::engine::parse_args(&args).unwrap();
    (from..=to)
        .map(|d| generate(NaiveDate::from_ymd_opt(2026, 1, d).unwrap(), &g))
        .collect()
}

fn floats(b: &[arrow::array::RecordBatch], name: &str) -> Vec<f64> {
    b.iter()
        .flat_map(|b| {
            let c = arrow::compute::cast(
                b.column_by_name(name).unwrap(),
                &arrow::datatypes::DataType::Float64,
            )
            .unwrap();
            let c = c
                .as_any()
                .downcast_ref::<arrow::array::Float64Array>()
                .unwrap()
                .clone();
            c.iter().flatten().collect::<Vec<_>>()
        })
        .collect()
}

fn texts(b: &[arrow::array::RecordBatch], name: &str) -> Vec<String> {
    b.iter()
        .flat_map(|b| {
            let c = arrow::compute::cast(
                b.column_by_name(name).unwrap(),
                &arrow::datatypes::DataType::Utf8,
            )
            .unwrap();
            let c = c
                .as_any()
                .downcast_ref::<arrow::array::StringArray>()
                .unwrap()
                .clone();
            c.iter().flatten().map(str::to_string).collect::<Vec<_>>()
        })
        .collect()
}

fn close(what: &str, ours: f64, theirs: f64, rel: f64, abs: f64) {
    assert!(
        (ours - theirs).abs() <= abs + rel * theirs.abs(),
        "{what}: dagctl {ours} vs scipy {theirs}"
    );
}

#[test]
fn drift_statistics_match_scipy() {
    let Some(python) = common::test_python() else {
        return;
    };
    let reference = days(1, 20, false);
    let mut cases = Vec::new();
    for (current, label) in [
        (days(21, 21, false), "same"),
        (days(21, 21, true), "drifted"),
    ] {
        for name in ["age", "monthly_spend", "sessions", "tenure_months"] {
            cases.push(json!({"kind": "numeric", "label": label, "name": name,
                "reference": floats(&reference, name), "current": floats(&current, name)}));
        }
        for name in ["segment", "region", "plan"] {
            cases.push(json!({"kind": "categorical", "label": label, "name": name,
                "reference": texts(&reference, name), "current": texts(&current, name)}));
        }
    }
    // Small samples take scipy's exact path, and a 2-category table Yates' correction.
    cases.push(json!({"kind": "numeric", "label": "small", "name": "x",
        "reference": (0..40).map(|i| f64::from(i) * 0.5).collect::<Vec<_>>(),
        "current": (0..30).map(|i| f64::from(i) * 0.7 + 3.0).collect::<Vec<_>>()}));
    let repeat = |pairs: &[(&str, usize)]| -> Vec<String> {
        pairs
            .iter()
            .flat_map(|(v, n)| std::iter::repeat_n(v.to_string(), *n))
            .collect()
    };
    cases.push(json!({"kind": "categorical", "label": "small", "name": "y",
        "reference": repeat(&[("a", 30), ("b", 12)]),
        "current": repeat(&[("a", 15), ("b", 20)])}));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cases.json");
    std::fs::write(&file, serde_json::to_vec(&cases).unwrap()).unwrap();
    let out = std::process::Command::new(&python)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/python/drift_check.py"
        ))
        .arg(&file)
        .output()
        .unwrap();
    let theirs: Vec<Value> = serde_json::from_slice(&common::stdout_ok(out)).unwrap();
    let mut drifted_psi = 0;
    for (case, t) in cases.iter().zip(&theirs) {
        let what = format!("{} {}", case["label"], case["name"]);
        let f = |v: &Value| -> Vec<f64> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        };
        let s = |v: &Value| -> Vec<String> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().unwrap().to_string())
                .collect()
        };
        let (psi, stat, p) = if case["kind"] == "numeric" {
            let (r, c) = (f(&case["reference"]), f(&case["current"]));
            let (d, p) = stats::ks_2samp(&r, &c);
            (stats::psi_numeric(&r, &c).value, d, p)
        } else {
            let (r, c) = (s(&case["reference"]), s(&case["current"]));
            let (_, rc, cc) = stats::category_counts(&r, &c);
            let (x2, _, p) = stats::chi2_two_rows(&rc, &cc);
            (stats::psi_categorical(&r, &c).value, x2, p)
        };
        close(
            &format!("{what} PSI"),
            psi,
            t["psi"].as_f64().unwrap(),
            1e-9,
            1e-12,
        );
        close(
            &format!("{what} statistic"),
            stat,
            t["statistic"].as_f64().unwrap(),
            1e-9,
            1e-12,
        );
        close(
            &format!("{what} p-value"),
            p,
            t["p_value"].as_f64().unwrap(),
            1e-4,
            1e-9,
        );
        if case["label"] == "drifted" && psi > 0.25 {
            drifted_psi += 1;
        }
    }
    assert!(drifted_psi > 0, "the drifted day moves some PSI above 0.25");
}
