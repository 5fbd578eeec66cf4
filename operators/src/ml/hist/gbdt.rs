//! A histogram gradient-boosted tree ensemble (LightGBM's and scikit-learn's
//! `HistGradientBoosting` approach): log-loss for a 0/1 target, squared error for a number.
//!
//! Raw scores start at the training log-odds (or mean); each round grows a tree on the
//! gradients and hessians of the loss at the current scores, leaf-wise up to `max_leaves`,
//! and adds `learning_rate ×` its leaves. Scores of training rows are updated from the leaves'
//! row ranges, never by walking the tree.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};
use smartcore::linalg::basic::arrays::Array;
use smartcore::linalg::basic::matrix::DenseMatrix;

use super::bins::Bins;
use super::grow::{Grow, grow};
use super::tree::Tree;

/// The loss a booster minimises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Loss {
    /// Binary log-loss; the output is the positive class's probability.
    LogLoss,
    /// Squared error; the output is the value.
    Squared,
}

/// A booster's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoostSettings {
    /// Rounds (trees).
    pub rounds: usize,
    /// Shrinkage of each tree.
    pub learning_rate: f64,
    /// Share of rows each round's tree is grown on (1: all).
    pub subsample: f64,
    /// How each tree grows.
    pub grow: Grow,
}

/// A fitted booster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistBooster {
    loss: Loss,
    base: f64,
    trees: Vec<Tree>,
}

fn sigmoid(v: f64) -> f64 {
    1.0 / (1.0 + (-v).exp())
}

impl HistBooster {
    /// Fits on rows `x` and targets `y` (0/1 for log-loss).
    pub fn fit(x: &DenseMatrix<f64>, y: &[f64], loss: Loss, s: &BoostSettings, seed: u64) -> Self {
        let bins = Bins::fit(x);
        let binned = bins.bin(x);
        let n = y.len();
        let base = match loss {
            Loss::LogLoss => {
                let p = (y.iter().sum::<f64>() / n.max(1) as f64).clamp(1e-6, 1.0 - 1e-6);
                (p / (1.0 - p)).ln()
            }
            Loss::Squared => y.iter().sum::<f64>() / n.max(1) as f64,
        };
        let mut raw = vec![base; n];
        let (mut g, mut h) = (vec![0.0; n], vec![1.0; n]);
        let mut rng = StdRng::seed_from_u64(seed);
        let mut trees = Vec::with_capacity(s.rounds);
        for _ in 0..s.rounds {
            for i in 0..n {
                match loss {
                    Loss::LogLoss => {
                        let p = sigmoid(raw[i]);
                        g[i] = p - y[i];
                        h[i] = (p * (1.0 - p)).max(1e-16);
                    }
                    Loss::Squared => g[i] = raw[i] - y[i],
                }
            }
            let mut index: Vec<u32> = if s.subsample < 1.0 {
                (0..n as u32)
                    .filter(|_| rng.random_bool(s.subsample))
                    .collect()
            } else {
                (0..n as u32).collect()
            };
            let (mut tree, leaves) = grow(&binned, &bins, &g, &h, &mut index, &s.grow, &mut rng);
            tree.scale(s.learning_rate);
            if index.len() == n {
                // Every row is in a leaf's range: no need to walk the tree.
                for (v, range) in leaves {
                    for &r in &index[range] {
                        raw[r as usize] += s.learning_rate * v;
                    }
                }
            } else {
                for (r, score) in raw.iter_mut().enumerate() {
                    *score += tree.predict(|f| *x.get((r, f)));
                }
            }
            trees.push(tree);
        }
        HistBooster { loss, base, trees }
    }

    /// One output per row: the probability (log-loss) or the value (squared error).
    pub fn predict(&self, x: &DenseMatrix<f64>) -> Vec<f64> {
        let rows = x.shape().0;
        (0..rows)
            .map(|r| {
                let raw = self.base
                    + self
                        .trees
                        .iter()
                        .map(|t| t.predict(|f| *x.get((r, f))))
                        .sum::<f64>();
                match self.loss {
                    Loss::LogLoss => sigmoid(raw),
                    Loss::Squared => raw,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::hist::grow::Grow;

    fn settings(leaves: Option<usize>) -> BoostSettings {
        BoostSettings {
            rounds: 60,
            learning_rate: 0.3,
            subsample: 1.0,
            grow: Grow {
                max_depth: None,
                max_leaves: leaves,
                min_samples_leaf: 5,
                min_hessian: 1e-3,
                lambda: 0.0,
                max_features: None,
            },
        }
    }

    /// Two features whose exclusive-or is the class: no line separates it, trees do.
    fn xor(n: usize) -> (DenseMatrix<f64>, Vec<f64>) {
        let a: Vec<f64> = (0..n)
            .map(|i| ((i * 7919) % 1000) as f64 / 1000.0)
            .collect();
        let b: Vec<f64> = (0..n)
            .map(|i| ((i * 104_729) % 997) as f64 / 997.0)
            .collect();
        let y = a
            .iter()
            .zip(&b)
            .map(|(a, b)| f64::from(u8::from((*a > 0.5) != (*b > 0.5))))
            .collect();
        (DenseMatrix::new(n, 2, [a, b].concat(), true).unwrap(), y)
    }

    #[test]
    fn boosted_trees_learn_what_no_line_can() {
        let (x, y) = xor(2000);
        let m = HistBooster::fit(&x, &y, Loss::LogLoss, &settings(Some(8)), 1);
        let p = m.predict(&x);
        let right = p
            .iter()
            .zip(&y)
            .filter(|(p, y)| (**p > 0.5) == (**y > 0.5))
            .count();
        assert!(right > 1900, "{right} of 2000");
        assert!(m.trees.iter().all(|t| t.leaves() <= 8), "max_leaves holds");
        // Squared error fits a number: the class indicator's mean per region.
        let r = HistBooster::fit(&x, &y, Loss::Squared, &settings(None), 1);
        let err: f64 = r
            .predict(&x)
            .iter()
            .zip(&y)
            .map(|(p, y)| (p - y).abs())
            .sum::<f64>()
            / 2000.0;
        assert!(err < 0.1, "{err}");
    }
}
