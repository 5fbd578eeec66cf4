//! `generate_customers`: a day of synthetic customers, deterministic for its logical date.
//!
//! Each logical date gets 800–1,300 rows (seeded from the date, so a rerun writes the same
//! day) with `customer_id`, `signup_date`, `age`, `tenure_months`, `segment`, `region`, `plan`,
//! `monthly_spend`, `transactions`, `support_tickets`, `sessions`, `last_login`,
//! `event_timestamp` and the target `churned` (0/1).
//!
//! **The churn formula.** `churned` is drawn from a logistic model of the attributes,
//! `P(churn) = 1 / (1 + e^-logit)` with
//!
//! ```text
//! logit = -0.6 + 2.2 * [support_tickets >= 4] + 0.07 * days_since_login
//!         - 0.07 * tenure_months + 1.4 * [plan = basic]
//!         - 0.9 * ln(1 + monthly_spend / 50) - 0.04 * sessions + 0.8 * [segment = consumer]
//! ```
//!
//! A model that learns it clearly beats the majority class.
//!
//! **Imperfect on purpose.** About 5 % of `age`, `monthly_spend`, `support_tickets` and
//! `segment` are missing (null), and about 2 % of `monthly_spend`, `sessions` and `age` are
//! outliers (spend ×12, sessions ×15, age 95–120), so validation and preparation have real
//! work. The `drift` argument multiplies `monthly_spend` and `sessions` and shifts `age` from a
//! given date on (an empty date: no drift), to demonstrate drift detection and retraining: it
//! changes how those columns are *recorded* (a unit change upstream), not how customers
//! behave, so a model trained before the date misreads the drifted days.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use async_trait::async_trait;
use chrono::{Datelike, NaiveDate};
use dagctl_engine::{ArgsError, Operator, TaskContext, TaskError, TaskOutcome, parse_args};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, LogNormal, Normal};
use serde::Deserialize;

use crate::dataset::Dataset;
use crate::storage::resolve;

/// Shifts applied from a date on, to simulate drift.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Drift {
    /// The first logical date that drifts (`2026-01-10`).
    pub from: String,
    /// Multiplier of `monthly_spend` (default 1).
    #[serde(default = "one")]
    pub monthly_spend: f64,
    /// Multiplier of `sessions` (default 1).
    #[serde(default = "one")]
    pub sessions: f64,
    /// Years added to `age` (default 0).
    #[serde(default)]
    pub age_shift: f64,
}

fn one() -> f64 {
    1.0
}

/// What to generate.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GenerateArgs {
    /// The dataset to write the day into (default `raw_data`).
    #[serde(default = "raw_data")]
    pub dataset: String,
    /// Where (a storage URL); the engine's data location by default.
    #[serde(default)]
    pub url: Option<String>,
    /// A named connection instead of `url`.
    #[serde(default)]
    pub conn_id: Option<String>,
    /// Fewest rows of a day (default 800).
    #[serde(default = "rows_min")]
    pub rows_min: u32,
    /// Most rows of a day (default 1,300).
    #[serde(default = "rows_max")]
    pub rows_max: u32,
    /// Mixed into the date's seed, for other but still reproducible data.
    #[serde(default)]
    pub seed: u64,
    /// Fraction of missing values in the affected columns (default 0.05).
    #[serde(default = "missing")]
    pub missing_fraction: f64,
    /// Fraction of outliers in the affected columns (default 0.02).
    #[serde(default = "outliers")]
    pub outlier_fraction: f64,
    /// Distribution shifts from a date on.
    #[serde(default)]
    pub drift: Option<Drift>,
}

fn raw_data() -> String {
    "raw_data".into()
}
fn rows_min() -> u32 {
    800
}
fn rows_max() -> u32 {
    1300
}
fn missing() -> f64 {
    0.05
}
fn outliers() -> f64 {
    0.02
}

impl GenerateArgs {
    fn check(&self) -> Result<(), ArgsError> {
        if self.rows_min == 0 || self.rows_min > self.rows_max {
            return Err(ArgsError::at("rows_min", "need 1 ≤ rows_min ≤ rows_max"));
        }
        for (name, v) in [
            ("missing_fraction", self.missing_fraction),
            ("outlier_fraction", self.outlier_fraction),
        ] {
            if !(0.0..=0.5).contains(&v) {
                return Err(ArgsError::at(name, "must be between 0 and 0.5"));
            }
        }
        // An empty date means no drift; a template is rendered when the task runs.
        if let Some(d) = &self.drift
            && !d.from.trim().is_empty()
            && !d.from.contains("{{")
            && dagctl_engine::spec::parse_date(&d.from).is_none()
        {
            return Err(ArgsError::invalid(
                vec![
                    dagctl_engine::yaml::PathSegment::Key("drift".into()),
                    dagctl_engine::yaml::PathSegment::Key("from".into()),
                ],
                format!("`{}` is not a date like 2026-01-10", d.from),
            ));
        }
        Ok(())
    }
}

