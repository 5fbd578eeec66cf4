//! Champion and challenger scored on the same holdout rows, each through its own stored
//! preprocessing from the raw rows, and a paired bootstrap of their difference.
//!
//! Comparing a challenger's score on its day with a champion's score stored from another day
//! lets day-to-day noise decide. Here both models see exactly the same raw rows; the
//! bootstrap resamples those rows (the same resample for both models) `resamples` times and
//! gives the interval of the difference at the asked confidence, so a lucky day cannot
//! promote a model that is not better.

use arrow::array::RecordBatch;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use super::{Loaded, RegistryError};
use crate::ml::metrics::{self, Metrics};
use crate::ml::table::{Table, numbers};
use crate::ml::{MlError, Model, Objective, Task};

/// A model's outputs on the holdout rows, enough to compute any metric on any resample.
#[derive(Debug, Clone)]
pub struct Scored {
    task: Task,
    /// The true value (regression) or class index (classification; `classes.len()` for a
    /// label the model never saw, which it can only get wrong).
    truth: Vec<f64>,
    predicted: Vec<f64>,
    proba: Vec<Vec<f64>>,
    classes: usize,
}

impl Scored {
    /// Scores `raw` with `loaded`: its preprocessing, then its model; the truth is the
    /// model's target column.
    ///
    /// # Errors
    /// A missing target or feature column, or a model that cannot predict.
    pub fn new(loaded: &Loaded, raw: &RecordBatch) -> Result<Scored, RegistryError> {
        let info = &loaded.model.info;
        // Rows without a target value cannot be scored: leave them out.
        let y = numbers(raw, &info.target)?;
        let labelled: arrow::array::BooleanArray = y.iter().map(|v| Some(!v.is_nan())).collect();
        let raw = &arrow::compute::filter_record_batch(raw, &labelled)
            .map_err(|e| MlError::Data(e.to_string()))?;
        let y: Vec<f64> = y.into_iter().filter(|v| !v.is_nan()).collect();
        let features = loaded.metadata.preprocessor.transform(raw)?;
        if features.columns != info.feature_columns {
            return Err(MlError::Data(format!(
                "the preprocessing of version {} gives other columns than its model reads",
                loaded.version.version
            ))
            .into());
        }
        let x = Table::from_columns(features.columns, &features.values).into_matrix();
        let scores = loaded
            .model
            .scores(&x)
            .map_err(|e| RegistryError::Ml(MlError::Fit(e)))?;
        let proba = Model::probabilities(&scores);
        let predicted = loaded.model.predictions(scores);
        let (truth, predicted) = match info.task {
            Task::Regression => (y, predicted),
            Task::Classification => {
                let index = |v: f64| {
                    info.classes
                        .iter()
                        .position(|c| *c == v)
                        .unwrap_or(info.classes.len()) as f64
                };
                (
                    y.iter().map(|v| index(*v)).collect(),
                    predicted.iter().map(|v| index(*v)).collect(),
                )
            }
        };
        Ok(Scored {
            task: info.task,
            truth,
            predicted,
            proba,
            classes: info.classes.len(),
        })
    }

    /// Rows scored (those with a target value).
    pub fn rows(&self) -> usize {
        self.truth.len()
    }

    /// The metrics on rows `idx` (repeats allowed: a bootstrap resample).
    pub fn metrics_on(&self, idx: &[usize]) -> Metrics {
        match self.task {
            Task::Regression => {
                let y: Vec<f64> = idx.iter().map(|i| self.truth[*i]).collect();
                let p: Vec<f64> = idx.iter().map(|i| self.predicted[*i]).collect();
                metrics::regression(&y, &p)
            }
            Task::Classification => {
                let y: Vec<usize> = idx.iter().map(|i| self.truth[*i] as usize).collect();
                let p: Vec<usize> = idx.iter().map(|i| self.predicted[*i] as usize).collect();
                // One more class only for labels the model never saw (always wrong,
                // probability 0); otherwise it would dilute the macro averages.
                let k = if y.iter().all(|c| *c < self.classes) {
                    self.classes
                } else {
                    self.classes + 1
                };
                let proba: Vec<Vec<f64>> = idx
                    .iter()
                    .map(|i| {
                        let mut row = self.proba[*i].clone();
                        row.resize(k, 0.0);
                        row
                    })
                    .collect();
                metrics::classification(&y, &p, &proba, k)
            }
        }
    }

