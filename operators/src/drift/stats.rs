//! The drift statistics, as scipy and the drift tools users know compute them.
//!
//! - **PSI** (population stability index): `Σ (c − r) · ln(c / r)` over bins, where `r` and `c`
//!   are the reference's and the current data's shares of rows in a bin. Numeric bins are the
//!   reference's deciles ([`BINS`] quantile bins; equal values share a bin); a share of 0 is
//!   replaced by [`EPSILON`] so an empty bin gives a large, finite term. Categories are the
//!   union of both sides' values, so a category the reference never had counts fully.
//! - **Kolmogorov–Smirnov** (numbers): the largest distance between the two empirical CDFs,
//!   and its two-sided p-value as scipy's `ks_2samp` gives it: exact while the larger sample
//!   has at most 10,000 values, else the one-sample distribution of `round(n·m/(n+m))` points
//!   (`kstwo`), computed by Marsaglia, Tsang and Wang's method.
//! - **χ²** (categories): the test of independence of the 2 × k table of counts, as scipy's
//!   `chi2_contingency` (Yates' correction when it has one degree of freedom), p-value from
//!   the regularized upper incomplete gamma function.

/// Quantile bins of a numeric PSI.
pub const BINS: usize = 10;
/// The share an empty bin is given in a PSI.
pub const EPSILON: f64 = 1e-4;

/// A PSI and the shares it was computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct Psi {
    /// The index.
    pub value: f64,
    /// Bin labels (`≤ 3.5`, a category).
    pub labels: Vec<String>,
    /// The reference's share per bin.
    pub reference: Vec<f64>,
    /// The current data's share per bin.
    pub current: Vec<f64>,
}

fn psi_of(r: &[f64], c: &[f64]) -> f64 {
    r.iter()
        .zip(c)
        .map(|(r, c)| {
            let (r, c) = (r.max(EPSILON), c.max(EPSILON));
            (c - r) * (c / r).ln()
        })
        .sum()
}

fn shares(counts: &[usize]) -> Vec<f64> {
    let n = counts.iter().sum::<usize>().max(1) as f64;
    counts.iter().map(|c| *c as f64 / n).collect()
}

/// The upper edges of the reference's quantile bins (the last bin is open).
pub fn quantile_edges(sorted: &[f64], bins: usize) -> Vec<f64> {
    if sorted.is_empty() {
        return Vec::new();
    }
    let mut edges: Vec<f64> = (1..bins)
        .map(|q| {
            // The q/bins quantile, linearly interpolated (numpy's default).
            let pos = q as f64 / bins as f64 * (sorted.len() - 1) as f64;
            let (lo, frac) = (pos.floor() as usize, pos - pos.floor());
            sorted[lo] + frac * (sorted[(lo + 1).min(sorted.len() - 1)] - sorted[lo])
        })
        .collect();
    edges.dedup();
    edges
}

/// PSI of two numeric samples over the reference's quantile bins (NaN values left out).
pub fn psi_numeric(reference: &[f64], current: &[f64]) -> Psi {
    let mut sorted: Vec<f64> = reference.iter().copied().filter(|v| !v.is_nan()).collect();
    sorted.sort_by(f64::total_cmp);
    let edges = quantile_edges(&sorted, BINS);
    let count = |values: &[f64]| {
        let mut c = vec![0usize; edges.len() + 1];
        for v in values.iter().filter(|v| !v.is_nan()) {
            c[edges.partition_point(|e| e < v)] += 1;
        }
        c
    };
    let (r, c) = (shares(&count(reference)), shares(&count(current)));
    let mut labels: Vec<String> = edges.iter().map(|e| format!("≤ {e:.4}")).collect();
    labels.push(edges.last().map_or("all".into(), |e| format!("> {e:.4}")));
    Psi {
        value: psi_of(&r, &c),
        labels,
        reference: r,
        current: c,
    }
}

/// Counts per category of both sides, over the union of their categories (sorted).
pub fn category_counts(
    reference: &[String],
    current: &[String],
) -> (Vec<String>, Vec<usize>, Vec<usize>) {
    let mut cats: Vec<String> = reference.iter().chain(current).cloned().collect();
    cats.sort();
    cats.dedup();
    let count = |values: &[String]| {
        let mut c = vec![0usize; cats.len()];
        for v in values {
            if let Ok(i) = cats.binary_search(v) {
                c[i] += 1;
            }
        }
        c
    };
    let (r, c) = (count(reference), count(current));
    (cats, r, c)
}

/// PSI over categories (the union of both sides').
pub fn psi_categorical(reference: &[String], current: &[String]) -> Psi {
    let (labels, r, c) = category_counts(reference, current);
    let (r, c) = (shares(&r), shares(&c));
    Psi {
        value: psi_of(&r, &c),
        labels,
        reference: r,
        current: c,
    }
}

