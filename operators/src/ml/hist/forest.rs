//! A random forest of histogram trees: each tree on a bootstrap sample (with-replacement
//! counts as row weights), a random subset of features at each node, leaves holding the
//! weighted mean of the target — for a 0/1 class indicator, the class frequency, so the
//! forest's mean is a probability, as in scikit-learn's `RandomForestClassifier`.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};
use smartcore::linalg::basic::arrays::Array;
use smartcore::linalg::basic::matrix::DenseMatrix;

use super::bins::{Binned, Bins};
use super::grow::{Grow, grow};
use super::tree::Tree;

/// Some trees of a forest (forests are fitted in parts, on several threads).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistForest {
    trees: Vec<Tree>,
    /// Per training row: the sum of the outputs of the trees that did not draw it, and their
    /// count (not stored with the model).
    #[serde(skip)]
    oob: Option<(Vec<f64>, Vec<u32>)>,
}

impl HistForest {
    /// Fits `trees` trees on rows `x` (binned as `binned` with `bins`) and target `y`.
    pub fn fit(
        (bins, binned): &(Bins, Binned),
        y: &[f64],
        trees: usize,
        grow_with: &Grow,
        seed: u64,
    ) -> Self {
        let n = y.len();
        let mut rng = StdRng::seed_from_u64(seed);
        let mut count = vec![0u32; n];
        let (mut g, mut h) = (vec![0.0; n], vec![0.0; n]);
        let (mut oob_sum, mut oob_n) = (vec![0.0; n], vec![0u32; n]);
        let out = (0..trees)
            .map(|_| {
                count.iter_mut().for_each(|c| *c = 0);
                for _ in 0..n {
                    count[rng.random_range(0..n)] += 1;
                }
                let mut index: Vec<u32> =
                    (0..n as u32).filter(|r| count[*r as usize] > 0).collect();
                for r in 0..n {
                    let w = f64::from(count[r]);
                    g[r] = -y[r] * w;
                    h[r] = w;
                }
                let tree = grow(binned, bins, &g, &h, &mut index, grow_with, &mut rng).0;
                for r in (0..n).filter(|r| count[*r] == 0) {
                    oob_sum[r] += tree.predict_binned(binned.row(r));
                    oob_n[r] += 1;
                }
                tree
            })
            .collect();
        HistForest {
            trees: out,
            oob: Some((oob_sum, oob_n)),
        }
    }

    /// Per training row, the summed output of the trees that did not draw it and their
    /// count; `None` for a forest read from a file.
    pub fn out_of_bag(&self) -> Option<(&[f64], &[u32])> {
        self.oob.as_ref().map(|(s, n)| (s.as_slice(), n.as_slice()))
    }

    /// Trees.
    pub fn len(&self) -> usize {
        self.trees.len()
    }

    /// Whether it has no tree.
    pub fn is_empty(&self) -> bool {
        self.trees.is_empty()
    }

    /// The sum of the trees' outputs per row (divide by the tree count for the mean).
    pub fn sum(&self, x: &DenseMatrix<f64>) -> Vec<f64> {
        let rows = x.shape().0;
        (0..rows)
            .map(|r| {
                self.trees
                    .iter()
                    .map(|t| t.predict(|f| *x.get((r, f))))
                    .sum()
            })
            .collect()
    }
}
