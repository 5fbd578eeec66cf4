//! Datasets written by dagctl are read back as Hive-partitioned datasets by pyarrow and
//! DuckDB, with the same rows and columns. `scripts/test.sh` installs both into a virtualenv
//! and sets `DAGCTL_TEST_PYTHON`; under CI the test fails if that is missing.

use crate::common;

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use chrono::NaiveDate;
use dagctl::operators::dataset::Dataset;

fn batch(day: u32, n: usize) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Int64, false),
        Field::new("segment", DataType::Utf8, true),
        Field::new("monthly_spend", DataType::Float64, true),
    ]));
    let ids = (0..n as i64).map(|i| i64::from(day) * 100_000 + i);
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(ids)),
            Arc::new(StringArray::from_iter((0..n).map(|i| {
                (i % 7 != 0).then_some(["smb", "enterprise", "consumer"][i % 3])
            }))),
            Arc::new(Float64Array::from_iter(
                (0..n).map(|i| (i % 11 != 0).then_some(i as f64 * 1.5)),
            )),
        ],
    )
    .unwrap()
}

/// Runs a Python script on a path and reads the JSON it prints.
fn python_json(python: &str, script: &str, path: &std::path::Path) -> serde_json::Value {
    let out = std::process::Command::new(python)
        .args(["-c", script])
        .arg(path)
        .output()
        .unwrap();
    serde_json::from_slice(&common::stdout_ok(out)).unwrap()
}

const CHECK: &str = r#"
import sys, json
import pyarrow.dataset as ds
import duckdb
root = sys.argv[1]
d = ds.dataset(root, format="parquet", partitioning="hive")
t = d.to_table()
days = sorted(set(zip(t.column("year").to_pylist(), t.column("month").to_pylist(), t.column("day").to_pylist())))
con = duckdb.connect()
n, nulls = con.execute(
    f"SELECT count(*), count(*) - count(segment) FROM read_parquet('{root}/**/*.parquet', hive_partitioning=true)"
).fetchone()
cols = [r[0] for r in con.execute(
    f"DESCRIBE SELECT * FROM read_parquet('{root}/**/*.parquet', hive_partitioning=true)"
).fetchall()]
print(json.dumps({"pyarrow_rows": t.num_rows, "pyarrow_columns": t.column_names,
                  "days": [list(x) for x in days], "duckdb_rows": n, "duckdb_null_segments": nulls,
                  "duckdb_columns": cols}))
"#;

#[tokio::test]
async fn pyarrow_and_duckdb_read_the_partitioned_dataset() {
    let Some(python) = common::test_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().display());
    let loc = dagctl::operators::storage::open(&url, &BTreeMap::new()).unwrap();
    let ds = Dataset::new(loc, "raw_data");
    let mut expected = 0;
    for (d, n) in [(1, 1200), (2, 800), (3, 1300)] {
        let day = NaiveDate::from_ymd_opt(2026, 1, d).unwrap();
        ds.write_day(day, vec![batch(d, n)]).await.unwrap();
        expected += n;
    }
    // Rewrite a day: still three days, the new content only.
    ds.write_day(
        NaiveDate::from_ymd_opt(2026, 1, 2).unwrap(),
        vec![batch(2, 900)],
    )
    .await
    .unwrap();
    expected += 100;
    let root = dir.path().join("raw_data");
    let v = python_json(&python, CHECK, &root);
    assert_eq!(v["pyarrow_rows"], expected);
    assert_eq!(v["duckdb_rows"], expected);
    assert_eq!(
        v["days"],
        serde_json::json!([[2026, 1, 1], [2026, 1, 2], [2026, 1, 3]])
    );
    for cols in [&v["pyarrow_columns"], &v["duckdb_columns"]] {
        let cols: Vec<&str> = cols
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        for c in [
            "customer_id",
            "segment",
            "monthly_spend",
            "year",
            "month",
            "day",
        ] {
            assert!(cols.contains(&c), "{c} missing from {cols:?}");
        }
    }
    // Nulls survive: every 7th segment of each day is null.
    let nulls: usize = [1200usize, 900, 1300].iter().map(|n| n.div_ceil(7)).sum();
    assert_eq!(v["duckdb_null_segments"], nulls);
}

#[test]
fn the_shipped_dag_01_writes_a_day_pyarrow_reads() {
    let Some(python) = common::test_python() else {
        return;
    };
    let env = common::Env::shipped();
    let home = env.home();
    let out = env
        .process(&[
            "trigger",
            "01_data_generation_pipeline",
            "--logical-date",
            "2026-01-05",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let root = home.join("data/raw_data");
    assert!(
        root.join("year=2026/month=01/day=05/part-00000.parquet")
            .exists()
    );
    let script = "import sys, pyarrow.dataset as ds; t = ds.dataset(sys.argv[1], partitioning='hive').to_table(); print(t.num_rows, len(t.column_names))";
    let out = std::process::Command::new(&python)
        .args(["-c", script])
        .arg(&root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let (rows, cols) = text.trim().split_once(' ').unwrap();
    let rows: usize = rows.parse().unwrap();
    assert!((800..=1300).contains(&rows), "{rows}");
    assert_eq!(cols, "17", "14 columns and year, month, day");

    // DAG 01 triggered DAG 02, which prepared the day: pyarrow and DuckDB read both splits,
    // with the columns and row counts its metadata lists.
    let prepared = home.join("data/prepared_data/2026-01-05");
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(prepared.join("feature_metadata.json")).unwrap())
            .unwrap();
    let script = r#"
import sys, json, duckdb, pyarrow.parquet as pq
d = sys.argv[1]
t = pq.read_table(d + "/train.parquet")
n = duckdb.connect().execute(f"SELECT count(*), avg(churned) FROM read_parquet('{d}/test.parquet')").fetchone()
print(json.dumps({"train_rows": t.num_rows, "columns": t.column_names, "test_rows": n[0], "test_churn": n[1]}))
"#;
    let v = python_json(&python, script, &prepared);
    assert_eq!(v["train_rows"], meta["rows"]["train"]);
    assert_eq!(v["test_rows"], meta["rows"]["test"]);
    assert_eq!(
        meta["rows"]["train"].as_u64().unwrap() + meta["rows"]["test"].as_u64().unwrap(),
        rows as u64
    );
    let mut expected = vec![serde_json::json!("customer_id")];
    expected.extend(meta["feature_columns"].as_array().unwrap().iter().cloned());
    expected.push(serde_json::json!("churned"));
    assert_eq!(v["columns"], serde_json::Value::Array(expected));
    let churn = v["test_churn"].as_f64().unwrap();
    assert!((0.05..0.6).contains(&churn), "{churn}");

    // And DAG 03 trained on it: one artifact per candidate, beside a copy of the metadata.
    let runs = home.join("data/artifacts/03_model_training_pipeline");
    let run = std::fs::read_dir(&runs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut models: Vec<String> = std::fs::read_dir(run.join("churned"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    models.sort();
    assert_eq!(
        models,
        [
            "gradient_boosting.model",
            "linear_regression.model",
            "logistic_regression.model",
            "random_forest.model"
        ]
    );
    assert!(run.join("feature_metadata.json").exists());
}
