//! A gradient-boosted classifier with log-loss, built on smartcore's regression trees
//! (smartcore's own booster, `XGRegressor`, only does squared error).
//!
//! Each round fits a `DecisionTreeRegressor` to the Newton step of the log-loss: targets
//! `z = (y − p) / (p(1 − p))` with weights `w = p(1 − p)`. A weighted-mean leaf then holds
//! `Σ(y − p) / Σ p(1 − p)`, the second-order optimum of the leaf (as in LogitBoost and
//! XGBoost), and the split search minimises the weighted squared error of `z`, the
//! second-order approximation of the loss. Raw scores start at the training log-odds and
//! grow by `learning_rate ×` the tree's output; the probability is their sigmoid. With
//! `subsample < 1` each round draws a share of the rows (weight 0 leaves the others out).

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::tree::decision_tree_regressor::{
    DecisionTreeRegressor, DecisionTreeRegressorParameters,
};

use super::params::BoostingParams;

type Tree = DecisionTreeRegressor<f64, f64, DenseMatrix<f64>, Vec<f64>>;

/// A fitted log-loss booster for one 0/1 target.
#[derive(Debug, Serialize, Deserialize)]
pub struct LogLossBooster {
    base: f64,
    learning_rate: f64,
    trees: Vec<Tree>,
}

fn sigmoid(v: f64) -> f64 {
    1.0 / (1.0 + (-v).exp())
}

impl LogLossBooster {
    /// Fits on rows `x` with 0/1 targets `y`.
    ///
    /// # Errors
    /// smartcore's message when a tree cannot be fitted.
    pub fn fit(
        x: &DenseMatrix<f64>,
        y: &[f64],
        p: &BoostingParams,
        seed: u64,
    ) -> Result<Self, String> {
        let n = y.len();
        let prior = (y.iter().sum::<f64>() / n.max(1) as f64).clamp(1e-6, 1.0 - 1e-6);
        let base = (prior / (1.0 - prior)).ln();
        let mut raw = vec![base; n];
        let mut trees = Vec::with_capacity(p.n_estimators);
        let mut rng = StdRng::seed_from_u64(seed);
        let params = DecisionTreeRegressorParameters::default()
            .with_max_depth(p.max_depth)
            .with_min_samples_leaf(p.min_samples_leaf);
        let mut z = vec![0.0; n];
        let mut w = vec![0.0; n];
        for _ in 0..p.n_estimators {
            for i in 0..n {
                let prob = sigmoid(raw[i]);
                let h = (prob * (1.0 - prob)).max(1e-6);
                z[i] = ((y[i] - prob) / h).clamp(-8.0, 8.0);
                let drawn = p.subsample >= 1.0 || rng.random_bool(p.subsample);
                w[i] = if drawn { h } else { 0.0 };
            }
            let tree =
                Tree::fit_with_weights(x, &z, &w, params.clone()).map_err(|e| e.to_string())?;
            let step = tree.predict(x).map_err(|e| e.to_string())?;
            for (r, s) in raw.iter_mut().zip(&step) {
                *r += p.learning_rate * s;
            }
            trees.push(tree);
        }
        Ok(LogLossBooster {
            base,
            learning_rate: p.learning_rate,
            trees,
        })
    }

    /// The probability of the positive class for each row.
    ///
    /// # Errors
    /// smartcore's message when a tree cannot predict.
    pub fn predict_proba(&self, x: &DenseMatrix<f64>) -> Result<Vec<f64>, String> {
        let rows = smartcore::linalg::basic::arrays::Array::shape(x).0;
        let mut raw = vec![self.base; rows];
        for t in &self.trees {
            for (r, s) in raw.iter_mut().zip(t.predict(x).map_err(|e| e.to_string())?) {
                *r += self.learning_rate * s;
            }
        }
        Ok(raw.into_iter().map(sigmoid).collect())
    }
}
