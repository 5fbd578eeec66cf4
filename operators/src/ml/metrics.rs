//! Evaluation metrics, computed as scikit-learn defines them.
//!
//! Regression: RMSE, MAE, R². Classification: accuracy, and precision, recall and F1 averaged
//! over classes (macro), plus ROC AUC from scores (probabilities), never from hard labels:
//! binary AUC is the probability that a random positive outranks a random negative (ties
//! count half); with more classes it is the macro average of one-vs-rest AUCs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Named metric values of one evaluation, in a stable order.
pub type Metrics = BTreeMap<String, f64>;

/// The metrics a candidate can be chosen by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Accuracy (classification).
    Accuracy,
    /// Macro precision (classification).
    PrecisionMacro,
    /// Macro recall (classification).
    RecallMacro,
    /// Macro F1 (classification).
    F1Macro,
    /// ROC AUC (classification).
    RocAuc,
    /// Root mean squared error (regression; lower is better).
    Rmse,
    /// Mean absolute error (regression; lower is better).
    Mae,
    /// Coefficient of determination (regression).
    R2,
}

impl Metric {
    /// The name used in reports and arguments.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Accuracy => "accuracy",
            Metric::PrecisionMacro => "precision_macro",
            Metric::RecallMacro => "recall_macro",
            Metric::F1Macro => "f1_macro",
            Metric::RocAuc => "roc_auc",
            Metric::Rmse => "rmse",
            Metric::Mae => "mae",
            Metric::R2 => "r2",
        }
    }

    /// Whether a higher value is better.
    pub fn higher_is_better(self) -> bool {
        !matches!(self, Metric::Rmse | Metric::Mae)
    }

    /// Whether it measures classification (else regression).
    pub fn is_classification(self) -> bool {
        !matches!(self, Metric::Rmse | Metric::Mae | Metric::R2)
    }

    /// Whether `a` is strictly better than `b`.
    pub fn better(self, a: f64, b: f64) -> bool {
        if self.higher_is_better() {
            a > b
        } else {
            a < b
        }
    }
}

