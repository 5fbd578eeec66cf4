//! Expectation suites (YAML) checked against a day of a dataset: `validate_data`.
//!
//! ```yaml
//! row_count: {min: 500, max: 2000}
//! columns:
//!   customer_id: {type: int64, not_null: 1.0, unique: true}
//!   age: {type: int64, not_null: 0.9, min: 18, max: 100}
//!   segment: {type: string, not_null: 0.9, allowed: [consumer, smb, enterprise]}
//! ```
//!
//! Every expectation is checked (column present, type, not-null fraction, min and max,
//! allowed values, uniqueness, row count); the JSON report lists each with its observed
//! value and result, and the quality score is passed / total. Below `threshold` (default
//! 0.9) the task fails, or only warns with `on_failure: warn`. A suite file with a mistake is
//! reported when the DAG loads, with the suite's file, line and column.

use std::collections::HashSet;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::DataType;
use async_trait::async_trait;
use dagctl_engine::yaml::{self, Budget, Node, key_text};
use dagctl_engine::{ArgsError, Operator, TaskContext, TaskError, TaskOutcome, parse_args};
use futures::TryStreamExt;
use serde::Deserialize;

use crate::dataset::Dataset;
use crate::storage::resolve;

/// Column types a suite can expect.
const TYPES: &[&str] = &["int64", "float64", "string", "date", "timestamp", "bool"];

/// What one column is expected to be.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ColumnRule {
    /// Its type.
    pub ty: Option<String>,
    /// The least fraction of non-null values.
    pub not_null: Option<f64>,
    /// The least value (numbers).
    pub min: Option<f64>,
    /// The greatest value (numbers).
    pub max: Option<f64>,
    /// The only values allowed (strings).
    pub allowed: Option<Vec<String>>,
    /// No two non-null values alike.
    pub unique: bool,
}

/// A parsed expectation suite.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Suite {
    /// Bounds on the number of rows.
    pub row_count: (Option<u64>, Option<u64>),
    /// Rules per column, in file order.
    pub columns: Vec<(String, ColumnRule)>,
}

/// Reads a suite file; errors carry `file:line:column: message`.
///
/// # Errors
/// Every problem found, one per line.
pub fn load_suite(path: &str) -> Result<Suite, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read expectation suite `{path}`: {e} (a relative path is read from the DAG file's folder)"))?;
    parse_suite(&text, path)
}

/// Parses a suite's text (`file` names it in errors).
///
/// # Errors
/// Every problem found, one per line.
pub fn parse_suite(text: &str, file: &str) -> Result<Suite, String> {
    let docs = yaml::parse(text, Budget::default()).map_err(|e| format!("{file}:{e}"))?;
    let mut errors = Vec::new();
    let mut err = |n: &Node, msg: String| errors.push(format!("{file}:{}: {msg}", n.pos));
    let mut suite = Suite::default();
    let Some(root) = docs.first().and_then(|d| d.as_map().map(|m| (d, m))) else {
        return Err(format!(
            "{file}:1:1: an expectation suite is a mapping with `columns` (and `row_count`)"
        ));
    };
    for (k, v) in root.1 {
        match key_text(k).as_str() {
            "row_count" => {
                for (bk, bv) in v.as_map().unwrap_or_default() {
                    let n = bv.as_scalar().and_then(|t| t.parse::<u64>().ok());
                    match (key_text(bk).as_str(), n) {
                        ("min", Some(n)) => suite.row_count.0 = Some(n),
                        ("max", Some(n)) => suite.row_count.1 = Some(n),
                        ("min" | "max", None) => err(bv, "expected a whole number".into()),
                        (other, _) => err(
                            bk,
                            format!("unknown key `{other}` in `row_count` (min, max)"),
                        ),
                    }
                }
            }
            "columns" => {
                let Some(cols) = v.as_map() else {
                    err(v, "`columns` must map column names to rules".into());
                    continue;
                };
                for (ck, cv) in cols {
                    let mut rule = ColumnRule::default();
                    for (rk, rv) in cv.as_map().unwrap_or_default() {
                        let num = || rv.as_scalar().and_then(|t| t.parse::<f64>().ok());
                        match key_text(rk).as_str() {
                            "type" => match rv.as_scalar() {
                                Some(t) if TYPES.contains(&t) => rule.ty = Some(t.to_string()),
                                _ => {
                                    err(rv, format!("unknown type; types are {}", TYPES.join(", ")))
                                }
                            },
                            "not_null" => match num().filter(|f| (0.0..=1.0).contains(f)) {
                                Some(f) => rule.not_null = Some(f),
                                None => err(rv, "`not_null` is a fraction between 0 and 1".into()),
                            },
                            "min" => {
                                rule.min = num().or_else(|| {
                                    err(rv, "`min` must be a number".into());
                                    None
                                })
                            }
                            "max" => {
                                rule.max = num().or_else(|| {
                                    err(rv, "`max` must be a number".into());
                                    None
                                })
                            }
                            "allowed" => match rv.as_seq() {
                                Some(items) => {
                                    rule.allowed = Some(items.iter().map(key_text).collect())
                                }
                                None => err(rv, "`allowed` is a list of values".into()),
                            },
                            "unique" => match rv.as_scalar().and_then(yaml::parse_bool) {
                                Some(b) => rule.unique = b,
                                None => err(rv, "`unique` is true or false".into()),
                            },
                            other => {
                                let known = ["type", "not_null", "min", "max", "allowed", "unique"];
                                let hint = dagctl_engine::suggest::closest(other, known)
                                    .map(|c| format!("; did you mean `{c}`?"))
                                    .unwrap_or_else(|| format!("; rules are {}", known.join(", ")));
                                err(rk, format!("unknown rule `{other}`{hint}"));
                            }
                        }
                    }
                    suite.columns.push((key_text(ck), rule));
                }
            }
            other => err(
                k,
                format!("unknown key `{other}` (a suite has `row_count` and `columns`)"),
            ),
        }
    }
    if errors.is_empty() {
        Ok(suite)
    } else {
        Err(errors.join("\n"))
    }
}

