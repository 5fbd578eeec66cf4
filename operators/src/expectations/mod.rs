//! Expectation suites checked against a day of a dataset: `validate_data`.
//!
//! A suite ([`suite`]) is written in dagctl's compact per-column form or as Great
//! Expectations' list of `expect_…` expectations. Every expectation is checked ([`check`](mod@check));
//! the JSON report (`_validation_report.json`) lists each with Great Expectations' fields, and
//! a self-contained HTML page (`_validation_report.html`, [`html`]) shows it. The quality
//! score is passed / total; the task fails when a **critical** expectation fails (a missing
//! column, a wrong type) whatever the score, or when the score is below `threshold`
//! (default 0.9) — or only warns with `on_failure: warn`. A suite file with a mistake is
//! reported when the DAG loads, with the suite's file, line and column.

pub mod check;
pub mod html;
pub mod suite;

use arrow::array::RecordBatch;
use async_trait::async_trait;
use dagctl_engine::{ArgsError, Operator, TaskContext, TaskError, TaskOutcome, parse_args};
use futures::TryStreamExt;
use serde::Deserialize;

pub use check::{Outcome, check};
pub use suite::{Expectation, Suite, load_suite, parse_suite};

use crate::dataset::Dataset;
use crate::storage::resolve;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    /// The suite file (relative to the DAG file's folder).
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
        let passed = outcomes.iter().filter(|o| o.success).count();
        let score = passed as f64 / outcomes.len().max(1) as f64;
        let critical: Vec<&Outcome> = outcomes
            .iter()
            .filter(|o| o.critical && !o.success)
            .collect();
        let success = critical.is_empty() && score >= a.threshold;
        let failed: Vec<String> = outcomes
            .iter()
            .filter(|o| !o.success)
            .map(|o| {
                format!(
                    "{} {} (observed {}){}",
                    o.column.as_deref().unwrap_or("table"),
                    o.expectation,
                    o.observed_value,
                    if o.critical { ", critical" } else { "" }
                )
            })
            .collect();
        let verdict = if success {
            format!("passed: quality {score:.3}")
        } else if !critical.is_empty() {
            format!("FAILED: {} critical expectation(s) failed", critical.len())
        } else {
            format!(
                "FAILED: quality {score:.3} is below the threshold {}",
                a.threshold
            )
        };
        let report = serde_json::json!({
            "dataset": a.dataset,
            "day": day.to_string(),
            "suite": a.suite,
            "success": success,
            "score": score,
            "passed": passed,
            "total": outcomes.len(),
            "threshold": a.threshold,
            "statistics": {
                "evaluated_expectations": outcomes.len(),
                "successful_expectations": passed,
                "unsuccessful_expectations": outcomes.len() - passed,
                "success_percent": score * 100.0,
            },
            "critical_failures": critical.len(),
            "results": outcomes,
        });
        let prefix = ds.day_prefix(day);
        let key = object_store::path::Path::from(format!("{prefix}/_validation_report.json"));
        let page_key = object_store::path::Path::from(format!("{prefix}/_validation_report.html"));
        let page = html::render(
            &format!("Validation of {} on {day}", a.dataset),
            &verdict,
            score,
            a.threshold,
            &outcomes,
        );
        for (k, bytes) in [
            (&key, serde_json::to_vec_pretty(&report).unwrap_or_default()),
            (&page_key, page.into_bytes()),
        ] {
            location
                .put_bytes(k, bytes)
                .await
                .map_err(|e| TaskError::retryable(e.to_string()))?;
        }
        ctx.log(format!(
            "quality {score:.3} ({passed}/{} expectations) for {day}; report {key}, page {page_key}",
            outcomes.len()
        ));
        for f in &failed {
            ctx.log(format!("failed: {f}"));
        }
        if !success {
            let msg = if critical.is_empty() {
                format!("quality {score:.3} is below the threshold {}", a.threshold)
            } else {
                format!(
                    "{} critical expectation(s) failed (quality {score:.3} does not count)",
                    critical.len()
                )
            };
            if a.on_failure == "fail" {
                return Err(TaskError::fatal(format!(
                    "{msg}; failed: {}",
                    failed.join("; ")
                )));
            }
            ctx.log(format!("WARNING: {msg} (on_failure: warn)"));
        }
        Ok(TaskOutcome::Success(Some(serde_json::json!({
            "score": score, "passed": passed, "total": outcomes.len(), "success": success,
            "report": key.to_string(), "page": page_key.to_string(),
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
        let failed: Vec<&Outcome> = out.iter().filter(|o| !o.success).collect();
        // Injected outliers push `age` above 100: exactly that expectation fails.
        assert_eq!(failed.len(), 1, "{failed:?}");
        assert_eq!(failed[0].expectation, "values in [18.0, 100.0]");
        assert_eq!(
            failed[0].expectation_type,
            "expect_column_values_to_be_between"
        );
        assert!(failed[0].unexpected_count.unwrap() > 0 && !failed[0].critical);
        assert!(!failed[0].partial_unexpected_list.is_empty());
        assert_eq!(
            out.len(),
            16,
            "1 row count + 4 + 4 + 4 + 3 column expectations"
        );
    }

    #[test]
    fn ranges_hold_for_every_integer_and_float_width() {
        use arrow::array::{Float32Array, Int32Array};
        use arrow::datatypes::{DataType, Field, Schema};
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
            .filter(|o| !o.success)
            .map(|o| format!("{} {}", o.column.unwrap_or_default(), o.expectation))
            .collect();
        assert_eq!(failed, ["n max ≤ 10.0", "x min ≥ 0.0"]);
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

    fn day_without(column: &str) -> RecordBatch {
        let args: GenerateArgs = parse_args(&serde_json::json!({})).unwrap();
        let b = generate(NaiveDate::from_ymd_opt(2026, 1, 5).unwrap(), &args);
        let i = b.schema().index_of(column).unwrap();
        let mut b = b;
        b.remove_column(i);
        b
    }

    #[test]
    fn a_missing_label_fails_critically_whatever_the_share_passed() {
        let suite = load_suite(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../dags/expectations/customers.yaml"
        ))
        .unwrap();
        let out = check(&suite, &[day_without("churned")]);
        let passed = out.iter().filter(|o| o.success).count();
        // Most expectations still pass: a share alone would let this day through.
        assert!(
            passed as f64 / out.len() as f64 > 0.9,
            "{passed}/{}",
            out.len()
        );
        let critical: Vec<&Outcome> = out.iter().filter(|o| o.critical && !o.success).collect();
        assert!(!critical.is_empty());
        assert!(
            critical
                .iter()
                .all(|o| o.column.as_deref() == Some("churned"))
        );
        assert_eq!(critical[0].observed_value, "column missing");
    }

    #[test]
    fn great_expectations_names_read_and_report_their_fields() {
        let suite = parse_suite(
            r#"
expectation_suite_name: customers
expectations:
  - expectation_type: expect_table_row_count_to_be_between
    kwargs: {min_value: 10, max_value: 5000}
  - expectation_type: expect_column_to_exist
    kwargs: {column: churned}
  - expectation_type: expect_column_values_to_not_be_null
    kwargs: {column: customer_id}
  - type: expect_column_values_to_be_between
    kwargs: {column: age, min_value: 18, max_value: 100, mostly: 0.5}
  - expectation_type: expect_column_values_to_be_in_set
    kwargs: {column: segment, value_set: [consumer, smb]}
  - expectation_type: expect_column_values_to_be_unique
    kwargs: {column: customer_id}
  - expectation_type: expect_column_values_to_be_of_type
    kwargs: {column: age, type_: string}
"#,
            "gx.yaml",
        )
        .unwrap();
        assert_eq!(suite.expectations.len(), 7);
        let args: GenerateArgs = parse_args(&serde_json::json!({})).unwrap();
        let b = generate(NaiveDate::from_ymd_opt(2026, 1, 5).unwrap(), &args);
        let out = check(&suite, &[b]);
        let by = |t: &str| out.iter().find(|o| o.expectation_type == t).unwrap();
        assert!(
            by("expect_column_values_to_be_between").success,
            "mostly 0.5"
        );
        let set = by("expect_column_values_to_be_in_set");
        assert!(!set.success);
        assert_eq!(set.observed_value, serde_json::json!(["enterprise"]));
        assert!(set.unexpected_percent.unwrap() > 0.0);
        assert!(set.partial_unexpected_list.len() <= check::PARTIAL);
        let ty = by("expect_column_values_to_be_of_type");
        assert!(!ty.success && ty.critical && ty.observed_value == "int64");
        let json = serde_json::to_value(set).unwrap();
        for field in [
            "success",
            "observed_value",
            "unexpected_count",
            "unexpected_percent",
            "partial_unexpected_list",
        ] {
            assert!(json.get(field).is_some(), "{field} in {json}");
        }
        // The page stands alone: no external script, style, font or image.
        let page = html::render("t <b>", "FAILED", 0.5, 0.9, &out);
        assert!(page.contains("&lt;b&gt;") && page.contains("expect_column_values_to_be_in_set"));
        for external in [
            "<script", "<link", "src=", "http:", "https:", "@import", "url(",
        ] {
            assert!(!page.contains(external), "{external}");
        }
        let e = parse_suite(
            "expectations:\n  - expectation_type: expect_column_values_to_be_betwen\n    kwargs: {column: a}\n",
            "gx.yaml",
        )
        .unwrap_err();
        assert!(e.contains("gx.yaml:2:5: unknown expectation `expect_column_values_to_be_betwen`; did you mean `expect_column_values_to_be_between`?"), "{e}");
    }

    #[test]
    fn a_file_that_is_not_a_suite_is_never_echoed() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("shadow");
        std::fs::write(
            &secret,
            "root:$6$saltsalt$hashhashhash:19000:0:99999:7:::\n",
        )
        .unwrap();
        let e = load_suite(&secret.display().to_string()).unwrap_err();
        assert!(!e.contains("hashhash") && !e.contains("saltsalt"), "{e}");
        let e = load_suite("/dev/zero").unwrap_err();
        assert!(e.contains("not a regular file"), "{e}");
    }

    #[test]
    fn sets_and_uniqueness_read_every_type_exactly() {
        use arrow::array::{BooleanArray, Int64Array};
        use arrow::datatypes::{DataType, Field, Schema};
        let schema = std::sync::Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("active", DataType::Boolean, false),
        ]));
        let b = RecordBatch::try_new(
            schema,
            vec![
                std::sync::Arc::new(Int64Array::from(vec![
                    9_007_199_254_740_993,
                    9_007_199_254_740_992,
                ])),
                std::sync::Arc::new(BooleanArray::from(vec![true, false])),
            ],
        )
        .unwrap();
        let suite = parse_suite(
            "columns:\n  id: {unique: true}\n  active: {allowed: [true]}\n",
            "s.yaml",
        )
        .unwrap();
        let failed: Vec<String> = check(&suite, &[b])
            .into_iter()
            .filter(|o| !o.success)
            .map(|o| format!("{} {}", o.column.unwrap_or_default(), o.expectation_type))
            .collect();
        // Ids past 2^53 stay distinct; a boolean outside its set is caught.
        assert_eq!(failed, ["active expect_column_values_to_be_in_set"]);
        let e = parse_suite(
            "expectations:\n  - {expectation_type: expect_column_values_to_be_between, kwargs: {column: a, max_value: '100'}}\n  - {expectation_type: expect_table_row_count_to_be_between, kwargs: {min_value: 500.5}}\n",
            "gx.yaml",
        )
        .unwrap_err();
        assert!(
            e.contains("`max_value` of `expect_column_values_to_be_between` must be a number"),
            "{e}"
        );
        assert!(e.contains("must be a whole number of rows"), "{e}");
    }
}
