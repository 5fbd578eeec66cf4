//! One fitted model behind a common face: fit on a numeric target (a class's 0/1 indicator
//! for classification), give one score per row. Every learner is written here in Rust:
//! linear models solved exactly ([`linear`](super::linear)), histogram forests and boosted
//! trees ([`hist`](super::hist)).

use serde::{Deserialize, Serialize};
use smartcore::linalg::basic::arrays::Array;
use smartcore::linalg::basic::matrix::DenseMatrix;

use super::hist::bins::{Binned, Bins};
use super::hist::forest::HistForest;
use super::hist::gbdt::{BoostSettings, HistBooster, Loss};
use super::hist::grow::Grow;
use super::linear::LinearModel;
use super::params::{BoostingParams, ForestParams, Params, Task};

type M = DenseMatrix<f64>;

/// Trees per forest part: a forest is fitted as parts of this size with their own seeds, so
/// the result does not depend on how many threads fitted it.
pub const TREES_PER_PART: usize = 25;

/// A fitted model of one numeric or 0/1 target.
#[derive(Debug, Serialize, Deserialize)]
pub enum Learner {
    /// Least squares; logistic regression (the score is the positive class's probability).
    Linear(LinearModel),
    /// A random forest, in parts of [`TREES_PER_PART`] trees.
    Forest(Vec<ForestPart>),
    /// Gradient-boosted histogram trees.
    Boosted(HistBooster),
}

/// A part of a forest: some trees.
#[derive(Debug, Serialize, Deserialize)]
pub struct ForestPart {
    forest: HistForest,
}

/// How a forest's trees grow.
fn forest_growth(p: &ForestParams, features: usize) -> Grow {
    Grow {
        max_depth: p.max_depth.map(usize::from),
        max_leaves: None,
        min_samples_leaf: p.min_samples_leaf,
        min_hessian: 1e-12,
        lambda: 0.0,
        max_features: Some(p.max_features.of(features)),
    }
}

/// How a booster grows.
fn boosting(p: &BoostingParams) -> BoostSettings {
    BoostSettings {
        rounds: p.n_estimators,
        learning_rate: p.learning_rate,
        subsample: p.subsample,
        grow: Grow {
            max_depth: p.max_depth.map(usize::from),
            max_leaves: p.max_leaf_nodes,
            min_samples_leaf: p.min_samples_leaf,
            min_hessian: 1e-3,
            lambda: p.l2_regularization,
            max_features: None,
        },
    }
}

/// The rows of one fit binned once, shared by the parts of its forests (filled by the first
/// part that needs it, on whichever thread).
pub type SharedBins = std::sync::OnceLock<(Bins, Binned)>;

/// Fits one part of a forest (`part` picks its seed); parts can be fitted on any thread.
/// `binned` holds the rows' binning once a part has computed it.
///
/// # Errors
/// Never today; kept for the trainer's uniform job type.
pub fn fit_forest_part(
    x: &M,
    y: &[f64],
    p: &ForestParams,
    seed: u64,
    part: usize,
    binned: &SharedBins,
) -> Result<ForestPart, String> {
    let trees = (p.n_trees - part * TREES_PER_PART).min(TREES_PER_PART);
    let grow = forest_growth(p, x.shape().1);
    let seed = seed.wrapping_add(part as u64 * 1_000_003);
    let binned = binned.get_or_init(|| {
        let bins = Bins::fit(x);
        let rows = bins.bin(x);
        (bins, rows)
    });
    Ok(ForestPart {
        forest: HistForest::fit(binned, y, trees, &grow, seed),
    })
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
    /// Logistic regression on one class.
    pub fn fit(
        x: &M,
        y: &[f64],
        params: &Params,
        task: Task,
        seed: u64,
    ) -> Result<Learner, String> {
        Ok(match params {
            Params::Linear => Learner::Linear(LinearModel::least_squares(x, y)),
            Params::Logistic(l) => Learner::Linear(LinearModel::logistic(x, y, l.alpha)?),
            Params::Forest(f) => {
                let binned = SharedBins::new();
                Learner::Forest(
                    (0..forest_parts(f.n_trees))
                        .map(|part| fit_forest_part(x, y, f, seed, part, &binned))
                        .collect::<Result<_, _>>()?,
                )
            }
            Params::Boosting(b) => {
                let loss = match task {
                    Task::Classification => Loss::LogLoss,
                    Task::Regression => Loss::Squared,
                };
                Learner::Boosted(HistBooster::fit(x, y, loss, &boosting(b), seed))
            }
        })
    }

    /// A forest's out-of-bag score of each training row, where some tree did not draw it
    /// (`None` for the row otherwise); `None` for other learners.
    pub fn out_of_bag(&self) -> Option<Vec<Option<f64>>> {
        let Learner::Forest(parts) = self else {
            return None;
        };
        let mut sum: Vec<f64> = Vec::new();
        let mut count: Vec<u32> = Vec::new();
        for part in parts {
            let (s, n) = part.forest.out_of_bag()?;
            if sum.is_empty() {
                sum = vec![0.0; s.len()];
                count = vec![0; n.len()];
            }
            for (a, b) in sum.iter_mut().zip(s) {
                *a += b;
            }
            for (a, b) in count.iter_mut().zip(n) {
                *a += b;
            }
        }
        Some(
            sum.iter()
                .zip(&count)
                .map(|(s, n)| (*n > 0).then(|| s / f64::from(*n)))
                .collect(),
        )
    }

    /// One score per row: the prediction for a number, the positive class's probability (or,
    /// for least squares, an unbounded score) for a 0/1 target.
    ///
    /// # Errors
    /// Never today; kept so that a learner that can fail to predict fits the same face.
    pub fn scores(&self, x: &M) -> Result<Vec<f64>, String> {
        Ok(match self {
            Learner::Linear(m) => m.predict(x),
            Learner::Forest(parts) => {
                let rows = x.shape().0;
                let mut sum = vec![0.0; rows];
                let mut trees = 0usize;
                for part in parts {
                    for (s, v) in sum.iter_mut().zip(part.forest.sum(x)) {
                        *s += v;
                    }
                    trees += part.forest.len();
                }
                sum.into_iter().map(|s| s / trees.max(1) as f64).collect()
            }
            Learner::Boosted(m) => m.predict(x),
        })
    }
}
