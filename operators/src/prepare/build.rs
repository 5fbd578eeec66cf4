//! The pure part of preparation: raw rows → cleaned, engineered, split and scaled sets.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, UInt32Array};
use arrow::compute::{filter_record_batch, take_record_batch};
use arrow::datatypes::{Field, Schema};
use chrono::NaiveDate;

use super::metadata::{FeatureMetadata, HoldoutInfo, Prepared, Rows, Source};
use super::preprocessor::Features;
use super::{
    HoldoutMethod, METADATA_FORMAT, PrepareArgs, PrepareError, Preprocessor, split, table,
};

/// Cleans, engineers, splits and scales raw rows (the pure part of the operator).
/// `newest_rows` is how many of the last rows of `raw` are the logical date's (the
/// `newest_day` holdout); `reference`, `day` and `source` only fill the metadata.
///
/// # Errors
/// A missing or mistyped column, or too few rows.
pub fn prepare(
    raw: &RecordBatch,
    args: &PrepareArgs,
    reference: &str,
    day: NaiveDate,
    mut source: Source,
    newest_rows: usize,
) -> Result<Prepared, PrepareError> {
    let first_newest = raw.num_rows().saturating_sub(newest_rows);
    let t = table::Table::new(raw);
    let target = &args.label_columns[0];
    let labels = t.numbers(target, "the first label column")?;
    let keep: arrow::array::BooleanArray = labels.iter().map(|v| Some(!v.is_nan())).collect();
    let dropped = keep.false_count();
    let newest: Vec<bool> = (0..labels.len())
        .filter(|i| !labels[*i].is_nan())
        .map(|i| i >= first_newest)
        .collect();
    let (raw, labels) = if dropped > 0 {
        let kept =
            filter_record_batch(raw, &keep).map_err(|e| PrepareError::TooFew(e.to_string()))?;
        let l = labels
            .into_iter()
            .filter(|v| !v.is_nan())
            .collect::<Vec<_>>();
        (kept, l)
    } else {
        (raw.clone(), labels)
    };
    if raw.num_rows() < 10 {
        return Err(PrepareError::TooFew(format!(
            "only {} rows with a `{target}` value: at least 10 are needed to split",
            raw.num_rows()
        )));
    }
    let newest_count = newest.iter().filter(|n| **n).count();
    let mut holdout = HoldoutInfo {
        method: args.holdout,
        days: Vec::new(),
        note: None,
    };
    if args.holdout == HoldoutMethod::NewestDay
        && (newest_count == 0 || newest_count == newest.len())
    {
        holdout.method = HoldoutMethod::Random;
        holdout.note = Some(if newest_count == 0 {
            format!(
                "no rows on {day} to hold out: a random {} of the window instead",
                args.test_fraction
            )
        } else {
            format!(
                "the window has no day before {day} to train on: a random {} of its rows held out instead",
                args.test_fraction
            )
        });
    }
    let split = match holdout.method {
        HoldoutMethod::NewestDay => {
            holdout.days = vec![day.to_string()];
            let (test, train): (Vec<usize>, Vec<usize>) =
                (0..newest.len()).partition(|i| newest[*i]);
            split::Split { train, test }
        }
        HoldoutMethod::Random => split::stratified(
            args.stratify.then_some(labels.as_slice()),
            raw.num_rows(),
            args.test_fraction,
            args.seed,
        ),
    };
    let take = |rows: &[usize]| {
        let idx = UInt32Array::from_iter_values(rows.iter().map(|r| *r as u32));
        take_record_batch(&raw, &idx).map_err(|e| PrepareError::TooFew(e.to_string()))
    };
    let (train_raw, test_raw) = (take(&split.train)?, take(&split.test)?);
    if train_raw.num_rows() < 2 || test_raw.num_rows() == 0 {
        return Err(PrepareError::TooFew(format!(
            "{} training and {} held-out rows: too few to train and evaluate",
            train_raw.num_rows(),
            test_raw.num_rows()
        )));
    }
    let (pre, train_features) = Preprocessor::fit_transform(&train_raw, &args.feature_config())?;
    let train = assemble(&train_raw, &train_features, args)?;
    let test = assemble(&test_raw, &pre.transform(&test_raw)?, args)?;
    let mut class_counts: BTreeMap<String, Rows> = BTreeMap::new();
    if args.stratify {
        for (rows, is_train) in [(&split.train, true), (&split.test, false)] {
            for r in rows {
                let c = class_counts.entry(format_label(labels[*r])).or_default();
                if is_train {
                    c.train += 1;
                } else {
                    c.test += 1;
                }
            }
        }
    }
    source.rows_dropped = dropped;
    Ok(Prepared {
        metadata: FeatureMetadata {
            format_version: METADATA_FORMAT,
            reference: reference.to_string(),
            logical_date: day.to_string(),
            created_at: chrono::Utc::now().to_rfc3339(),
            source,
            label_columns: args.label_columns.clone(),
            id_columns: args.id_columns.clone(),
            stratify_column: args.stratify.then(|| target.clone()),
            test_fraction: args.test_fraction,
            seed: args.seed,
            rows: Rows {
                train: train.num_rows(),
                test: test.num_rows(),
            },
            holdout,
            class_counts,
            preprocessor: pre,
            files: BTreeMap::new(),
            data_hash: String::new(),
        },
        train,
        test,
        holdout: test_raw,
    })
}

fn format_label(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        v.to_string()
    }
}

/// Ids, then features, then labels.
fn assemble(
    raw: &RecordBatch,
    features: &Features,
    args: &PrepareArgs,
) -> Result<RecordBatch, PrepareError> {
    let column = |name: &String, role: &str| -> Result<(Field, ArrayRef), PrepareError> {
        let (i, f) = raw
            .schema()
            .column_with_name(name)
            .map(|(i, f)| (i, f.clone()))
            .ok_or_else(|| PrepareError::missing(raw, name, role))?;
        Ok((f, raw.column(i).clone()))
    };
    let ids = args
        .id_columns
        .iter()
        .map(|c| column(c, "an id column"))
        .collect::<Result<Vec<_>, _>>()?;
    let labels = args
        .label_columns
        .iter()
        .map(|c| column(c, "a label column"))
        .collect::<Result<Vec<_>, _>>()?;
    let batch = features.to_batch();
    let engineered = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .zip(batch.columns().iter().cloned())
        .collect::<Vec<_>>();
    let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) =
        ids.into_iter().chain(engineered).chain(labels).unzip();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
        .map_err(|e| PrepareError::TooFew(e.to_string()))
}
