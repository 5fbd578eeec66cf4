use super::*;
use crate::generate::{GenerateArgs, generate};
use arrow::array::UInt32Array;
use arrow::array::{Array, AsArray, Float64Array, StringArray};
use arrow::compute::{concat_batches, take_record_batch};
use arrow::datatypes::{Float64Type, Int64Type};
use chrono::NaiveDate;
use std::sync::Arc;

fn raw_days(days: std::ops::RangeInclusive<u32>) -> RecordBatch {
    let g: GenerateArgs = parse_args(&serde_json::json!({})).unwrap();
    let batches: Vec<RecordBatch> = days
        .map(|d| generate(NaiveDate::from_ymd_opt(2026, 2, d).unwrap(), &g))
        .collect();
    concat_batches(&batches[0].schema(), &batches).unwrap()
}

fn source() -> Source {
    Source {
        dataset: "raw_data".into(),
        from: "2026-02-01".into(),
        to: "2026-02-02".into(),
        partitions: vec![],
        rows_read: 0,
        rows_dropped: 0,
    }
}

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 2, 2).unwrap()
}

fn column<'a>(b: &'a RecordBatch, name: &str) -> &'a [f64] {
    b.column_by_name(name)
        .unwrap_or_else(|| panic!("no {name}"))
        .as_primitive::<Float64Type>()
        .values()
}

#[test]
fn prepared_rows_are_clean_split_and_scaled_on_train() {
    let raw = raw_days(1..=2);
    let p = prepare(
        &raw,
        &PrepareArgs::default(),
        "prepared_data/2026-02-02",
        day(),
        source(),
        0,
    )
    .unwrap();
    let m = &p.metadata;
    assert_eq!(
        m.rows.train + m.rows.test,
        raw.num_rows(),
        "churned is never missing"
    );
    let share = m.rows.test as f64 / raw.num_rows() as f64;
    assert!((0.19..0.21).contains(&share), "{share}");
    // Stratified: both sides keep the churn rate.
    let rate = |c: &Rows| c.test as f64 / (c.train + c.test) as f64;
    for (class, counts) in &m.class_counts {
        assert!(
            (0.18..0.22).contains(&rate(counts)),
            "class {class}: {counts:?}"
        );
    }
    let features = &m.preprocessor.feature_columns;
    for expected in [
        "age",
        "days_since_last_login",
        "hour",
        "day_of_week",
        "is_weekend",
        "spend_per_transaction",
        "engagement_score",
        "high_support_tickets",
        "low_engagement",
        "monthly_spend_vs_segment",
        "segment_consumer",
        "plan_premium",
        "region_west",
    ] {
        assert!(
            features.iter().any(|f| f == expected),
            "{expected} in {features:?}"
        );
    }
    assert!(
        !features
            .iter()
            .any(|f| f == "churned" || f == "customer_id")
    );
    let schema = p.train.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names.first(), Some(&"customer_id"));
    assert_eq!(names.last(), Some(&"churned"));
    for f in features {
        let v = column(&p.train, f);
        assert!(
            v.iter().all(|x| x.is_finite()),
            "{f} has no missing value left"
        );
        if m.preprocessor.scaler.iter().any(|s| &s.column == f) {
            let (mean, std) = stats::mean_std(v);
            assert!(
                mean.abs() < 1e-9 && (std - 1.0).abs() < 1e-9,
                "{f}: {mean} {std}"
            );
        }
    }
    let onehot = column(&p.train, "segment_consumer");
    assert!(onehot.iter().all(|x| *x == 0.0 || *x == 1.0));
}

#[test]
fn statistics_come_from_the_training_split_only() {
    let raw = raw_days(3..=4);
    let p = prepare(&raw, &PrepareArgs::default(), "r", day(), source(), 0).unwrap();
    let ids: std::collections::HashSet<i64> = p
        .train
        .column_by_name("customer_id")
        .unwrap()
        .as_primitive::<Int64Type>()
        .values()
        .iter()
        .copied()
        .collect();
    let raw_ids = raw
        .column_by_name("customer_id")
        .unwrap()
        .as_primitive::<Int64Type>();
    let spend = raw
        .column_by_name("monthly_spend")
        .unwrap()
        .as_primitive::<Float64Type>();
    let train_spend: Vec<f64> = (0..raw.num_rows())
        .filter(|i| ids.contains(&raw_ids.value(*i)))
        .filter(|&i| spend.is_valid(i))
        .map(|i| spend.value(i))
        .collect();
    let all_spend: Vec<f64> = spend.iter().flatten().collect();
    let col = m_numeric(&p.metadata, "monthly_spend");
    assert_eq!(col.median, stats::quantile(&train_spend, 0.5).unwrap());
    assert_ne!(
        col.median,
        stats::quantile(&all_spend, 0.5).unwrap(),
        "not the whole data's"
    );
    let q1 = stats::quantile(&train_spend, 0.25).unwrap();
    let q3 = stats::quantile(&train_spend, 0.75).unwrap();
    assert_eq!(col.cap_high, q3 + 1.5 * (q3 - q1));
    // Spend ×12 outliers were injected; after capping nothing exceeds the cap.
    assert!(all_spend.iter().any(|s| *s > col.cap_high));
    let scaled = m_scaler(&p.metadata, "monthly_spend");
    let capped_max = column(&p.train, "monthly_spend")
        .iter()
        .fold(f64::MIN, |a, b| a.max(*b));
    assert!(capped_max <= (col.cap_high - scaled.mean) / scaled.std + 1e-9);
}

