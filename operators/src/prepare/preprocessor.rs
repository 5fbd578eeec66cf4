//! The fitted preprocessing: cleaning, feature engineering, one-hot encoding and scaling,
//! learned on the training split and applied identically to any later rows.
//!
//! A [`Preprocessor`] is what `feature_metadata.json` holds (besides row counts and file
//! hashes), so a model trained on prepared data scores fresh raw rows exactly as it was
//! trained: load it with [`super::FeatureMetadata::from_json`] and call
//! [`Preprocessor::transform`].
//!
//! ## The features, in column order
//! 1. **Numbers** (`numeric_columns`, plus `days_since_last_login` when both timestamps are
//!    there): a missing value becomes the training median; values outside
//!    `[Q1 − 1.5·IQR, Q3 + 1.5·IQR]` of the training split are capped to that range.
//! 2. **Time**, from the event timestamp (UTC): `hour` (0–23), `day_of_week` (Monday = 0),
//!    `is_weekend` (0/1).
//! 3. **Behaviour**: `spend_per_transaction = monthly_spend / max(transactions, 1)` and
//!    `engagement_score = ln(1 + sessions) + 0.5 · ln(1 + transactions) − days_since_last_login / 15`
//!    — more sessions and purchases raise it, every fortnight without a login costs a point.
//! 4. **Risk**: `high_support_tickets` (1 when `support_tickets ≥ 4`) and `low_engagement`
//!    (1 when `engagement_score` is below the training split's 25th percentile).
//! 5. **Segment comparisons**: `monthly_spend_vs_segment`, `sessions_vs_segment`,
//!    `transactions_vs_segment` = the value divided by its segment's training mean (the
//!    overall mean for a segment never seen in training).
//! 6. **One-hot** categories: `<column>_<category>` for each category of the training split in
//!    sorted order; a missing category becomes the training mode, an unseen one sets no column.
//!
//! Features whose source columns are absent (or are labels) are left out. Numbers, `hour`,
//! `day_of_week`, behaviour scores and segment comparisons are standard-scaled with the
//! training mean and population deviation; flags and one-hot columns stay 0/1.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use serde::{Deserialize, Serialize};

use super::PrepareError;
use super::stats::{mean_std, mode, quantile, quantile_in_place};
use super::table::{Table, day_of_week, days_between, hour};

/// Which raw columns play which part.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FeatureConfig {
    /// Numeric feature columns.
    #[serde(default = "default_numeric")]
    pub numeric_columns: Vec<String>,
    /// Categorical feature columns (one-hot encoded).
    #[serde(default = "default_categorical")]
    pub categorical_columns: Vec<String>,
    /// The event timestamp, source of the time features; `null` for none.
    #[serde(default = "default_timestamp")]
    pub timestamp_column: Option<String>,
    /// The last login timestamp, source of `days_since_last_login`; `null` for none.
    #[serde(default = "default_last_login")]
    pub last_login_column: Option<String>,
    /// The categorical column whose groups the segment comparisons use; `null` for none.
    #[serde(default = "default_segment")]
    pub segment_column: Option<String>,
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_string()).collect()
}
fn default_numeric() -> Vec<String> {
    strings(&[
        "age",
        "tenure_months",
        "monthly_spend",
        "transactions",
        "support_tickets",
        "sessions",
    ])
}
fn default_categorical() -> Vec<String> {
    strings(&["segment", "region", "plan"])
}
fn default_timestamp() -> Option<String> {
    Some("event_timestamp".into())
}
fn default_last_login() -> Option<String> {
    Some("last_login".into())
}
fn default_segment() -> Option<String> {
    Some("segment".into())
}

impl Default for FeatureConfig {
    fn default() -> Self {
        FeatureConfig {
            numeric_columns: default_numeric(),
            categorical_columns: default_categorical(),
            timestamp_column: default_timestamp(),
            last_login_column: default_last_login(),
            segment_column: default_segment(),
        }
    }
}

/// The name of the computed number of days between the last login and the event.
pub const DAYS_SINCE_LOGIN: &str = "days_since_last_login";
/// Support tickets from which a customer counts as high-risk.
pub const HIGH_SUPPORT_TICKETS: f64 = 4.0;
const SEGMENT_SOURCES: [&str; 3] = ["monthly_spend", "sessions", "transactions"];

/// A cleaned numeric column: its imputation value and its IQR caps.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NumericColumn {
    /// The column (or `days_since_last_login`).
    pub name: String,
    /// Replaces missing values: the training median.
    pub median: f64,
    /// Lower cap, `Q1 − 1.5·IQR`.
    pub cap_low: f64,
    /// Upper cap, `Q3 + 1.5·IQR`.
    pub cap_high: f64,
}

