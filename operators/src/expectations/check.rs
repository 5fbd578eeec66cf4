//! Checking a suite against rows: one result per expectation, with the fields Great
//! Expectations reports (`success`, `observed_value`, `unexpected_count`,
//! `unexpected_percent`, `partial_unexpected_list`).
//!
//! A missing expected column and a wrong type are **critical**: they fail the validation
//! whatever the share of passed expectations (a day without its label column must not pass
//! because that column's other checks drop out). A column an expectation names that is not in
//! the data fails that expectation, critically.

use std::collections::HashSet;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::DataType;
use serde::Serialize;
use serde_json::{Value, json};

use super::suite::{Expectation, Suite};

/// How many unexpected values a result lists.
pub const PARTIAL: usize = 5;

/// The result of one expectation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    /// The Great Expectations name.
    pub expectation_type: String,
    /// Its arguments.
    pub kwargs: Value,
    /// The column, if any.
    pub column: Option<String>,
    /// What was expected, in words.
    pub expectation: String,
    /// Whether it held.
    pub success: bool,
    /// What was observed.
    pub observed_value: Value,
    /// Values that broke it (nulls for `not_be_null`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unexpected_count: Option<usize>,
    /// Their share of the rows, in percent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unexpected_percent: Option<f64>,
    /// A few of them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub partial_unexpected_list: Vec<Value>,
    /// A failure that fails the validation whatever the score.
    pub critical: bool,
}

/// The type name a suite uses for an Arrow type.
pub fn type_name(t: &DataType) -> &'static str {
    match t {
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => "int64",
        DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => "int64",
        DataType::Float16 | DataType::Float32 | DataType::Float64 => "float64",
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "string",
        DataType::Dictionary(_, v)
            if matches!(
                **v,
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            ) =>
        {
            "string"
        }
        DataType::Date32 | DataType::Date64 => "date",
        DataType::Timestamp(..) => "timestamp",
        DataType::Boolean => "bool",
        _ => "other",
    }
}

/// One column across the batches: its type, numbers (NaN for null) and texts (`None` for
/// null, or for a non-text column).
struct Column {
    ty: &'static str,
    rows: usize,
    nulls: usize,
    numbers: Option<Vec<f64>>,
    texts: Option<Vec<Option<String>>>,
}

impl Column {
    /// The values present, as text (a whole number without its `.0`), in row order.
    fn present_as_text(&self) -> Vec<String> {
        match (&self.texts, &self.numbers) {
            (Some(t), _) => t.iter().flatten().cloned().collect(),
            (None, Some(n)) => n
                .iter()
                .filter(|v| !v.is_nan())
                .map(|v| json!(v).to_string().trim_end_matches(".0").to_string())
                .collect(),
            _ => Vec::new(),
        }
    }
}