/// The two-sample Kolmogorov–Smirnov statistic and its two-sided p-value (scipy's
/// `ks_2samp` with `method='auto'`). NaN values are left out.
pub fn ks_2samp(a: &[f64], b: &[f64]) -> (f64, f64) {
    let mut a: Vec<f64> = a.iter().copied().filter(|v| !v.is_nan()).collect();
    let mut b: Vec<f64> = b.iter().copied().filter(|v| !v.is_nan()).collect();
    if a.is_empty() || b.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    let (n, m) = (a.len(), b.len());
    let (mut i, mut j, mut d) = (0usize, 0usize, 0.0f64);
    while i < n && j < m {
        let v = a[i].min(b[j]);
        while i < n && a[i] <= v {
            i += 1;
        }
        while j < m && b[j] <= v {
            j += 1;
        }
        d = d.max((i as f64 / n as f64 - j as f64 / m as f64).abs());
    }
    // scipy's `method='auto'`: exact while the larger sample has at most 10,000 values.
    let p = if n.max(m) <= 10_000 {
        exact_two_sample_sf(d, n, m)
    } else {
        let (big, small) = (n.max(m) as f64, n.min(m) as f64);
        let en = (big * small / (big + small)).round() as usize;
        1.0 - kolmogorov_cdf(en, d)
    };
    (d, p.clamp(0.0, 1.0))
}

/// P(D ≥ d) for two samples of sizes `n` and `m` with no ties, by counting lattice paths
/// that stay strictly inside the band (as scipy's exact method).
fn exact_two_sample_sf(d: f64, n: usize, m: usize) -> f64 {
    // Paths from (0,0) to (n,m) whose every point has |i/n − j/m| < d, over all paths.
    let (n_f, m_f) = (n as f64, m as f64);
    // Tolerance as scipy uses, so that d found on the lattice counts as reached.
    let h = d - 1e-12;
    let inside = |i: usize, j: usize| (i as f64 / n_f - j as f64 / m_f).abs() < h;
    // Probabilities instead of counts: each step weighs the remaining choices.
    let mut row = vec![0.0f64; m + 1];
    for i in 0..=n {
        for j in 0..=m {
            let val = if i == 0 && j == 0 {
                1.0
            } else if !inside(i, j) {
                0.0
            } else {
                let from_up = if i > 0 { row[j] } else { 0.0 };
                let from_left = if j > 0 { row[j - 1] } else { 0.0 };
                // Weights: choosing an `a` step at (i-1, j) has probability (n-i+1)/(n+m-i-j+1).
                let up = if i > 0 {
                    from_up * (n - i + 1) as f64 / (n + m - i - j + 1) as f64
                } else {
                    0.0
                };
                let left = if j > 0 {
                    from_left * (m - j + 1) as f64 / (n + m - i - j + 1) as f64
                } else {
                    0.0
                };
                up + left
            };
            row[j] = val;
        }
    }
    1.0 - row[m]
}

/// The CDF of the one-sample Kolmogorov statistic of `n` points at `d` (Marsaglia, Tsang
/// and Wang, 2003), with the matrix power kept in range by exponent bookkeeping.
pub fn kolmogorov_cdf(n: usize, d: f64) -> f64 {
    if d <= 0.0 {
        return 0.0;
    }
    if d >= 1.0 {
        return 1.0;
    }
    let nd = n as f64 * d;
    // Far in the upper tail, the matrix would be large and the answer is 1 to double precision.
    let s = d * d * n as f64;
    if s > 7.24 || (s > 3.76 && n > 99) {
        return 1.0 - 2.0 * (-(2.000071 + 0.331 / (n as f64).sqrt() + 1.409 / n as f64) * s).exp();
    }
    let k = nd.floor() as usize + 1;
    let size = 2 * k - 1;
    let h = k as f64 - nd;
    let mut hm = vec![0.0f64; size * size];
    for i in 0..size {
        for j in 0..size {
            hm[i * size + j] = if i + 1 >= j { 1.0 } else { 0.0 };
        }
    }
    for i in 0..size {
        hm[i * size] -= h.powi(i as i32 + 1);
        hm[(size - 1) * size + i] -= h.powi((size - i) as i32);
    }
    hm[(size - 1) * size] += if 2.0 * h - 1.0 > 0.0 {
        (2.0 * h - 1.0).powi(size as i32)
    } else {
        0.0
    };
    for i in 0..size {
        for j in 0..size {
            if i + 1 >= j {
                for g in 1..=(i + 1 - j) {
                    hm[i * size + j] /= g as f64;
                }
            }
        }
    }
    let (q, mut e) = matrix_power(&hm, size, n);
    let mut value = q[(k - 1) * size + (k - 1)];
    for i in 1..=n {
        value = value * i as f64 / n as f64;
        if value < 1e-140 {
            value *= 1e140;
            e -= 140;
        }
    }
    value * 10f64.powi(e)
}

fn matrix_multiply(a: &[f64], b: &[f64], m: usize) -> Vec<f64> {
    let mut c = vec![0.0; m * m];
    for i in 0..m {
        for k in 0..m {
            let aik = a[i * m + k];
            if aik == 0.0 {
                continue;
            }
            for j in 0..m {
                c[i * m + j] += aik * b[k * m + j];
            }
        }
    }
    c
}

