//! Comparing current rows with reference rows, feature by feature: the pure part of
//! `detect_drift`.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::DataType;
use serde::{Deserialize, Serialize};

use super::stats::{self, Psi};

/// When a feature, and the dataset, count as drifted.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// A PSI above this drifts (default 0.25).
    pub psi: f64,
    /// A KS or χ² p-value below this drifts (default 0.05).
    pub alpha: f64,
    /// The dataset drifts when at least this share of features drift (default 0.5, as
    /// Evidently).
    pub share: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            psi: 0.25,
            alpha: 0.05,
            share: 0.5,
        }
    }
}

/// A side's summary of one feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Rows with a value.
    pub count: usize,
    /// Rows without one.
    pub missing: usize,
    /// Mean (numbers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean: Option<f64>,
    /// Standard deviation (numbers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub std: Option<f64>,
    /// Smallest value (numbers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Largest value (numbers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Distinct values (categories).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distinct: Option<usize>,
}

/// The bins a PSI was computed over, with both sides' shares (for the histograms).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bins {
    /// Labels.
    pub labels: Vec<String>,
    /// The reference's shares.
    pub reference: Vec<f64>,
    /// The current data's shares.
    pub current: Vec<f64>,
}

/// One feature's drift.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureDrift {
    /// The column.
    pub name: String,
    /// `numeric` or `categorical`.
    pub kind: String,
    /// The population stability index.
    pub psi: f64,
    /// The KS statistic (numbers) or χ² (categories).
    pub statistic: f64,
    /// Its p-value.
    pub p_value: f64,
    /// Whether the PSI or the test says it drifted.
    pub drifted: bool,
    /// The reference's summary.
    pub reference: Summary,
    /// The current data's summary.
    pub current: Summary,
    /// The PSI's bins.
    pub bins: Bins,
}

/// Rows of one side and where they came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Side {
    /// What they are (`raw_data 2026-01-02..2026-01-30, the training rows of churn_model v7`).
    pub description: String,
    /// Rows.
    pub rows: usize,
}

/// The whole comparison: `drift/<date>/report.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftReport {
    /// The reference rows.
    pub reference: Side,
    /// The current rows.
    pub current: Side,
    /// The thresholds applied.
    pub thresholds: Thresholds,
    /// Share of features that drifted.
    pub drifted_share: f64,
    /// Whether the dataset drifted (`drifted_share ≥ share`).
    pub dataset_drift: bool,
    /// Every feature, sorted by PSI, largest first.
    pub features: Vec<FeatureDrift>,
}

fn arrays<'a>(batches: &'a [RecordBatch], name: &str) -> Vec<&'a dyn Array> {
    batches
        .iter()
        .filter_map(|b| b.column_by_name(name).map(|a| a.as_ref()))
        .collect()
}

fn numbers(batches: &[RecordBatch], name: &str) -> Vec<f64> {
    arrays(batches, name)
        .into_iter()
        .filter_map(|a| crate::columns::floats(a).ok())
        .flatten()
        .collect()
}

fn texts(batches: &[RecordBatch], name: &str) -> (Vec<String>, usize) {
    let mut missing = 0;
    let mut out = Vec::new();
    for a in arrays(batches, name) {
        let Ok(t) = arrow::compute::cast(a, &DataType::Utf8) else {
            continue;
        };
        for v in t.as_string::<i32>().iter() {
            match v {
                Some(v) => out.push(v.to_string()),
                None => missing += 1,
            }
        }
    }
    (out, missing)
}

fn numeric_summary(v: &[f64]) -> Summary {
    let present: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).collect();
    let n = present.len();
    let mean = (n > 0).then(|| present.iter().sum::<f64>() / n as f64);
    let std =
        mean.map(|m| (present.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n as f64).sqrt());
    Summary {
        count: n,
        missing: v.len() - n,
        mean,
        std,
        min: present.iter().copied().reduce(f64::min),
        max: present.iter().copied().reduce(f64::max),
        distinct: None,
    }
}

fn category_summary(v: &[String], missing: usize) -> Summary {
    let mut d = v.to_vec();
    d.sort();
    d.dedup();
    Summary {
        count: v.len(),
        missing,
        mean: None,
        std: None,
        min: None,
        max: None,
        distinct: Some(d.len()),
    }
}

fn bins(p: Psi) -> (f64, Bins) {
    (
        p.value,
        Bins {
            labels: p.labels,
            reference: p.reference,
            current: p.current,
        },
    )
}

/// Compares `current` with `reference` over the named columns (those missing from either
/// side are left out).
pub fn compare(
    reference: (&[RecordBatch], String),
    current: (&[RecordBatch], String),
    numeric: &[String],
    categorical: &[String],
    t: Thresholds,
) -> DriftReport {
    let (rb, cb) = (reference.0, current.0);
    let has = |name: &str| !arrays(rb, name).is_empty() && !arrays(cb, name).is_empty();
    let mut features = Vec::new();
    for name in numeric.iter().filter(|n| has(n)) {
        let (r, c) = (numbers(rb, name), numbers(cb, name));
        let (psi, bins) = bins(stats::psi_numeric(&r, &c));
        let (statistic, p_value) = stats::ks_2samp(&r, &c);
        features.push(FeatureDrift {
            name: name.clone(),
            kind: "numeric".into(),
            psi,
            statistic,
            p_value,
            drifted: psi > t.psi || p_value < t.alpha,
            reference: numeric_summary(&r),
            current: numeric_summary(&c),
            bins,
        });
    }
    for name in categorical.iter().filter(|n| has(n)) {
        let ((r, rm), (c, cm)) = (texts(rb, name), texts(cb, name));
        let (psi, bins) = bins(stats::psi_categorical(&r, &c));
        let (_, rc, cc) = stats::category_counts(&r, &c);
        let (statistic, _, p_value) = stats::chi2_two_rows(&rc, &cc);
        features.push(FeatureDrift {
            name: name.clone(),
            kind: "categorical".into(),
            psi,
            statistic,
            p_value,
            drifted: psi > t.psi || p_value < t.alpha,
            reference: category_summary(&r, rm),
            current: category_summary(&c, cm),
            bins,
        });
    }
    features.sort_by(|a, b| b.psi.total_cmp(&a.psi).then(a.name.cmp(&b.name)));
    let drifted = features.iter().filter(|f| f.drifted).count();
    let drifted_share = drifted as f64 / features.len().max(1) as f64;
    let rows = |b: &[RecordBatch]| b.iter().map(RecordBatch::num_rows).sum();
    DriftReport {
        reference: Side {
            description: reference.1,
            rows: rows(rb),
        },
        current: Side {
            description: current.1,
            rows: rows(cb),
        },
        thresholds: t,
        drifted_share,
        dataset_drift: !features.is_empty() && drifted_share >= t.share,
        features,
    }
}