fn column(batches: &[RecordBatch], name: &str) -> Option<Column> {
    let arrays: Vec<&dyn Array> = batches
        .iter()
        .filter_map(|b| b.column_by_name(name).map(|a| a.as_ref()))
        .collect();
    if batches.is_empty() || arrays.len() != batches.len() {
        return None;
    }
    let ty = type_name(arrays[0].data_type());
    let numbers = matches!(ty, "int64" | "float64").then(|| {
        arrays
            .iter()
            .filter_map(|a| crate::columns::floats(*a).ok())
            .flatten()
            .collect()
    });
    // Every column as text (integers exactly, dates and booleans as written), for the set
    // and uniqueness checks; `None` only where Arrow cannot cast.
    let texts = Some(
        arrays
            .iter()
            .flat_map(|a| {
                let a = arrow::compute::cast(*a, &DataType::Utf8).ok();
                a.map(|a| {
                    a.as_string::<i32>()
                        .iter()
                        .map(|v| v.map(str::to_string))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
            })
            .collect(),
    );
    Some(Column {
        ty,
        rows: arrays.iter().map(|a| a.len()).sum(),
        nulls: arrays.iter().map(|a| a.null_count()).sum(),
        numbers,
        texts,
    })
}

fn words(e: &Expectation) -> String {
    let k = &e.kwargs;
    let n = |name: &str| k.get(name).filter(|v| !v.is_null()).map(Value::to_string);
    match e.kind.as_str() {
        "expect_table_row_count_to_be_between" => format!(
            "row count in [{}, {}]",
            n("min_value").unwrap_or("-".into()),
            n("max_value").unwrap_or("-".into())
        ),
        "expect_column_to_exist" => "column is present".into(),
        "expect_column_values_to_be_of_type" => {
            format!("type is {}", k["type_"].as_str().unwrap_or("?"))
        }
        "expect_column_values_to_not_be_null" => {
            format!("not-null fraction ≥ {}", n("mostly").unwrap_or("1".into()))
        }
        "expect_column_values_to_be_between" => match (n("min_value"), n("max_value")) {
            (Some(a), Some(b)) => format!("values in [{a}, {b}]"),
            (Some(a), None) => format!("min ≥ {a}"),
            (None, Some(b)) => format!("max ≤ {b}"),
            (None, None) => "values are numbers".into(),
        },
        "expect_column_values_to_be_in_set" => format!("values in {}", k["value_set"]),
        "expect_column_values_to_be_unique" => "values are unique".into(),
        other => other.to_string(),
    }
}

/// Checks a suite against rows; returns every outcome.
pub fn check(suite: &Suite, batches: &[RecordBatch]) -> Vec<Outcome> {
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    suite
        .expectations
        .iter()
        .map(|e| {
            let mut o = Outcome {
                expectation_type: e.kind.clone(),
                kwargs: e.kwargs.clone(),
                column: e.column().map(str::to_string),
                expectation: words(e),
                success: false,
                observed_value: Value::Null,
                unexpected_count: None,
                unexpected_percent: None,
                partial_unexpected_list: Vec::new(),
                critical: false,
            };
            if e.kind == "expect_table_row_count_to_be_between" {
                let lo = e.kwargs.get("min_value").and_then(Value::as_u64);
                let hi = e.kwargs.get("max_value").and_then(Value::as_u64);
                o.observed_value = json!(rows);
                o.success =
                    lo.is_none_or(|l| rows as u64 >= l) && hi.is_none_or(|h| rows as u64 <= h);
                return o;
            }
            let name = e.column().unwrap_or_default();
            let Some(col) = column(batches, name) else {
                o.observed_value = json!("column missing");
                o.critical = true;
                return o;
            };
            evaluate(e, &col, &mut o);
            o
        })
        .collect()
}

fn unexpected(o: &mut Outcome, rows: usize, bad: Vec<Value>, count: usize) {
    o.unexpected_count = Some(count);
    o.unexpected_percent = Some(if rows == 0 {
        0.0
    } else {
        (count as f64 * 100.0 / rows as f64 * 1e4).round() / 1e4
    });
    o.partial_unexpected_list = bad.into_iter().take(PARTIAL).collect();
}

fn evaluate(e: &Expectation, col: &Column, o: &mut Outcome) {
    let k = &e.kwargs;
    let mostly = k.get("mostly").and_then(Value::as_f64).unwrap_or(1.0);
    let non_null = col.rows - col.nulls;
    match e.kind.as_str() {
        "expect_column_to_exist" => {
            o.observed_value = json!(true);
            o.success = true;
        }
        "expect_column_values_to_be_of_type" => {
            o.observed_value = json!(col.ty);
            o.success = k["type_"].as_str() == Some(col.ty);
            o.critical = !o.success;
        }
        "expect_column_values_to_not_be_null" => {
            let frac = if col.rows == 0 {
                1.0
            } else {
                non_null as f64 / col.rows as f64
            };
            o.observed_value = json!((frac * 1e4).round() / 1e4);
            unexpected(
                o,
                col.rows,
                vec![Value::Null; col.nulls.min(PARTIAL)],
                col.nulls,
            );
            o.success = frac >= mostly;
        }
        "expect_column_values_to_be_between" => {
            let lo = k.get("min_value").and_then(Value::as_f64);
            let hi = k.get("max_value").and_then(Value::as_f64);
            let Some(numbers) = &col.numbers else {
                o.observed_value = json!(format!("{} values are not numbers", col.ty));
                return;
            };
            let values = numbers.iter().copied().filter(|v| !v.is_nan());
            let (min, max) = values
                .clone()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                    (a.min(v), b.max(v))
                });
            let bad: Vec<f64> = values
                .filter(|v| lo.is_some_and(|l| *v < l) || hi.is_some_and(|h| *v > h))
                .collect();
            o.observed_value = if non_null == 0 {
                Value::Null
            } else {
                json!({"min": min, "max": max})
            };
            let count = bad.len();
            unexpected(
                o,
                non_null,
                bad.into_iter().map(|v| json!(v)).collect(),
                count,
            );
            o.success = non_null == 0 || 1.0 - count as f64 / non_null as f64 >= mostly;
        }
        "expect_column_values_to_be_in_set" => {
            let set: HashSet<String> = k["value_set"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let values = col.present_as_text();
            let bad: Vec<&String> = values.iter().filter(|v| !set.contains(*v)).collect();
            let mut distinct: Vec<&String> = bad.clone();
            distinct.sort();
            distinct.dedup();
            o.observed_value = json!(distinct.iter().take(PARTIAL).collect::<Vec<_>>());
            let count = bad.len();
            unexpected(
                o,
                non_null,
                bad.into_iter().map(|v| json!(v)).collect(),
                count,
            );
            o.success = non_null == 0 || 1.0 - count as f64 / non_null as f64 >= mostly;
        }
        "expect_column_values_to_be_unique" => {
            let keys = col.present_as_text();
            let mut seen = HashSet::new();
            let dups: Vec<&String> = keys.iter().filter(|v| !seen.insert(v.as_str())).collect();
            o.observed_value = json!({"duplicates": dups.len()});
            let count = dups.len();
            unexpected(
                o,
                non_null,
                dups.into_iter().map(|v| json!(v)).collect(),
                count,
            );
            o.success = count == 0;
        }
        _ => {}
    }
}