/// The result of one expectation.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Outcome {
    /// What was expected, in words.
    pub expectation: String,
    /// The column, if any.
    pub column: Option<String>,
    /// What was observed.
    pub observed: serde_json::Value,
    /// Whether it held.
    pub passed: bool,
}

fn type_name(t: &DataType) -> &'static str {
    match t {
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => "int64",
        DataType::Float32 | DataType::Float64 => "float64",
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "string",
        DataType::Date32 | DataType::Date64 => "date",
        DataType::Timestamp(..) => "timestamp",
        DataType::Boolean => "bool",
        _ => "other",
    }
}

/// Checks a suite against rows; returns every outcome.
pub fn check(suite: &Suite, batches: &[RecordBatch]) -> Vec<Outcome> {
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let mut out = Vec::new();
    let (lo, hi) = suite.row_count;
    if lo.is_some() || hi.is_some() {
        let ok = lo.is_none_or(|l| rows as u64 >= l) && hi.is_none_or(|h| rows as u64 <= h);
        out.push(Outcome {
            expectation: format!(
                "row count in [{}, {}]",
                lo.map_or("-".into(), |l| l.to_string()),
                hi.map_or("-".into(), |h| h.to_string())
            ),
            column: None,
            observed: rows.into(),
            passed: ok,
        });
    }
    for (name, rule) in &suite.columns {
        let col = |e: String, observed: serde_json::Value, passed: bool| Outcome {
            expectation: e,
            column: Some(name.clone()),
            observed,
            passed,
        };
        let arrays: Vec<&dyn Array> = batches
            .iter()
            .filter_map(|b| b.column_by_name(name).map(|a| a.as_ref()))
            .collect();
        let present = !batches.is_empty() && arrays.len() == batches.len();
        out.push(col("column is present".into(), present.into(), present));
        if !present {
            continue;
        }
        let ty = type_name(arrays[0].data_type());
        if let Some(want) = &rule.ty {
            out.push(col(format!("type is {want}"), ty.into(), ty == want));
        }
        let nulls: usize = arrays.iter().map(|a| a.null_count()).sum();
        if let Some(f) = rule.not_null {
            let frac = if rows == 0 {
                1.0
            } else {
                1.0 - nulls as f64 / rows as f64
            };
            out.push(col(
                format!("not-null fraction ≥ {f}"),
                serde_json::json!((frac * 1e4).round() / 1e4),
                frac >= f,
            ));
        }
        // Ranges apply to the columns typed as numbers (every integer and float width).
        let numbers: Vec<f64> = if matches!(ty, "int64" | "float64") {
            arrays
                .iter()
                .filter_map(|a| crate::columns::floats(*a).ok())
                .flatten()
                .filter(|v| !v.is_nan())
                .collect()
        } else {
            Vec::new()
        };
        if let Some(min) = rule.min {
            let seen = numbers.iter().copied().fold(f64::INFINITY, f64::min);
            out.push(col(
                format!("min ≥ {min}"),
                serde_json::json!(seen),
                numbers.is_empty() || seen >= min,
            ));
        }
        if let Some(max) = rule.max {
            let seen = numbers.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            out.push(col(
                format!("max ≤ {max}"),
                serde_json::json!(seen),
                numbers.is_empty() || seen <= max,
            ));
        }
        let strings: Vec<String> = arrays
            .iter()
            .filter(|a| matches!(a.data_type(), DataType::Utf8))
            .flat_map(|a| {
                a.as_string::<i32>()
                    .iter()
                    .flatten()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect();
        if let Some(allowed) = &rule.allowed {
            let bad: std::collections::BTreeSet<&str> = strings
                .iter()
                .map(String::as_str)
                .filter(|s| !allowed.iter().any(|a| a == s))
                .collect();
            out.push(col(
                format!("values in {allowed:?}"),
                serde_json::json!(bad.iter().take(5).collect::<Vec<_>>()),
                bad.is_empty(),
            ));
        }
        if rule.unique {
            let dup = if !numbers.is_empty() {
                let mut seen = HashSet::new();
                numbers.iter().filter(|v| !seen.insert(v.to_bits())).count()
            } else {
                let mut seen = HashSet::new();
                strings.iter().filter(|v| !seen.insert(v.as_str())).count()
            };
            out.push(col(
                "values are unique".into(),
                serde_json::json!({"duplicates": dup}),
                dup == 0,
            ));
        }
    }
    out
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    /// The suite file (relative to the directory dagctl runs in).
    suite: String,
    #[serde(default = "raw_data")]
    dataset: String,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    conn_id: Option<String>,
    #[serde(default = "ninety")]
    threshold: f64,
    #[serde(default = "fail")]
    on_failure: String,
}

fn raw_data() -> String {
    "raw_data".into()
}
fn ninety() -> f64 {
    0.9
}
fn fail() -> String {
    "fail".into()
}

/// `validate_data`: checks a suite against the logical date's partition of a dataset.
#[derive(Debug, Clone, Copy, Default)]
pub struct ValidateData;

#[async_trait]
impl Operator for ValidateData {
    fn name(&self) -> &str {
        "validate_data"
    }

    fn summary(&self) -> &str {
        "checks an expectation suite against a day of a dataset; JSON report and quality score"
    }

    fn path_args(&self) -> &'static [&'static str] {
        &["suite"]
    }

    fn check_args(&self, args: &serde_json::Value) -> Result<(), ArgsError> {
        let a: Args = parse_args(args)?;
        if !matches!(a.on_failure.as_str(), "fail" | "warn") {
            return Err(ArgsError::at("on_failure", "use `fail` or `warn`"));
        }
        if !(0.0..=1.0).contains(&a.threshold) {
            return Err(ArgsError::at("threshold", "a fraction between 0 and 1"));
        }
        if !a.suite.contains("{{") {
            load_suite(&a.suite).map_err(|e| ArgsError::at("suite", e))?;
        }
        Ok(())
    }

    async fn execute(&self, ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
        let a: Args = ctx.args()?;
        let suite = load_suite(&a.suite).map_err(TaskError::fatal)?;
        let day = ctx.logical_date.date_naive();
        let location = resolve(ctx, a.url.as_deref(), a.conn_id.as_deref()).await?;
        let ds = Dataset::new(location.clone(), &a.dataset);
        let batches: Vec<RecordBatch> = ds
            .read(day, day)
            .try_collect()
            .await
            .map_err(|e| TaskError::retryable(e.to_string()))?;
        if batches.is_empty() {
            return Err(TaskError::fatal(format!(
                "no data in `{}` for {day}",
                a.dataset
            )));
        }
        let outcomes = check(&suite, &batches);
        let passed = outcomes.iter().filter(|o| o.passed).count();
        let score = passed as f64 / outcomes.len().max(1) as f64;
        let report = serde_json::json!({
            "dataset": a.dataset,
            "day": day.to_string(),
            "suite": a.suite,
            "score": score,
            "passed": passed,
            "total": outcomes.len(),
            "threshold": a.threshold,
            "expectations": outcomes,
        });
        let key = object_store::path::Path::from(format!(
            "{}/_validation_report.json",
            ds.day_prefix(day)
        ));
        location
            .put_bytes(&key, serde_json::to_vec_pretty(&report).unwrap_or_default())
            .await
            .map_err(|e| TaskError::retryable(e.to_string()))?;
        let failed: Vec<String> = outcomes
            .iter()
            .filter(|o| !o.passed)
            .map(|o| {
                format!(
                    "{} {} (observed {})",
                    o.column.as_deref().unwrap_or("table"),
                    o.expectation,
                    o.observed
                )
            })
            .collect();
        ctx.log(format!(
            "quality {score:.3} ({passed}/{} expectations) for {day}; report {key}",
            outcomes.len()
        ));
        for f in &failed {
            ctx.log(format!("failed: {f}"));
        }
        if score < a.threshold {
            let msg = format!("quality {score:.3} is below the threshold {}", a.threshold);
            if a.on_failure == "fail" {
                return Err(TaskError::fatal(format!(
                    "{msg}; failed: {}",
                    failed.join("; ")
                )));
            }
            ctx.log(format!("WARNING: {msg} (on_failure: warn)"));
        }
        Ok(TaskOutcome::Success(Some(serde_json::json!({
            "score": score, "passed": passed, "total": outcomes.len(), "report": key.to_string(),
        }))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::{GenerateArgs, generate};
    use chrono::NaiveDate;

    const SUITE: &str = "row_count: {min: 800, max: 1300}\ncolumns:\n  customer_id: {type: int64, not_null: 1.0, unique: true}\n  age: {type: int64, not_null: 0.9, min: 18, max: 100}\n  segment: {type: string, not_null: 0.9, allowed: [consumer, smb, enterprise]}\n  churned: {type: int64, min: 0, max: 1}\n";

    #[test]
    fn a_suite_scores_generated_data() {
        let suite = parse_suite(SUITE, "s.yaml").unwrap();
        let args: GenerateArgs = parse_args(&serde_json::json!({})).unwrap();
        let b = generate(NaiveDate::from_ymd_opt(2026, 1, 5).unwrap(), &args);
        let out = check(&suite, &[b]);
        let failed: Vec<&Outcome> = out.iter().filter(|o| !o.passed).collect();
        // Injected outliers push `age` above 100: exactly that expectation fails.
        assert_eq!(failed.len(), 1, "{failed:?}");
        assert_eq!(failed[0].expectation, "max ≤ 100");
        assert_eq!(
            out.len(),
            18,
            "1 row count + 4 + 5 + 4 + 4 column expectations"
        );
    }

    #[test]
    fn ranges_hold_for_every_integer_and_float_width() {
        use arrow::array::{Float32Array, Int32Array};
        use arrow::datatypes::{Field, Schema};
        let schema = std::sync::Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int32, false),
            Field::new("x", DataType::Float32, false),
        ]));
        let b = RecordBatch::try_new(
            schema,
            vec![
                std::sync::Arc::new(Int32Array::from(vec![1, 50])),
                std::sync::Arc::new(Float32Array::from(vec![0.5, -2.0])),
            ],
        )
        .unwrap();
        let suite = parse_suite(
            "columns:\n  n: {type: int64, max: 10}\n  x: {min: 0}\n",
            "s.yaml",
        )
        .unwrap();
        let failed: Vec<String> = check(&suite, &[b])
            .into_iter()
            .filter(|o| !o.passed)
            .map(|o| format!("{} {}", o.column.unwrap_or_default(), o.expectation))
            .collect();
        assert_eq!(failed, ["n max ≤ 10", "x min ≥ 0"]);
    }

    #[test]
    fn suite_mistakes_are_located() {
        let e = parse_suite("columns:\n  age: {typ: int64, not_null: 2}\n", "s.yaml").unwrap_err();
        assert!(
            e.contains("s.yaml:2:9: unknown rule `typ`; did you mean `type`?"),
            "{e}"
        );
        assert!(
            e.contains("s.yaml:2:31: `not_null` is a fraction between 0 and 1"),
            "{e}"
        );
    }
}
