//! Write and read throughput of a year of daily partitions (~385k rows of generated
//! customers) on `file://`, next to pyarrow doing the same on the same data.
//!
//! `cargo bench --bench dataset` (pyarrow from `target/test-venv`, which `scripts/test.sh`
//! creates, or `DAGCTL_TEST_PYTHON`).

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::NaiveDate;
use dagctl::operators::dataset::Dataset;
use dagctl::operators::generate::{GenerateArgs, generate};
use dagctl::operators::storage;
use futures::{StreamExt, TryStreamExt};

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("dataset bench: run with `cargo bench --bench dataset`");
        return;
    }
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let args: GenerateArgs = dagctl::engine::parse_args(&serde_json::json!({})).expect("args");
    let first = NaiveDate::from_ymd_opt(2025, 1, 1).expect("date");
    let days: Vec<NaiveDate> = (0..365)
        .map(|i| first + chrono::Duration::days(i))
        .collect();
    let batches: Vec<_> = days.iter().map(|d| generate(*d, &args)).collect();
    let again = batches.clone();
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("file://{}", dir.path().join("ours").display());
    let ds = Dataset::new(
        storage::open(&url, &BTreeMap::new()).expect("store"),
        "raw_data",
    );
    rt.block_on(async {
        let t = Instant::now();
        futures::stream::iter(days.iter().zip(batches))
            .map(|(d, b)| ds.write_day(*d, vec![b]))
            .buffer_unordered(8)
            .try_collect::<Vec<_>>()
            .await
            .expect("write");
        let write = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let read: usize = ds
            .read(days[0], days[364])
            .map_ok(|b| b.num_rows())
            .try_fold(0, |a, n| async move { Ok(a + n) })
            .await
            .expect("read");
        let read_s = t.elapsed().as_secs_f64();
        assert_eq!(read, rows);
        // The same year again, one day at a time (as the pyarrow script writes).
        let seq_url = format!("file://{}", dir.path().join("sequential").display());
        let seq = Dataset::new(storage::open(&seq_url, &BTreeMap::new()).expect("store"), "raw_data");
        let t = Instant::now();
        for (d, b) in days.iter().zip(again) {
            seq.write_day(*d, vec![b]).await.expect("write");
        }
        let sequential = t.elapsed().as_secs_f64();
        println!("a year of daily partitions: {rows} rows in 365 files, file://, release");
        println!(
            "dagctl   write {:>9.0} rows/s (8 days at once), {:>9.0} rows/s (one at a time)   read {:>9.0} rows/s",
            rows as f64 / write,
            rows as f64 / sequential,
            rows as f64 / read_s
        );
    });
    let python = std::env::var("DAGCTL_TEST_PYTHON")
        .unwrap_or_else(|_| "target/test-venv/bin/python".into());
    let out = std::process::Command::new(&python)
        .arg("benches/parquet_peer.py")
        .arg(dir.path().join("ours/raw_data"))
        .arg(dir.path().join("pyarrow"))
        .output();
    match out {
        Ok(o) if o.status.success() => {
            let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
            println!(
                "pyarrow  write {:>9.0} rows/s   read {:>9.0} rows/s",
                v["write_rows_per_s"].as_f64().unwrap_or(0.0),
                v["read_rows_per_s"].as_f64().unwrap_or(0.0)
            );
        }
        _ => println!("pyarrow: not measured (no {python} with pyarrow; run scripts/test.sh once)"),
    }
}