/// The stated churn model (see the module docs): the log-odds of churning.
pub fn churn_logit(
    support_tickets: i64,
    days_since_login: f64,
    tenure_months: i64,
    plan: &str,
    monthly_spend: f64,
    sessions: i64,
    segment: &str,
) -> f64 {
    let flag = |b: bool| f64::from(u8::from(b));
    -0.6 + 2.2 * flag(support_tickets >= 4) + 0.07 * days_since_login - 0.07 * tenure_months as f64
        + 1.4 * flag(plan == "basic")
        - 0.9 * (1.0 + monthly_spend / 50.0).ln()
        - 0.04 * sessions as f64
        + 0.8 * flag(segment == "consumer")
}

/// The schema of generated customers.
pub fn schema() -> Arc<Schema> {
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Int64, false),
        Field::new("signup_date", DataType::Date32, false),
        Field::new("age", DataType::Int64, true),
        Field::new("tenure_months", DataType::Int64, false),
        Field::new("segment", DataType::Utf8, true),
        Field::new("region", DataType::Utf8, false),
        Field::new("plan", DataType::Utf8, false),
        Field::new("monthly_spend", DataType::Float64, true),
        Field::new("transactions", DataType::Int64, false),
        Field::new("support_tickets", DataType::Int64, true),
        Field::new("sessions", DataType::Int64, false),
        Field::new("last_login", ts.clone(), false),
        Field::new("event_timestamp", ts, false),
        Field::new("churned", DataType::Int64, false),
    ]))
}

