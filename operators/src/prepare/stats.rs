//! Column statistics used to fit the preprocessing: medians, quantiles, modes, means and
//! standard deviations, computed on the training split only.

/// The `q` quantile (0–1) of `values` with linear interpolation between the closest ranks
/// (numpy's and pandas' default), or `None` when there is no value. NaNs are ignored.
pub fn quantile(values: &[f64], q: f64) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    quantile_in_place(&mut v, q)
}

/// As [`quantile`], sorting `v` in place (NaN-free input).
pub(crate) fn quantile_in_place(v: &mut [f64], q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable_by(f64::total_cmp);
    let pos = q.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    Some(v[lo] + (v[hi] - v[lo]) * (pos - lo as f64))
}

/// Mean and population standard deviation (as scikit-learn's `StandardScaler`); a zero
/// deviation becomes 1 so that a constant column scales to 0 instead of dividing by zero.
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    if values.is_empty() {
        return (0.0, 1.0);
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    let std = var.sqrt();
    (mean, if std > 1e-12 { std } else { 1.0 })
}

/// The most frequent value; ties go to the smallest, so the result does not depend on order.
pub fn mode<'a>(values: impl Iterator<Item = &'a str>) -> Option<String> {
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    for v in values {
        *counts.entry(v).or_default() += 1;
    }
    let best = counts.values().copied().max()?;
    counts
        .into_iter()
        .find(|(_, c)| *c == best)
        .map(|(v, _)| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_match_numpy() {
        let v = [1.0, 2.0, 3.0, 4.0, 10.0, f64::NAN];
        assert_eq!(quantile(&v, 0.5), Some(3.0));
        assert_eq!(quantile(&v, 0.25), Some(2.0));
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 0.25), Some(1.75));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn mode_breaks_ties_by_value_and_std_never_zero() {
        assert_eq!(
            mode(["b", "a", "b", "a", "c"].into_iter()),
            Some("a".into())
        );
        assert_eq!(mode(std::iter::empty()), None);
        assert_eq!(mean_std(&[2.0, 4.0]), (3.0, 1.0));
        assert_eq!(mean_std(&[5.0, 5.0]), (5.0, 1.0));
    }
}