/// A categorical column: its imputation value and its categories.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CategoricalColumn {
    /// The column.
    pub name: String,
    /// Replaces missing values: the training mode.
    pub mode: String,
    /// The categories seen in training, sorted; one one-hot column each.
    pub categories: Vec<String>,
}

/// Training means of a number per segment.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SegmentMeans {
    /// The compared number.
    pub column: String,
    /// Its mean over all training rows (for unseen segments).
    pub overall: f64,
    /// Its mean in each segment.
    pub by_segment: BTreeMap<String, f64>,
}

/// A standard-scaled feature.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Scaled {
    /// The feature.
    pub column: String,
    /// Training mean.
    pub mean: f64,
    /// Training population standard deviation (1 for a constant column).
    pub std: f64,
}

/// Everything learned from the training split (see the module docs).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Preprocessor {
    /// The features produced, in order.
    pub feature_columns: Vec<String>,
    /// Numeric columns: imputation and caps.
    pub numeric: Vec<NumericColumn>,
    /// Categorical columns: imputation and categories.
    pub categorical: Vec<CategoricalColumn>,
    /// The event timestamp column.
    pub timestamp_column: Option<String>,
    /// The last login column.
    pub last_login_column: Option<String>,
    /// The segment column.
    pub segment_column: Option<String>,
    /// Segment means of the compared numbers.
    pub segment_means: Vec<SegmentMeans>,
    /// `engagement_score` below this is `low_engagement`.
    pub low_engagement_threshold: Option<f64>,
    /// Scaled features, with their statistics.
    pub scaler: Vec<Scaled>,
}

/// Features of some rows, column by column.
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    /// Column names, as [`Preprocessor::feature_columns`].
    pub columns: Vec<String>,
    /// One vector per column, all of the same length.
    pub values: Vec<Vec<f64>>,
}

impl Features {
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.values.first().map_or(0, Vec::len)
    }

    /// The features as an Arrow batch of `Float64` columns.
    pub fn to_batch(&self) -> RecordBatch {
        let fields: Vec<Field> = self
            .columns
            .iter()
            .map(|c| Field::new(c, DataType::Float64, false))
            .collect();
        let arrays: Vec<ArrayRef> = self
            .values
            .iter()
            .map(|v| Arc::new(Float64Array::from(v.clone())) as ArrayRef)
            .collect();
        RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
            .unwrap_or_else(|e| unreachable!("equal columns: {e}"))
    }
}

/// Intermediate columns: cleaned numbers and category indices.
struct Cleaned {
    numbers: Vec<(String, Vec<f64>)>,
    /// Per categorical column, each row's category index (`None`: unseen in training).
    categories: Vec<Vec<Option<usize>>>,
    times: Option<Vec<Option<i64>>>,
}

impl Cleaned {
    fn number(&self, name: &str) -> Option<&[f64]> {
        self.numbers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }
}

impl Preprocessor {
    /// Learns the preprocessing from training rows.
    ///
    /// # Errors
    /// A missing or mistyped column, or a column without a single value.
    pub fn fit(batch: &RecordBatch, config: &FeatureConfig) -> Result<Preprocessor, PrepareError> {
        Ok(Self::fit_transform(batch, config)?.0)
    }