/// Generates the customers of one day: the same rows for the same day and arguments.
pub fn generate(day: NaiveDate, a: &GenerateArgs) -> RecordBatch {
    let day_number = i64::from(day.num_days_from_ce());
    let mut rng =
        StdRng::seed_from_u64((day_number as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ a.seed);
    let n = rng.random_range(a.rows_min..=a.rows_max) as usize;
    let drift = a.drift.as_ref().filter(|d| {
        dagctl_engine::spec::parse_date(d.from.trim()).is_some_and(|from| day >= from.date_naive())
    });
    let (spend_mult, sessions_mult, age_shift) = drift.map_or((1.0, 1.0, 0.0), |d| {
        (d.monthly_spend, d.sessions, d.age_shift)
    });
    let day_start = day
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default()
        .and_utc()
        .timestamp_micros();
    let day_us = 86_400_000_000i64;
    let spend_dist = LogNormal::new(4.0, 0.6).unwrap_or_else(|_| unreachable!());
    let age_dist = Normal::new(42.0, 13.0).unwrap_or_else(|_| unreachable!());
    let segments = ["consumer", "smb", "enterprise"];
    let regions = ["north", "south", "east", "west"];
    let plans = ["basic", "standard", "premium"];

    let mut cols: Vec<Vec<Option<f64>>> = (0..14).map(|_| Vec::with_capacity(n)).collect();
    let mut seg_col = Vec::with_capacity(n);
    let mut region_col = Vec::with_capacity(n);
    let mut plan_col = Vec::with_capacity(n);
    let missing = |rng: &mut StdRng| rng.random_bool(a.missing_fraction);
    for i in 0..n {
        let segment = segments[rng.random_range(0..3usize)];
        let plan = plans[[0, 0, 1, 1, 1, 2][rng.random_range(0..6usize)]];
        let tenure = rng.random_range(0..96i64);
        let mut age = (age_dist.sample(&mut rng) + age_shift)
            .clamp(18.0, 90.0)
            .round();
        // Drift changes how spend and sessions are recorded (a unit change upstream), not
        // what customers do: churn follows the true values, so a model that learned the old
        // recording misreads the new one.
        let true_spend = spend_dist.sample(&mut rng) * if plan == "premium" { 1.8 } else { 1.0 };
        let mut spend = true_spend * spend_mult;
        let true_sessions = rng.random_range(0..60i64) as f64;
        let mut sessions = (true_sessions * sessions_mult).round();
        let tickets = rng.random_range(0..8i64).min(rng.random_range(0..8i64));
        let days_since_login = (rng.random::<f64>().powi(2) * 60.0).round();
        let transactions = (true_spend / 25.0 + rng.random_range(0..10i64) as f64).round();
        let logit = churn_logit(
            tickets,
            days_since_login,
            tenure,
            plan,
            true_spend,
            true_sessions as i64,
            segment,
        );
        let churned = rng.random_bool(1.0 / (1.0 + (-logit).exp()));
        // Outliers after the target: they are measurement errors, not behaviour.
        if rng.random_bool(a.outlier_fraction) {
            spend *= 12.0;
        }
        if rng.random_bool(a.outlier_fraction) {
            sessions *= 15.0;
        }
        if rng.random_bool(a.outlier_fraction) {
            age = rng.random_range(95..=120i64) as f64;
        }
        let event = day_start + rng.random_range(0..day_us);
        let last_login = event - (days_since_login as i64) * day_us;
        let signup =
            day.num_days_from_ce() - 719_163 - (tenure as i32) * 30 - rng.random_range(0..30i32);
        let values = [
            Some((day_number * 100_000 + i as i64) as f64),
            Some(f64::from(signup)),
            (!missing(&mut rng)).then_some(age),
            Some(tenure as f64),
            None,
            None,
            None,
            (!missing(&mut rng)).then_some((spend * 100.0).round() / 100.0),
            Some(transactions),
            (!missing(&mut rng)).then_some(tickets as f64),
            Some(sessions),
            Some(last_login as f64),
            Some(event as f64),
            Some(f64::from(u8::from(churned))),
        ];
        for (c, v) in cols.iter_mut().zip(values) {
            c.push(v);
        }
        seg_col.push((!missing(&mut rng)).then_some(segment));
        region_col.push(regions[rng.random_range(0..4usize)]);
        plan_col.push(plan);
    }
    let int = |c: &Vec<Option<f64>>| -> ArrayRef {
        Arc::new(Int64Array::from(
            c.iter().map(|v| v.map(|x| x as i64)).collect::<Vec<_>>(),
        ))
    };
    let ts = |c: &Vec<Option<f64>>| -> ArrayRef {
        Arc::new(
            TimestampMicrosecondArray::from(
                c.iter().map(|v| v.map(|x| x as i64)).collect::<Vec<_>>(),
            )
            .with_timezone("UTC"),
        )
    };
    let columns: Vec<ArrayRef> = vec![
        int(&cols[0]),
        Arc::new(Date32Array::from(
            cols[1]
                .iter()
                .map(|v| v.map(|x| x as i32))
                .collect::<Vec<_>>(),
        )),
        int(&cols[2]),
        int(&cols[3]),
        Arc::new(StringArray::from(seg_col)),
        Arc::new(StringArray::from(region_col)),
        Arc::new(StringArray::from(plan_col)),
        Arc::new(Float64Array::from(cols[7].clone())),
        int(&cols[8]),
        int(&cols[9]),
        int(&cols[10]),
        ts(&cols[11]),
        ts(&cols[12]),
        int(&cols[13]),
    ];
    RecordBatch::try_new(schema(), columns).unwrap_or_else(|e| unreachable!("schema matches: {e}"))
}

/// The operator.
#[derive(Debug, Clone, Copy, Default)]
pub struct GenerateCustomers;

#[async_trait]
impl Operator for GenerateCustomers {
    fn name(&self) -> &str {
        "generate_customers"
    }

    fn summary(&self) -> &str {
        "writes a day of synthetic customers (deterministic per logical date) into a dataset"
    }

    fn check_args(&self, args: &serde_json::Value) -> Result<(), ArgsError> {
        parse_args::<GenerateArgs>(args)?.check()
    }

    async fn execute(&self, ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
        let a: GenerateArgs = ctx.args()?;
        let day = ctx.logical_date.date_naive();
        let location = resolve(ctx, a.url.as_deref(), a.conn_id.as_deref()).await?;
        let shown = location.url.clone();
        let args = a.clone();
        let batch = tokio::task::spawn_blocking(move || generate(day, &args))
            .await
            .map_err(|e| TaskError::retryable(e.to_string()))?;
        let rows = batch.num_rows();
        let written = Dataset::new(location, &a.dataset)
            .write_day(day, vec![batch])
            .await
            .map_err(|e| TaskError::retryable(e.to_string()))?;
        ctx.log(format!(
            "wrote {rows} customers for {day} to {shown} ({})",
            written.key
        ));
        Ok(TaskOutcome::Success(Some(serde_json::json!({
            "summary": format!("{rows} customers for {day} in {}", written.key),
            "rows": rows,
            "dataset": a.dataset,
            "day": day.to_string(),
            "key": written.key,
        }))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Array;

    fn args() -> GenerateArgs {
        parse_args(&serde_json::json!({})).unwrap()
    }

    #[test]
    fn same_day_same_rows_other_day_other_rows() {
        let d = NaiveDate::from_ymd_opt(2026, 1, 5).unwrap();
        let a = generate(d, &args());
        let b = generate(d, &args());
        assert_eq!(a, b, "deterministic for a date");
        let c = generate(d.succ_opt().unwrap(), &args());
        assert_ne!(a.num_rows(), 0);
        assert_ne!(a, c);
        for day in 1..=20 {
            let n = generate(NaiveDate::from_ymd_opt(2026, 2, day).unwrap(), &args()).num_rows();
            assert!((800..=1300).contains(&n), "{n} rows");
        }
    }

    #[test]
    fn about_five_percent_missing_and_a_learnable_target() {
        let mut rows = 0;
        let mut null_spend = 0;
        let mut churned = 0;
        for day in 1..=10 {
            let b = generate(NaiveDate::from_ymd_opt(2026, 3, day).unwrap(), &args());
            rows += b.num_rows();
            null_spend += b.column_by_name("monthly_spend").unwrap().null_count();
            let c = b
                .column_by_name("churned")
                .unwrap()
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap();
            churned += c.iter().flatten().sum::<i64>() as usize;
        }
        let missing = null_spend as f64 / rows as f64;
        assert!((0.035..0.065).contains(&missing), "{missing}");
        let rate = churned as f64 / rows as f64;
        assert!(
            (0.15..0.6).contains(&rate),
            "churn rate {rate}: both classes present"
        );
    }

    #[test]
    fn the_target_is_learnable_beyond_the_majority_class() {
        // Score every row with the stated formula (outliers and missing values included): if
        // the attributes carry the signal, this beats always predicting the majority class.
        let (mut right, mut churned, mut rows) = (0usize, 0usize, 0usize);
        for day in 1..=15 {
            let b = generate(NaiveDate::from_ymd_opt(2026, 4, day).unwrap(), &args());
            let int = |c: &str| {
                b.column_by_name(c)
                    .unwrap()
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .unwrap()
                    .clone()
            };
            let text = |c: &str| {
                b.column_by_name(c)
                    .unwrap()
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .unwrap()
                    .clone()
            };
            let ts = |c: &str| {
                b.column_by_name(c)
                    .unwrap()
                    .as_any()
                    .downcast_ref::<TimestampMicrosecondArray>()
                    .unwrap()
                    .clone()
            };
            let spend = b
                .column_by_name("monthly_spend")
                .unwrap()
                .as_any()
                .downcast_ref::<Float64Array>()
                .unwrap()
                .clone();
            let (tickets, tenure, sessions, target) = (
                int("support_tickets"),
                int("tenure_months"),
                int("sessions"),
                int("churned"),
            );
            let (plan, segment) = (text("plan"), text("segment"));
            let (login, event) = (ts("last_login"), ts("event_timestamp"));
            for i in 0..b.num_rows() {
                let days_since = (event.value(i) - login.value(i)) as f64 / 86_400e6;
                let logit = churn_logit(
                    if tickets.is_valid(i) {
                        tickets.value(i)
                    } else {
                        0
                    },
                    days_since,
                    tenure.value(i),
                    plan.value(i),
                    if spend.is_valid(i) {
                        spend.value(i)
                    } else {
                        60.0
                    },
                    sessions.value(i),
                    if segment.is_valid(i) {
                        segment.value(i)
                    } else {
                        ""
                    },
                );
                let predicted = logit > 0.0;
                let actual = target.value(i) == 1;
                right += usize::from(predicted == actual);
                churned += usize::from(actual);
                rows += 1;
            }
        }
        let accuracy = right as f64 / rows as f64;
        let majority = churned.max(rows - churned) as f64 / rows as f64;
        assert!(
            accuracy > majority + 0.05,
            "accuracy {accuracy:.3} vs majority class {majority:.3}"
        );
    }

    #[test]
    fn drift_shifts_spend_from_its_date() {
        let mut a = args();
        a.drift = Some(Drift {
            from: "2026-01-10".into(),
            monthly_spend: 2.0,
            sessions: 1.0,
            age_shift: 0.0,
        });
        let mean = |d: u32, a: &GenerateArgs| {
            let b = generate(NaiveDate::from_ymd_opt(2026, 1, d).unwrap(), a);
            let s = b
                .column_by_name("monthly_spend")
                .unwrap()
                .as_any()
                .downcast_ref::<Float64Array>()
                .unwrap();
            let v: Vec<f64> = s.iter().flatten().collect();
            v.iter().sum::<f64>() / v.len() as f64
        };
        assert_eq!(mean(9, &a), mean(9, &args()), "no drift before the date");
        assert!(
            mean(12, &a) > 1.6 * mean(12, &args()),
            "spend doubled after it"
        );
        let bad: Result<GenerateArgs, _> =
            parse_args(&serde_json::json!({"rows_min": 10, "rows_max": 5}));
        assert!(bad.unwrap().check().is_err());
    }
}