/// `a^n`, scaled by powers of ten kept in the returned exponent.
fn matrix_power(a: &[f64], m: usize, n: usize) -> (Vec<f64>, i32) {
    if n == 1 {
        return (a.to_vec(), 0);
    }
    let (half, he) = matrix_power(a, m, n / 2);
    let mut v = matrix_multiply(&half, &half, m);
    let mut e = 2 * he;
    if n % 2 == 1 {
        v = matrix_multiply(a, &v, m);
    }
    if v[(m / 2) * m + m / 2] > 1e140 {
        for x in &mut v {
            *x *= 1e-140;
        }
        e += 140;
    }
    (v, e)
}

/// χ² test of independence of two rows of counts (reference, current) over the same
/// categories: statistic, degrees of freedom and p-value, as scipy's `chi2_contingency`
/// (Yates' correction with one degree of freedom). Categories empty on both sides are left
/// out.
pub fn chi2_two_rows(r: &[usize], c: &[usize]) -> (f64, usize, f64) {
    let cols: Vec<(f64, f64)> = r
        .iter()
        .zip(c)
        .filter(|(a, b)| **a + **b > 0)
        .map(|(a, b)| (*a as f64, *b as f64))
        .collect();
    let (tr, tc): (f64, f64) = cols
        .iter()
        .fold((0.0, 0.0), |(x, y), (a, b)| (x + a, y + b));
    let total = tr + tc;
    if cols.len() < 2 || tr == 0.0 || tc == 0.0 {
        return (0.0, 0, 1.0);
    }
    let dof = cols.len() - 1;
    let mut stat = 0.0;
    for (a, b) in &cols {
        let col = a + b;
        for (obs, row) in [(*a, tr), (*b, tc)] {
            let expected = row * col / total;
            let mut diff = obs - expected;
            if dof == 1 {
                // Yates: move each observation half a unit toward its expectation.
                diff = diff.signum() * (diff.abs() - 0.5).max(0.0);
            }
            stat += diff * diff / expected;
        }
    }
    (
        stat,
        dof,
        upper_gamma_regularized(dof as f64 / 2.0, stat / 2.0),
    )
}

/// Q(a, x) = Γ(a, x) / Γ(a): a series below `a + 1`, a continued fraction above.
pub fn upper_gamma_regularized(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    let ln_front = a * x.ln() - x - ln_gamma(a);
    if x < a + 1.0 {
        let (mut sum, mut term, mut ap) = (1.0 / a, 1.0 / a, a);
        for _ in 0..10_000 {
            ap += 1.0;
            term *= x / ap;
            sum += term;
            if term.abs() < sum.abs() * 1e-16 {
                break;
            }
        }
        (1.0 - sum * ln_front.exp()).clamp(0.0, 1.0)
    } else {
        // Lentz's continued fraction.
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..10_000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let delta = d * c;
            h *= delta;
            if (delta - 1.0).abs() < 1e-16 {
                break;
            }
        }
        (ln_front.exp() * h).clamp(0.0, 1.0)
    }
}

/// ln Γ(x) by Lanczos' approximation (g = 7, 9 terms).
pub fn ln_gamma(x: f64) -> f64 {
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + 7.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_samples_do_not_drift_and_shifted_ones_do() {
        let a: Vec<f64> = (0..5000).map(|i| f64::from(i % 100)).collect();
        let p = psi_numeric(&a, &a);
        assert!(p.value.abs() < 1e-12);
        let (d, pv) = ks_2samp(&a, &a);
        assert_eq!(d, 0.0);
        assert!(pv > 0.99);
        let shifted: Vec<f64> = a.iter().map(|v| v + 30.0).collect();
        assert!(psi_numeric(&a, &shifted).value > 0.25);
        let (d, pv) = ks_2samp(&a, &shifted);
        assert!((d - 0.3).abs() < 1e-9 && pv < 1e-6, "{d} {pv}");
    }

    #[test]
    fn the_special_functions_match_known_values() {
        assert!((ln_gamma(5.0) - 24f64.ln()).abs() < 1e-12);
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-12);
        // χ² with 2 degrees of freedom: Q(1, x/2) = e^{-x/2}.
        assert!((upper_gamma_regularized(1.0, 3.0) - (-3f64).exp()).abs() < 1e-14);
        // The Kolmogorov CDF for one point: P(D ≤ d) = 2d − 1 for d in [1/2, 1].
        assert!((kolmogorov_cdf(1, 0.75) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn an_unseen_category_counts_fully() {
        let r: Vec<String> = ["a", "b"]
            .iter()
            .cycle()
            .take(100)
            .map(|s| s.to_string())
            .collect();
        let mut c = r.clone();
        c.extend(std::iter::repeat_n("z".to_string(), 100));
        let p = psi_categorical(&r, &c);
        assert_eq!(p.labels, ["a", "b", "z"]);
        assert!(p.value > 0.25, "{}", p.value);
        let (_, rc, cc) = category_counts(&r, &c);
        let (stat, dof, pv) = chi2_two_rows(&rc, &cc);
        assert_eq!(dof, 2);
        assert!(stat > 50.0 && pv < 1e-10, "{stat} {pv}");
    }
}