    /// Learns the preprocessing from training rows and returns their features too, computed
    /// once (what [`Preprocessor::transform`] gives for the same rows).
    ///
    /// # Errors
    /// As [`Preprocessor::fit`].
    pub fn fit_transform(
        batch: &RecordBatch,
        config: &FeatureConfig,
    ) -> Result<(Preprocessor, Features), PrepareError> {
        let t = Table::new(batch);
        let mut p = Preprocessor {
            feature_columns: Vec::new(),
            numeric: Vec::new(),
            categorical: Vec::new(),
            timestamp_column: config.timestamp_column.clone(),
            last_login_column: config
                .last_login_column
                .clone()
                .filter(|_| config.timestamp_column.is_some()),
            segment_column: config
                .segment_column
                .clone()
                .filter(|s| config.categorical_columns.contains(s)),
            segment_means: Vec::new(),
            low_engagement_threshold: None,
            scaler: Vec::new(),
        };
        let mut raw_numbers = Vec::new();
        for name in &config.numeric_columns {
            raw_numbers.push((name.clone(), t.numbers(name, "numeric column")?));
        }
        if let Some(days) = p.days_since_login(&t)? {
            raw_numbers.push((DAYS_SINCE_LOGIN.to_string(), days));
        }
        for (name, values) in raw_numbers {
            let mut present: Vec<f64> = values.into_iter().filter(|v| !v.is_nan()).collect();
            let q1 = quantile_in_place(&mut present, 0.25);
            let (Some(q1), Some(median), Some(q3)) = (
                q1,
                quantile_in_place(&mut present, 0.5),
                quantile_in_place(&mut present, 0.75),
            ) else {
                return Err(PrepareError::Empty { column: name });
            };
            let iqr = q3 - q1;
            p.numeric.push(NumericColumn {
                name,
                median,
                cap_low: q1 - 1.5 * iqr,
                cap_high: q3 + 1.5 * iqr,
            });
        }
        for name in &config.categorical_columns {
            let texts = t.texts(name, "categorical column")?;
            let mode = mode(texts.iter().flatten().map(String::as_str)).ok_or_else(|| {
                PrepareError::Empty {
                    column: name.clone(),
                }
            })?;
            let mut categories: Vec<String> = texts.into_iter().flatten().collect();
            categories.sort_unstable();
            categories.dedup();
            p.categorical.push(CategoricalColumn {
                name: name.clone(),
                mode,
                categories,
            });
        }
        let cleaned = p.clean(&t)?;
        if let Some(score) = engagement(&cleaned) {
            p.low_engagement_threshold = quantile(&score, 0.25);
        }
        if let Some(seg) = p.segment_index() {
            let codes = &cleaned.categories[seg];
            let names = &p.categorical[seg].categories;
            for source in SEGMENT_SOURCES {
                let Some(values) = cleaned.number(source) else {
                    continue;
                };
                let mut sums = vec![(0.0, 0usize); names.len()];
                for (v, c) in values.iter().zip(codes) {
                    if let Some(c) = c {
                        sums[*c].0 += v;
                        sums[*c].1 += 1;
                    }
                }
                p.segment_means.push(SegmentMeans {
                    column: source.to_string(),
                    overall: mean_std(values).0,
                    by_segment: names
                        .iter()
                        .zip(sums)
                        .filter(|(_, (_, n))| *n > 0)
                        .map(|(name, (s, n))| (name.clone(), s / n as f64))
                        .collect(),
                });
            }
        }
        let features = p.engineer(&t, &cleaned);
        p.feature_columns = features.iter().map(|f| f.name.clone()).collect();
        p.scaler = features
            .iter()
            .filter(|f| f.scaled)
            .map(|f| {
                let (mean, std) = mean_std(&f.values);
                Scaled {
                    column: f.name.clone(),
                    mean,
                    std,
                }
            })
            .collect();
        let features = p.scaled(features)?;
        Ok((p, features))
    }

    /// The features of raw rows, exactly as training computed them.
    ///
    /// # Errors
    /// A column the preprocessing needs is missing or has the wrong type.
    pub fn transform(&self, batch: &RecordBatch) -> Result<Features, PrepareError> {
        let t = Table::new(batch);
        let cleaned = self.clean(&t)?;
        self.scaled(self.engineer(&t, &cleaned))
    }

    /// Scales engineered features and checks they are the fitted columns.
    fn scaled(&self, mut features: Vec<Feature>) -> Result<Features, PrepareError> {
        for s in &self.scaler {
            if let Some(f) = features.iter_mut().find(|f| f.name == s.column) {
                for v in &mut f.values {
                    *v = (*v - s.mean) / s.std;
                }
            }
        }
        let (columns, values) = features.into_iter().map(|f| (f.name, f.values)).unzip();
        let out = Features { columns, values };
        if out.columns != self.feature_columns {
            return Err(PrepareError::Features {
                expected: self.feature_columns.join(", "),
                found: out.columns.join(", "),
            });
        }
        Ok(out)
    }

    fn segment_index(&self) -> Option<usize> {
        let seg = self.segment_column.as_ref()?;
        self.categorical.iter().position(|c| &c.name == seg)
    }

    fn days_since_login(&self, t: &Table) -> Result<Option<Vec<f64>>, PrepareError> {
        let (Some(ts), Some(login)) = (&self.timestamp_column, &self.last_login_column) else {
            return Ok(None);
        };
        if !t.has(login) {
            return Ok(None);
        }
        let at = t.micros(ts, "timestamp_column")?;
        let last = t.micros(login, "last_login_column")?;
        Ok(Some(
            at.iter()
                .zip(&last)
                .map(|(a, l)| match (a, l) {
                    (Some(a), Some(l)) => days_between(*l, *a),
                    _ => f64::NAN,
                })
                .collect(),
        ))
    }