    /// The metrics on every row.
    pub fn metrics(&self) -> Metrics {
        self.metrics_on(&(0..self.rows()).collect::<Vec<_>>())
    }
}

/// The interval of the paired bootstrap: challenger minus champion, in the objective's
/// "better" direction (positive: the challenger is better).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// The confidence (`0.9`: the 5th to the 95th percentile).
    pub confidence: f64,
    /// Its lower bound.
    pub low: f64,
    /// Its upper bound.
    pub high: f64,
    /// Resamples drawn.
    pub resamples: usize,
}

/// Paired bootstrap of `objective(challenger) − objective(champion)` over the same resampled
/// rows; the sign is flipped for an error metric so that positive always means better.
/// Deterministic for a seed.
pub fn bootstrap(
    challenger: &Scored,
    champion: &Scored,
    objective: &Objective,
    confidence: f64,
    resamples: usize,
    seed: u64,
) -> Interval {
    let n = challenger.rows().min(champion.rows());
    let sign = if objective.higher_is_better() {
        1.0
    } else {
        -1.0
    };
    let mut rng = StdRng::seed_from_u64(seed);
    let mut diffs: Vec<f64> = (0..resamples)
        .map(|_| {
            let idx: Vec<usize> = (0..n).map(|_| rng.random_range(0..n.max(1))).collect();
            let a = objective.value(&challenger.metrics_on(&idx));
            let b = objective.value(&champion.metrics_on(&idx));
            match (a, b) {
                (Some(a), Some(b)) => sign * (a - b),
                _ => f64::NAN,
            }
        })
        .filter(|d| d.is_finite())
        .collect();
    diffs.sort_by(f64::total_cmp);
    let q = |p: f64| -> f64 {
        if diffs.is_empty() {
            return f64::NAN;
        }
        let i = ((diffs.len() - 1) as f64 * p).round() as usize;
        diffs[i.min(diffs.len() - 1)]
    };
    let tail = (1.0 - confidence) / 2.0;
    Interval {
        confidence,
        low: q(tail),
        high: q(1.0 - tail),
        resamples: diffs.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scored(truth: &[f64], predicted: &[f64]) -> Scored {
        Scored {
            task: Task::Classification,
            truth: truth.to_vec(),
            predicted: predicted.to_vec(),
            proba: predicted
                .iter()
                .map(|p| {
                    if *p == 1.0 {
                        vec![0.2, 0.8]
                    } else {
                        vec![0.8, 0.2]
                    }
                })
                .collect(),
            classes: 2,
        }
    }

    #[test]
    fn the_bootstrap_separates_a_real_gain_from_noise() {
        let truth: Vec<f64> = (0..400).map(|i| f64::from(i % 2)).collect();
        // The champion is right on 70 % of rows; a better challenger on 90 %, a tied one on
        // a different 70 %.
        let right = |share: usize, shift: usize| -> Vec<f64> {
            truth
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    if (i + shift) % 10 < share {
                        *t
                    } else {
                        1.0 - t
                    }
                })
                .collect()
        };
        let champion = scored(&truth, &right(7, 0));
        let better = scored(&truth, &right(9, 0));
        let tied = scored(&truth, &right(7, 3));
        let f1 = Objective::Metric(crate::ml::Metric::F1Macro);
        let win = bootstrap(&better, &champion, &f1, 0.9, 500, 7);
        assert!(win.low > 0.1 && win.high < 0.3, "{win:?}");
        let tie = bootstrap(&tied, &champion, &f1, 0.9, 500, 7);
        assert!(tie.low < 0.0 && tie.high > 0.0, "{tie:?}");
        assert_eq!(tie, bootstrap(&tied, &champion, &f1, 0.9, 500, 7), "seeded");
        // Same rows, same model: a zero-width interval at 0.
        let same = bootstrap(&champion, &champion, &f1, 0.9, 100, 1);
        assert_eq!((same.low, same.high), (0.0, 0.0));
    }

    #[test]
    fn an_unseen_label_counts_as_wrong() {
        let s = scored(&[0.0, 1.0, 2.0, 2.0], &[0.0, 1.0, 0.0, 1.0]);
        let m = s.metrics();
        assert!((m["accuracy"] - 0.5).abs() < 1e-12, "{m:?}");
    }
}
