//! Preparation and training figures, next to pandas + scikit-learn on the same data.
//!
//! 1. **Preparation of a year**: 365 daily partitions of generated customers (~385k rows) on
//!    `file://`, read to written (`prepare_window` with `window_days: 365`), best and median
//!    of three; then `benches/ml_peer.py prepare` doing the same steps in pandas + scikit-learn.
//! 2. **Training on a week and a month**: the shipped DAG 03's `train_models` arguments (read
//!    from `dags/03_model_training_pipeline.yaml`) with `n_jobs: 2` on prepared windows of 7
//!    and 30 days (the newest day held out); then `benches/ml_peer.py train` fitting the same
//!    candidates, grid and folds with scikit-learn (`n_jobs=2`), and LightGBM, on the very same
//!    train/test Parquet files.
//!
//! `cargo bench --bench ml`. Python: `DAGCTL_BENCH_PYTHON`, else `target/bench-venv/bin/python`
//! (`python3 -m venv target/bench-venv && target/bench-venv/bin/pip install pyarrow pandas
//! scikit-learn lightgbm`); without it only dagctl's figures are printed.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use chrono::NaiveDate;
use dagctl::operators::dataset::Dataset;
use dagctl::operators::generate::{GenerateArgs, generate};
use dagctl::operators::ml::TrainSpec;
use dagctl::operators::ml::operator::train_and_store;
use dagctl::operators::prepare::{PrepareArgs, prepare_window};
use dagctl::operators::storage;
use futures::{StreamExt, TryStreamExt};

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("ml bench: run with `cargo bench --bench ml`");
        return;
    }
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("file://{}", dir.path().display());
    let location = storage::open(&url, &BTreeMap::new()).expect("store");
    let first = NaiveDate::from_ymd_opt(2025, 1, 1).expect("date");
    let days: Vec<NaiveDate> = (0..365)
        .map(|i| first + chrono::Duration::days(i))
        .collect();
    let last = days[364];
    let g: GenerateArgs = dagctl::engine::parse_args(&serde_json::json!({})).expect("args");
    let ds = Dataset::new(location.clone(), "raw_data");
    rt.block_on(async {
        futures::stream::iter(days.iter())
            .map(|d| ds.write_day(*d, vec![generate(*d, &g)]))
            .buffer_unordered(8)
            .try_collect::<Vec<_>>()
            .await
            .expect("write raw days");
    });
    let python = std::env::var("DAGCTL_BENCH_PYTHON")
        .unwrap_or_else(|_| "target/bench-venv/bin/python".into());

    // 1. A year of preparation.
    let year = prepare_args(365, "prepared_year");
    let mut times = Vec::new();
    let mut rows = 0;
    for _ in 0..3 {
        let t = Instant::now();
        let m = rt
            .block_on(prepare_window(&location, &year, last))
            .expect("prepare");
        times.push(t.elapsed().as_secs_f64());
        rows = m.source.rows_read;
    }
    times.sort_by(f64::total_cmp);
    println!(
        "preparation of a year: {rows} rows from 365 partitions, read to written: best {:.3}s, median {:.3}s ({:.0} rows/s)",
        times[0],
        times[1],
        rows as f64 / times[1]
    );
    match peer(
        &python,
        &[
            "prepare",
            &path(dir.path(), "raw_data"),
            &path(dir.path(), "peer_prepared"),
        ],
    ) {
        Some(v) => println!(
            "pandas + scikit-learn, same steps: {:.3}s ({:.1}x dagctl's median)",
            v["seconds"].as_f64().unwrap_or(0.0),
            v["seconds"].as_f64().unwrap_or(0.0) / times[1]
        ),
        None => println!("pandas + scikit-learn: not measured (no {python} with them)"),
    }

    // 2. Training on a week and a month.
    let spec = shipped_spec();
    for window in [7u32, 30] {
        let args = prepare_args(window, &format!("prepared_{window}d"));
        let m = rt
            .block_on(prepare_window(&location, &args, last))
            .expect("prepare");
        let t = Instant::now();
        let result = rt
            .block_on(train_and_store(
                &location,
                &m.reference,
                &format!("artifacts/bench_{window}"),
                &spec,
            ))
            .expect("train");
        let wall = t.elapsed().as_secs_f64();
        let report = &result.targets[0].report;
        println!(
            "\ntraining on {window} days ({} train / {} test rows, {} features), dagctl n_jobs=2: {wall:.2}s wall",
            report.rows.train,
            report.rows.test,
            m.preprocessor.feature_columns.len()
        );
        for c in &report.candidates {
            println!(
                "  dagctl   {:<26} f1_macro {:.4}  roc_auc {:.4}  cpu {:>6.2}s",
                c.candidate.name(),
                c.metrics.get("f1_macro").copied().unwrap_or(f64::NAN),
                c.metrics.get("roc_auc").copied().unwrap_or(f64::NAN),
                c.fit_seconds
            );
        }
        println!(
            "  dagctl best: {} f1_macro {:.4}",
            report.best.name(),
            report.best_value
        );
        let prepared_dir = path(dir.path(), &m.reference);
        let Some(v) = peer(&python, &["train", &prepared_dir, "2"]) else {
            println!("  scikit-learn: not measured (no {python} with it)");
            continue;
        };
        if let Some(cands) = v["candidates"].as_object() {
            for (name, c) in cands {
                println!(
                    "  sklearn  {:<26} f1_macro {:.4}  roc_auc {:.4}  wall {:>6.2}s",
                    name,
                    c["f1_macro"].as_f64().unwrap_or(f64::NAN),
                    c["roc_auc"].as_f64().unwrap_or(f64::NAN),
                    c["seconds"].as_f64().unwrap_or(f64::NAN)
                );
            }
        }
        let theirs = v["best_f1_macro"].as_f64().unwrap_or(f64::NAN);
        let sk_wall = v["seconds"].as_f64().unwrap_or(f64::NAN);
        println!(
            "  best F1: dagctl {:.4} vs scikit-learn {:.4} ({:+.2}%); wall: dagctl {wall:.2}s vs scikit-learn {sk_wall:.2}s (n_jobs=2, same candidates); scikit-learn's peak RSS {:.0} MB",
            report.best_value,
            theirs,
            (report.best_value - theirs) / theirs * 100.0,
            v["peak_rss_mb"].as_f64().unwrap_or(f64::NAN)
        );
        if let Some(lgbm) = v["lightgbm_f1_macro"].as_f64() {
            println!(
                "  LightGBM: F1 {lgbm:.4} in {:.2}s; dagctl's best is {:+.2}% of it",
                v["lightgbm_seconds"].as_f64().unwrap_or(f64::NAN),
                (report.best_value - lgbm) / lgbm * 100.0
            );
        }
    }
}

fn prepare_args(window: u32, output: &str) -> PrepareArgs {
    dagctl::engine::parse_args(
        &serde_json::json!({"window_days": window, "output": output, "set_variable": null}),
    )
    .expect("prepare args")
}

/// The `train_models` arguments of the shipped DAG 03, on two threads.
fn shipped_spec() -> TrainSpec {
    let registry = dagctl::shipped_operators();
    let bag = dagctl::engine::DagBag::load_folder(Path::new("dags"), &registry);
    let dag = bag
        .get("03_model_training_pipeline")
        .expect("the shipped DAG 03");
    let mut args = dag.task("train_models").expect("train_models").args.clone();
    if let Some(map) = args.as_object_mut() {
        map.insert("n_jobs".into(), serde_json::json!(2));
    }
    dagctl::operators::ml::operator::spec_of(&args).expect("a train spec")
}

fn path(root: &Path, relative: &str) -> String {
    root.join(relative).display().to_string()
}

fn peer(python: &str, args: &[&str]) -> Option<serde_json::Value> {
    let out = std::process::Command::new(python)
        .arg("benches/ml_peer.py")
        .args(args)
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}
