//! Features binned into at most 256 ordered bins, as histogram learners (LightGBM,
//! scikit-learn's `HistGradientBoosting`) do: a split is then a bin boundary, and a node's
//! statistics are a histogram of a few hundred entries instead of a sort of its rows.
//!
//! Edges are fitted on the training rows: with at most 256 distinct values, the midpoints
//! between them (so every distinct value has its own bin); otherwise the midpoints at
//! evenly spaced quantiles. A value goes to the bin of the first edge at or above it, so
//! "bin ≤ b" is "value ≤ edge b", the threshold the fitted tree keeps. A missing value
//! (NaN) goes to bin 0, the left of every split, at fitting and at prediction alike.

use smartcore::linalg::basic::arrays::Array;
use smartcore::linalg::basic::matrix::DenseMatrix;

/// The most bins a feature gets.
pub const MAX_BINS: usize = 256;

/// Fitted bin edges, per feature.
#[derive(Debug, Clone)]
pub struct Bins {
    edges: Vec<Vec<f64>>,
}

/// Rows binned with [`Bins`], row-major: a row's bins are one small run of bytes, so a node
/// that reads several features of a row touches one cache line.
#[derive(Debug, Clone)]
pub struct Binned {
    rows: usize,
    features: usize,
    data: Vec<u8>,
}

impl Binned {
    /// Rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Row `r`'s bins, one per feature.
    pub fn row(&self, r: usize) -> &[u8] {
        &self.data[r * self.features..(r + 1) * self.features]
    }

    /// Feature `f`'s bin in row `r`.
    pub fn get(&self, r: usize, f: usize) -> u8 {
        self.data[r * self.features + f]
    }

    /// Feature `f`'s bins, one per row (a copy).
    pub fn column(&self, f: usize) -> Vec<u8> {
        (0..self.rows).map(|r| self.get(r, f)).collect()
    }
}

impl Bins {
    /// Fits edges on every column of `x`.
    pub fn fit(x: &DenseMatrix<f64>) -> Bins {
        let (rows, cols) = x.shape();
        let edges = (0..cols)
            .map(|c| {
                let mut v: Vec<f64> = (0..rows)
                    .map(|r| *x.get((r, c)))
                    .filter(|v| !v.is_nan())
                    .collect();
                v.sort_by(f64::total_cmp);
                edges_of(&v)
            })
            .collect();
        Bins { edges }
    }

    /// Features.
    pub fn features(&self) -> usize {
        self.edges.len()
    }

    /// Bins of feature `f` (its edges plus one).
    pub fn bins(&self, f: usize) -> usize {
        self.edges[f].len() + 1
    }

    /// The threshold of a split after bin `b` of feature `f`: values at or below it go left.
    pub fn threshold(&self, f: usize, b: usize) -> f64 {
        self.edges[f][b]
    }

    /// Bins every row of `x`.
    pub fn bin(&self, x: &DenseMatrix<f64>) -> Binned {
        let (rows, cols) = x.shape();
        let mut data = vec![0u8; rows * cols];
        for (c, edges) in self.edges.iter().enumerate() {
            for r in 0..rows {
                let v = *x.get((r, c));
                // At most 255 edges: the index fits a byte.
                data[r * cols + c] = edges.partition_point(|e| *e < v) as u8;
            }
        }
        Binned {
            rows,
            features: cols,
            data,
        }
    }
}

/// Edges between sorted values: every distinct value its own bin when they are few, else
/// quantile boundaries.
fn edges_of(sorted: &[f64]) -> Vec<f64> {
    let mut distinct: Vec<f64> = sorted.to_vec();
    distinct.dedup();
    let mid = |a: f64, b: f64| a + (b - a) / 2.0;
    if distinct.len() <= MAX_BINS {
        return distinct.windows(2).map(|w| mid(w[0], w[1])).collect();
    }
    let n = sorted.len();
    let mut edges: Vec<f64> = (1..MAX_BINS)
        .filter_map(|q| {
            let i = q * n / MAX_BINS;
            // The boundary between the value at the quantile and the next larger one.
            let v = sorted[i.saturating_sub(1)];
            let next = sorted[i..].iter().find(|x| **x > v)?;
            Some(mid(v, *next))
        })
        .collect();
    edges.dedup();
    edges
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_values_get_a_bin_each_and_thresholds_split_between_them() {
        let x = DenseMatrix::new(5, 1, vec![3.0, 1.0, 2.0, 2.0, f64::NAN], true).unwrap();
        let b = Bins::fit(&x);
        assert_eq!(b.bins(0), 3);
        assert_eq!(b.bin(&x).column(0), [2, 0, 1, 1, 0]);
        assert_eq!((b.threshold(0, 0), b.threshold(0, 1)), (1.5, 2.5));
    }

    #[test]
    fn many_values_get_at_most_256_bins_of_similar_size() {
        let n = 10_000;
        let v: Vec<f64> = (0..n).map(|i| f64::from(i).sqrt()).collect();
        let x = DenseMatrix::new(n as usize, 1, v, true).unwrap();
        let b = Bins::fit(&x);
        assert!(b.bins(0) <= MAX_BINS && b.bins(0) > 200, "{}", b.bins(0));
        let binned = b.bin(&x);
        let mut count = vec![0usize; b.bins(0)];
        for v in binned.column(0) {
            count[v as usize] += 1;
        }
        assert!(count.iter().all(|c| (30..=50).contains(c)), "{count:?}");
    }
}