    fn clean(&self, t: &Table) -> Result<Cleaned, PrepareError> {
        let mut numbers = Vec::with_capacity(self.numeric.len());
        let days = if self.numeric.iter().any(|n| n.name == DAYS_SINCE_LOGIN) {
            self.days_since_login(t)?
        } else {
            None
        };
        let mut days = days;
        for n in &self.numeric {
            let mut values = if n.name == DAYS_SINCE_LOGIN {
                days.take().ok_or_else(|| {
                    PrepareError::missing(
                        t.batch(),
                        self.last_login_column.as_deref().unwrap_or_default(),
                        "last_login_column",
                    )
                })?
            } else {
                t.numbers(&n.name, "numeric column")?
            };
            for v in &mut values {
                *v = if v.is_nan() {
                    n.median
                } else {
                    v.clamp(n.cap_low, n.cap_high)
                };
            }
            numbers.push((n.name.clone(), values));
        }
        let mut categories = Vec::with_capacity(self.categorical.len());
        for c in &self.categorical {
            let texts = t.texts(&c.name, "categorical column")?;
            let mode = c.categories.binary_search(&c.mode).ok();
            categories.push(
                texts
                    .iter()
                    .map(|v| match v {
                        Some(v) => c.categories.binary_search(v).ok(),
                        None => mode,
                    })
                    .collect(),
            );
        }
        let times = match &self.timestamp_column {
            Some(ts) => Some(t.micros(ts, "timestamp_column")?),
            None => None,
        };
        Ok(Cleaned {
            numbers,
            categories,
            times,
        })
    }

    fn engineer(&self, t: &Table, c: &Cleaned) -> Vec<Feature> {
        let rows = t.rows();
        let mut out: Vec<Feature> = c
            .numbers
            .iter()
            .map(|(n, v)| Feature::new(n, v.clone(), true))
            .collect();
        if let Some(times) = &c.times {
            let field = |f: fn(i64) -> f64| -> Vec<f64> {
                times.iter().map(|t| t.map_or(f64::NAN, f)).collect()
            };
            let dow = field(day_of_week);
            let weekend = dow.iter().map(|d| f64::from(u8::from(*d >= 5.0))).collect();
            out.push(Feature::new("hour", field(hour), true));
            out.push(Feature::new("day_of_week", dow, true));
            out.push(Feature::new("is_weekend", weekend, false));
        }
        if let (Some(spend), Some(tx)) = (c.number("monthly_spend"), c.number("transactions")) {
            let v = spend.iter().zip(tx).map(|(s, t)| s / t.max(1.0)).collect();
            out.push(Feature::new("spend_per_transaction", v, true));
        }
        let score = engagement(c);
        if let Some(score) = &score {
            out.push(Feature::new("engagement_score", score.clone(), true));
        }
        if let Some(tickets) = c.number("support_tickets") {
            let v = tickets
                .iter()
                .map(|t| f64::from(u8::from(*t >= HIGH_SUPPORT_TICKETS)))
                .collect();
            out.push(Feature::new("high_support_tickets", v, false));
        }
        if let (Some(score), Some(threshold)) = (&score, self.low_engagement_threshold) {
            let v = score
                .iter()
                .map(|s| f64::from(u8::from(*s < threshold)))
                .collect();
            out.push(Feature::new("low_engagement", v, false));
        }
        if let Some(seg) = self.segment_index() {
            let names = &self.categorical[seg].categories;
            for m in &self.segment_means {
                let Some(values) = c.number(&m.column) else {
                    continue;
                };
                let means: Vec<f64> = names
                    .iter()
                    .map(|n| m.by_segment.get(n).copied().unwrap_or(m.overall))
                    .collect();
                let v = values
                    .iter()
                    .zip(&c.categories[seg])
                    .map(|(v, code)| {
                        let mean = code.map_or(m.overall, |i| means[i]);
                        if mean.abs() > 1e-12 { v / mean } else { 1.0 }
                    })
                    .collect();
                out.push(Feature::new(&format!("{}_vs_segment", m.column), v, true));
            }
        }
        for (col, codes) in self.categorical.iter().zip(&c.categories) {
            for (i, cat) in col.categories.iter().enumerate() {
                let v = codes
                    .iter()
                    .map(|code| f64::from(u8::from(*code == Some(i))))
                    .collect();
                out.push(Feature::new(&format!("{}_{cat}", col.name), v, false));
            }
        }
        debug_assert!(out.iter().all(|f| f.values.len() == rows));
        out
    }
}

struct Feature {
    name: String,
    values: Vec<f64>,
    scaled: bool,
}

impl Feature {
    fn new(name: &str, values: Vec<f64>, scaled: bool) -> Self {
        Feature {
            name: name.to_string(),
            values,
            scaled,
        }
    }
}

/// `ln(1 + sessions) + 0.5 · ln(1 + transactions) − days_since_last_login / 15`, from the
/// cleaned numbers, with the terms whose columns exist; `None` without `sessions`.
fn engagement(c: &Cleaned) -> Option<Vec<f64>> {
    let sessions = c.number("sessions")?;
    let tx = c.number("transactions");
    let days = c.number(DAYS_SINCE_LOGIN);
    Some(
        (0..sessions.len())
            .map(|i| {
                sessions[i].max(0.0).ln_1p() + tx.map_or(0.0, |t| 0.5 * t[i].max(0.0).ln_1p())
                    - days.map_or(0.0, |d| d[i] / 15.0)
            })
            .collect(),
    )
}