fn m_numeric<'a>(m: &'a FeatureMetadata, name: &str) -> &'a preprocessor::NumericColumn {
    m.preprocessor
        .numeric
        .iter()
        .find(|n| n.name == name)
        .unwrap()
}

fn m_scaler<'a>(m: &'a FeatureMetadata, name: &str) -> &'a preprocessor::Scaled {
    m.preprocessor
        .scaler
        .iter()
        .find(|n| n.column == name)
        .unwrap()
}

#[tokio::test]
async fn score_time_transform_agrees_with_training_and_the_set_is_checked() {
    let location = crate::storage::open("memory://", &Default::default()).unwrap();
    let raw = raw_days(5..=6);
    let p = prepare(
        &raw,
        &PrepareArgs::default(),
        "prepared_data/2026-02-06",
        day(),
        source(),
        0,
    )
    .unwrap();
    let written = write_prepared(&location, p).await.unwrap();
    let loaded = load_prepared(&location, "prepared_data/2026-02-06")
        .await
        .unwrap();
    assert_eq!(loaded.metadata, written);
    assert_eq!(written.files["train"].rows, loaded.train.num_rows());

    // A preprocessor read back from the JSON, applied to the raw rows of the training split,
    // gives bit for bit the features stored in train.parquet.
    let json = serde_json::to_vec(&written).unwrap();
    let pre = FeatureMetadata::from_json("m.json", &json)
        .unwrap()
        .preprocessor;
    let ids = loaded
        .train
        .column_by_name("customer_id")
        .unwrap()
        .as_primitive::<Int64Type>();
    let raw_ids = raw
        .column_by_name("customer_id")
        .unwrap()
        .as_primitive::<Int64Type>();
    let position: std::collections::HashMap<i64, u32> = raw_ids
        .values()
        .iter()
        .enumerate()
        .map(|(i, id)| (*id, i as u32))
        .collect();
    let idx = UInt32Array::from_iter_values(ids.values().iter().map(|id| position[id]));
    let train_raw = take_record_batch(&raw, &idx).unwrap();
    let scored = pre.transform(&train_raw).unwrap();
    for (name, values) in scored.columns.iter().zip(&scored.values) {
        let stored = column(&loaded.train, name);
        assert!(
            values
                .iter()
                .zip(stored)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{name} differs between training and scoring"
        );
    }

    // Tampering with a file is caught by its hash.
    let key = object_store::path::Path::from(written.files["test"].key.as_str());
    location.put_bytes(&key, b"junk".to_vec()).await.unwrap();
    let err = load_prepared(&location, "prepared_data/2026-02-06")
        .await
        .unwrap_err();
    assert!(matches!(err, PrepareError::Integrity { .. }), "{err}");
    assert!(err.to_string().contains("test.parquet"), "{err}");
}

#[test]
fn unseen_categories_and_missing_columns_at_scoring_time() {
    let raw = raw_days(7..=7);
    let p = prepare(&raw, &PrepareArgs::default(), "r", day(), source(), 0).unwrap();
    let pre = &p.metadata.preprocessor;
    // Replace every region by one never seen in training.
    let (i, _) = raw.schema().column_with_name("region").unwrap();
    let mut cols = raw.columns().to_vec();
    cols[i] = Arc::new(StringArray::from(vec!["mars"; raw.num_rows()]));
    let odd = RecordBatch::try_new(raw.schema(), cols).unwrap();
    let f = pre.transform(&odd).unwrap();
    for (name, v) in f.columns.iter().zip(&f.values) {
        if name.starts_with("region_") {
            assert!(
                v.iter().all(|x| *x == 0.0),
                "{name}: an unseen region sets no column"
            );
        }
    }
    let without = raw.project(&[0, 1, 2]).unwrap();
    let e = pre.transform(&without).unwrap_err().to_string();
    assert!(e.contains("no column `tenure_months`"), "{e}");
    assert!(e.contains("customer_id, signup_date, age"), "{e}");
}