/// `name value, …` with four decimals, for logs and listings.
pub fn format(metrics: &Metrics) -> String {
    metrics
        .iter()
        .map(|(k, v)| format!("{k} {v:.4}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// RMSE, MAE and R² of predictions.
pub fn regression(y: &[f64], predicted: &[f64]) -> Metrics {
    let n = y.len().max(1) as f64;
    let mean = y.iter().sum::<f64>() / n;
    let (mut se, mut ae, mut tot) = (0.0, 0.0, 0.0);
    for (t, p) in y.iter().zip(predicted) {
        se += (t - p) * (t - p);
        ae += (t - p).abs();
        tot += (t - mean) * (t - mean);
    }
    let r2 = if tot > 0.0 { 1.0 - se / tot } else { 0.0 };
    Metrics::from([
        ("rmse".into(), (se / n).sqrt()),
        ("mae".into(), ae / n),
        ("r2".into(), r2),
    ])
}

/// Accuracy, macro precision/recall/F1 and ROC AUC. `y` and `predicted` are class indices
/// into `0..k`; `proba[i][c]` is row `i`'s probability (or score) of class `c`.
pub fn classification(y: &[usize], predicted: &[usize], proba: &[Vec<f64>], k: usize) -> Metrics {
    let n = y.len().max(1) as f64;
    let mut tp = vec![0usize; k];
    let mut pred = vec![0usize; k];
    let mut actual = vec![0usize; k];
    for (t, p) in y.iter().zip(predicted) {
        actual[*t] += 1;
        pred[*p] += 1;
        if t == p {
            tp[*t] += 1;
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let (mut precision, mut recall, mut f1) = (0.0, 0.0, 0.0);
    for c in 0..k {
        let p = ratio(tp[c], pred[c]);
        let r = ratio(tp[c], actual[c]);
        precision += p;
        recall += r;
        f1 += if p + r > 0.0 {
            2.0 * p * r / (p + r)
        } else {
            0.0
        };
    }
    let kf = k.max(1) as f64;
    let auc = if k == 2 {
        let scores: Vec<f64> = proba.iter().map(|p| p[1]).collect();
        let positive: Vec<bool> = y.iter().map(|c| *c == 1).collect();
        roc_auc(&positive, &scores)
    } else {
        let mut sum = 0.0;
        for c in 0..k {
            let scores: Vec<f64> = proba.iter().map(|p| p[c]).collect();
            let positive: Vec<bool> = y.iter().map(|t| *t == c).collect();
            sum += roc_auc(&positive, &scores);
        }
        sum / kf
    };
    Metrics::from([
        ("accuracy".into(), tp.iter().sum::<usize>() as f64 / n),
        ("precision_macro".into(), precision / kf),
        ("recall_macro".into(), recall / kf),
        ("f1_macro".into(), f1 / kf),
        ("roc_auc".into(), auc),
    ])
}

/// Binary ROC AUC by ranks (Mann–Whitney U), ties averaged; 0.5 when a class is absent.
pub fn roc_auc(positive: &[bool], scores: &[f64]) -> f64 {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|a, b| scores[*a].total_cmp(&scores[*b]));
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]].total_cmp(&scores[order[i]]).is_eq() {
            j += 1;
        }
        // Ranks i+1 ..= j+1 share their mean.
        let mean_rank = (i + j + 2) as f64 / 2.0;
        rank_sum += mean_rank * order[i..=j].iter().filter(|r| positive[**r]).count() as f64;
        i = j + 1;
    }
    let pos = positive.iter().filter(|p| **p).count() as f64;
    let neg = positive.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return 0.5;
    }
    (rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_metrics_match_scikit_learn() {
        // The values scikit-learn gives for these rows, worked out by hand below.
        let y = [0, 0, 0, 1, 1, 0, 1, 0];
        let scores = [0.1, 0.4, 0.35, 0.8, 0.3, 0.6, 0.7, 0.2];
        let predicted: Vec<usize> = scores.iter().map(|s| usize::from(*s >= 0.5)).collect();
        let proba: Vec<Vec<f64>> = scores.iter().map(|s| vec![1.0 - s, *s]).collect();
        let m = classification(&y, &predicted, &proba, 2);
        let close = |k: &str, v: f64| assert!((m[k] - v).abs() < 1e-4, "{k}: {} vs {v}", m[k]);
        close("accuracy", 0.75);
        // class 0: tp 4, predicted 5, actual 5 → p .8 r .8; class 1: tp 2, predicted 3, actual 3.
        close("precision_macro", (0.8 + 2.0 / 3.0) / 2.0);
        close("recall_macro", (0.8 + 2.0 / 3.0) / 2.0);
        close("f1_macro", (0.8 + 2.0 / 3.0) / 2.0);
        // 3 positives × 5 negatives = 15 pairs; positives 0.8, 0.7 beat all but 0.8>0.6, 0.7>0.6:
        // 0.8 beats 5, 0.7 beats 5, 0.3 beats 0.1, 0.2 → 12/15.
        close("roc_auc", 12.0 / 15.0);
    }

    #[test]
    fn auc_counts_ties_half_and_regression_metrics() {
        assert_eq!(roc_auc(&[true, false], &[0.5, 0.5]), 0.5);
        assert_eq!(roc_auc(&[true, false, true], &[0.9, 0.1, 0.8]), 1.0);
        assert_eq!(roc_auc(&[true, true], &[0.9, 0.1]), 0.5);
        let m = regression(&[1.0, 2.0, 3.0], &[1.0, 2.0, 5.0]);
        assert!((m["rmse"] - (4.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert!((m["mae"] - 2.0 / 3.0).abs() < 1e-12);
        assert!((m["r2"] - (1.0 - 4.0 / 2.0)).abs() < 1e-12);
        assert!(Metric::Rmse.better(1.0, 2.0) && Metric::F1Macro.better(0.9, 0.8));
    }
}
