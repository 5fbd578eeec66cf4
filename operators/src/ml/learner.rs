//! One fitted smartcore model behind a common face: fit on a numeric target (a class's 0/1
//! indicator for classification), give one score per row.

use serde::{Deserialize, Serialize};
use smartcore::ensemble::random_forest_regressor::{
    RandomForestRegressor, RandomForestRegressorParameters,
};
use smartcore::linalg::basic::arrays::Array;
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::linear::linear_regression::{LinearRegression, LinearRegressionParameters};
use smartcore::linear::logistic_regression::{LogisticRegression, LogisticRegressionParameters};
use smartcore::xgboost::{XGRegressor, XGRegressorParameters};

use super::boosting::LogLossBooster;
use super::params::{ForestParams, Params, Task};

type M = DenseMatrix<f64>;

/// Trees per forest part: a forest is fitted as parts of this size with their own seeds, so
/// the result does not depend on how many threads fitted it.
pub const TREES_PER_PART: usize = 25;

/// A fitted model of one numeric or 0/1 target.
#[derive(Debug, Serialize, Deserialize)]
pub enum Learner {
    /// Least squares.
    Linear(LinearRegression<f64, f64, M, Vec<f64>>),
    /// Logistic regression; the score is the positive class's probability.
    Logistic(LogisticRegression<f64, i32, M, Vec<i32>>),
    /// A random forest of regression trees, in parts of [`TREES_PER_PART`] trees.
    Forest(Vec<ForestPart>),
    /// `XGRegressor` (regression).
    Boosted(XGRegressor<f64, f64, M, Vec<f64>>),
    /// The log-loss booster (classification).
    LogLoss(LogLossBooster),
}

/// A part of a forest: some trees and their count.
#[derive(Debug, Serialize, Deserialize)]
pub struct ForestPart {
    trees: usize,
    forest: RandomForestRegressor<f64, f64, M, Vec<f64>>,
}

/// Fits one part of a forest (`part` picks its seed); parts can be fitted on any thread.
///
/// # Errors
/// smartcore's message.
pub fn fit_forest_part(
    x: &M,
    y: &[f64],
    p: &ForestParams,
    seed: u64,
    part: usize,
) -> Result<ForestPart, String> {
    let trees = (p.n_trees - part * TREES_PER_PART).min(TREES_PER_PART);
    let params = RandomForestRegressorParameters {
        max_depth: p.max_depth,
        min_samples_leaf: p.min_samples_leaf,
        min_samples_split: 2,
        n_trees: trees,
        m: Some(p.max_features.of(x.shape().1)),
        keep_samples: false,
        seed: seed.wrapping_add(part as u64 * 1_000_003),
    };
    let forest = RandomForestRegressor::fit(x, &y.to_vec(), params).map_err(|e| e.to_string())?;
    Ok(ForestPart { trees, forest })
}

/// The number of parts of a forest of `n_trees`.
pub fn forest_parts(n_trees: usize) -> usize {
    n_trees.div_ceil(TREES_PER_PART)
}

impl Learner {
    /// Fits `params` on rows `x` and target `y` (0/1 for a class). Forests are fitted whole
    /// here; the trainer fits their parts in parallel with [`fit_forest_part`] instead.
    ///
    /// # Errors
    /// smartcore's message.
    pub fn fit(
        x: &M,
        y: &[f64],
        params: &Params,
        task: Task,
        seed: u64,
    ) -> Result<Learner, String> {
        let e = |e: smartcore::error::Failed| e.to_string();
        Ok(match params {
            Params::Linear => Learner::Linear(
                LinearRegression::fit(x, &y.to_vec(), LinearRegressionParameters::default())
                    .map_err(e)?,
            ),
            Params::Logistic(l) => {
                let labels: Vec<i32> = y.iter().map(|v| i32::from(*v > 0.5)).collect();
                if labels.iter().all(|l| *l == labels[0]) {
                    return Err("logistic regression needs both classes in its rows".into());
                }
                Learner::Logistic(
                    LogisticRegression::fit(
                        x,
                        &labels,
                        LogisticRegressionParameters::default().with_alpha(l.alpha),
                    )
                    .map_err(e)?,
                )
            }
            Params::Forest(f) => Learner::Forest(
                (0..forest_parts(f.n_trees))
                    .map(|part| fit_forest_part(x, y, f, seed, part))
                    .collect::<Result<_, _>>()?,
            ),
            Params::Boosting(b) if task == Task::Classification => {
                Learner::LogLoss(LogLossBooster::fit(x, y, b, seed)?)
            }
            Params::Boosting(b) => {
                let params = XGRegressorParameters::default()
                    .with_n_estimators(b.n_estimators)
                    .with_learning_rate(b.learning_rate)
                    .with_max_depth(b.max_depth)
                    .with_min_child_weight(b.min_samples_leaf)
                    .with_subsample(b.subsample)
                    .with_seed(seed);
                Learner::Boosted(XGRegressor::fit(x, &y.to_vec(), params).map_err(e)?)
            }
        })
    }

    /// One score per row: the prediction for a number, the positive class's probability (or,
    /// for least squares, an unbounded score) for a 0/1 target.
    ///
    /// # Errors
    /// smartcore's message.
    pub fn scores(&self, x: &M) -> Result<Vec<f64>, String> {
        let e = |e: smartcore::error::Failed| e.to_string();
        match self {
            Learner::Linear(m) => m.predict(x).map_err(e),
            Learner::Logistic(m) => {
                let w = m.coefficients();
                let b = *m.intercept().get((0, 0));
                // Binary smartcore models hold one row of weights, for `classes()[1]`.
                let positive_is_one = m.classes().last() == Some(&1);
                let (rows, cols) = x.shape();
                let mut out = Vec::with_capacity(rows);
                for r in 0..rows {
                    let mut z = b;
                    for c in 0..cols {
                        z += *x.get((r, c)) * *w.get((0, c));
                    }
                    let p = 1.0 / (1.0 + (-z).exp());
                    out.push(if positive_is_one { p } else { 1.0 - p });
                }
                Ok(out)
            }
            Learner::Forest(parts) => {
                let rows = x.shape().0;
                let mut sum = vec![0.0; rows];
                let mut trees = 0usize;
                // Each part predicts the mean of its trees; weight it by its tree count.
                for part in parts {
                    let n = part.trees;
                    for (s, v) in sum.iter_mut().zip(part.forest.predict(x).map_err(e)?) {
                        *s += v * n as f64;
                    }
                    trees += n;
                }
                Ok(sum.into_iter().map(|s| s / trees.max(1) as f64).collect())
            }
            Learner::Boosted(m) => m.predict(x).map_err(e),
            Learner::LogLoss(m) => m.predict_proba(x),
        }
    }
}