#[test]
fn a_label_is_never_a_feature_and_missing_targets_are_dropped() {
    let raw = raw_days(8..=8);
    let args: PrepareArgs = parse_args(&serde_json::json!({
        "label_columns": ["churned", "monthly_spend"],
    }))
    .unwrap();
    let p = prepare(&raw, &args, "r", day(), source(), 0).unwrap();
    let f = &p.metadata.preprocessor.feature_columns;
    assert!(
        !f.iter()
            .any(|c| c.contains("monthly_spend") || c == "spend_per_transaction"),
        "{f:?}"
    );
    assert!(
        p.train
            .column_by_name("monthly_spend")
            .unwrap()
            .as_any()
            .is::<Float64Array>()
    );

    // Rows without the stratifying target are dropped, and counted.
    let args: PrepareArgs = parse_args(&serde_json::json!({
        "label_columns": ["monthly_spend"], "stratify": false,
    }))
    .unwrap();
    let p = prepare(&raw, &args, "r", day(), source(), 0).unwrap();
    let missing = raw.column_by_name("monthly_spend").unwrap().null_count();
    assert!(missing > 0);
    assert_eq!(p.metadata.source.rows_dropped, missing);
    assert_eq!(
        p.metadata.rows.train + p.metadata.rows.test,
        raw.num_rows() - missing
    );
    assert!(p.metadata.class_counts.is_empty());
}

/// The days of `event_timestamp`, as `YYYY-MM-DD`, of every row.
fn event_days(b: &RecordBatch) -> Vec<String> {
    use arrow::datatypes::{DataType, TimeUnit};
    let col = b.column_by_name("event_timestamp").unwrap();
    let per_second = match col.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => 1,
        DataType::Timestamp(TimeUnit::Millisecond, _) => 1_000,
        DataType::Timestamp(TimeUnit::Microsecond, _) => 1_000_000,
        _ => 1_000_000_000,
    };
    let raw = arrow::compute::cast(col, &DataType::Int64).unwrap();
    raw.as_primitive::<Int64Type>()
        .values()
        .iter()
        .map(|v| {
            chrono::DateTime::from_timestamp(v.div_euclid(per_second), 0)
                .unwrap()
                .date_naive()
                .to_string()
        })
        .collect()
}

#[test]
fn the_newest_day_is_held_out_and_no_holdout_row_is_trained_on() {
    let days = raw_days(1..=3);
    let newest = raw_days(3..=3).num_rows();
    let p = prepare(
        &days,
        &PrepareArgs::default(),
        "prepared_data/2026-02-03",
        NaiveDate::from_ymd_opt(2026, 2, 3).unwrap(),
        source(),
        newest,
    )
    .unwrap();
    let m = &p.metadata;
    assert_eq!(m.holdout.method, HoldoutMethod::NewestDay);
    assert_eq!(m.holdout.days, ["2026-02-03"]);
    assert!(m.holdout.note.is_none());
    assert_eq!(
        (m.rows.test, m.rows.train),
        (newest, days.num_rows() - newest)
    );
    // The raw holdout is the newest day's rows, untransformed; training has none of them.
    assert_eq!(p.holdout.num_rows(), newest);
    assert!(event_days(&p.holdout).iter().all(|d| d == "2026-02-03"));
    let raw_train_days = event_days(&days)[..days.num_rows() - newest].to_vec();
    assert!(raw_train_days.iter().all(|d| d != "2026-02-03"));
    assert_eq!(p.holdout.schema(), days.schema(), "raw columns, as read");
    // A window with nothing before its newest day falls back to a random split, and says so.
    let one = raw_days(3..=3);
    let p = prepare(
        &one,
        &PrepareArgs::default(),
        "prepared_data/2026-02-03",
        NaiveDate::from_ymd_opt(2026, 2, 3).unwrap(),
        source(),
        one.num_rows(),
    )
    .unwrap();
    assert_eq!(p.metadata.holdout.method, HoldoutMethod::Random);
    assert!(
        p.metadata
            .holdout
            .note
            .as_deref()
            .unwrap()
            .contains("no day before 2026-02-03"),
        "{:?}",
        p.metadata.holdout
    );
    assert!(p.metadata.rows.train > 0 && p.metadata.rows.test > 0);
    // Asked for a random split, it is one, stratified.
    let args: PrepareArgs = parse_args(&serde_json::json!({"holdout": "random"})).unwrap();
    let p = prepare(&days, &args, "r", day(), source(), newest).unwrap();
    assert_eq!(p.metadata.holdout.method, HoldoutMethod::Random);
    assert!(event_days(&p.holdout).iter().any(|d| d != "2026-02-03"));
}

#[test]
fn a_templated_window_reads_as_its_number() {
    let args: PrepareArgs = parse_args(&serde_json::json!({"window_days": "14"})).unwrap();
    assert_eq!(args.window_days, 14);
    assert_eq!(PrepareArgs::default().window_days, 30);
    let e = parse_args::<PrepareArgs>(&serde_json::json!({"window_days": "two weeks"}))
        .unwrap_err()
        .to_string();
    assert!(e.contains("`two weeks` is not a number"), "{e}");
}
