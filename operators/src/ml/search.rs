//! Cross-validation folds and the choice of grid points to try.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

/// How a grid with several points is searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Every point.
    #[default]
    Grid,
    /// `n_iter` points drawn without replacement (all of them if the grid is smaller).
    Random,
}

/// Search settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Search {
    /// `grid` (default) or `random`.
    #[serde(default)]
    pub method: Method,
    /// Points drawn by a random search (default 10).
    #[serde(default = "ten")]
    pub n_iter: usize,
    /// Folds of the cross-validation (default 3), stratified for classification.
    #[serde(default = "three")]
    pub folds: usize,
    /// Score a forest's grid points out of bag (default true): each point is fitted once on
    /// the whole training split and each row is scored by the trees that did not draw it
    /// (Breiman's estimate, scikit-learn's `oob_score`), instead of `folds` refits; the chosen
    /// point's forest is the final model. `false`: k-fold like every other candidate.
    #[serde(default = "yes")]
    pub out_of_bag: bool,
}

fn yes() -> bool {
    true
}

fn ten() -> usize {
    10
}
fn three() -> usize {
    3
}

impl Default for Search {
    fn default() -> Self {
        Search {
            method: Method::default(),
            n_iter: ten(),
            folds: three(),
            out_of_bag: true,
        }
    }
}

impl Search {
    /// The indices of the points to try among `n`.
    pub fn pick(&self, n: usize, seed: u64) -> Vec<usize> {
        let mut all: Vec<usize> = (0..n).collect();
        if self.method == Method::Random && n > self.n_iter {
            all.shuffle(&mut StdRng::seed_from_u64(seed));
            all.truncate(self.n_iter.max(1));
            all.sort_unstable();
        }
        all
    }
}

/// `k` folds of rows `0..rows` as (training rows, validation rows), each sorted. With
/// `classes`, every fold gets its share of each class (stratified k-fold).
pub fn kfold(
    classes: Option<&[usize]>,
    rows: usize,
    k: usize,
    seed: u64,
) -> Vec<(Vec<usize>, Vec<usize>)> {
    let k = k.clamp(2, rows.max(2));
    let mut groups: Vec<Vec<usize>> = match classes {
        Some(c) => {
            let n = c.iter().copied().max().map_or(0, |m| m + 1);
            let mut g = vec![Vec::new(); n];
            for (row, class) in c.iter().enumerate() {
                g[*class].push(row);
            }
            g
        }
        None => vec![(0..rows).collect()],
    };
    let mut rng = StdRng::seed_from_u64(seed);
    let mut fold_of = vec![0usize; rows];
    let mut next = 0usize;
    for g in &mut groups {
        g.shuffle(&mut rng);
        for row in g.iter() {
            fold_of[*row] = next % k;
            next += 1;
        }
    }
    (0..k)
        .map(|f| {
            let (valid, train): (Vec<usize>, Vec<usize>) =
                (0..rows).partition(|r| fold_of[*r] == f);
            (train, valid)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stratified_folds_cover_rows_once_and_keep_class_shares() {
        let classes: Vec<usize> = (0..300).map(|i| usize::from(i % 5 == 0)).collect();
        let folds = kfold(Some(&classes), 300, 3, 1);
        assert_eq!(folds.len(), 3);
        let mut seen = vec![0; 300];
        for (train, valid) in &folds {
            assert_eq!(train.len() + valid.len(), 300);
            assert_eq!(valid.iter().filter(|r| classes[**r] == 1).count(), 20);
            for r in valid {
                seen[*r] += 1;
            }
        }
        assert!(
            seen.iter().all(|s| *s == 1),
            "each row validates exactly once"
        );
        assert_eq!(kfold(None, 10, 5, 1)[0].1.len(), 2);
        let s = Search {
            method: Method::Random,
            n_iter: 3,
            folds: 3,
            out_of_bag: true,
        };
        let picked = s.pick(10, 7);
        assert_eq!(picked.len(), 3);
        assert_eq!(picked, s.pick(10, 7), "seeded");
        assert_eq!(Search::default().pick(4, 7), vec![0, 1, 2, 3]);
    }
}
