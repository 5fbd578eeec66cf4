//! The seeded train/test split, stratified by the target so both sides keep its class balance.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

/// Row indices of the two sides, each in ascending order (rows keep their time order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// Training rows.
    pub train: Vec<usize>,
    /// Test rows.
    pub test: Vec<usize>,
}

/// Splits rows `0..labels.len()` so that each distinct label sends `round(n · test_fraction)`
/// of its rows to the test side, chosen by a generator seeded with `seed`. `labels = None`
/// splits without stratifying (regression targets).
pub fn stratified(labels: Option<&[f64]>, rows: usize, test_fraction: f64, seed: u64) -> Split {
    let mut groups: Vec<(f64, Vec<usize>)> = Vec::new();
    match labels {
        Some(labels) => {
            let mut sorted: Vec<usize> = (0..rows).collect();
            sorted.sort_by(|a, b| labels[*a].total_cmp(&labels[*b]).then(a.cmp(b)));
            for i in sorted {
                match groups.last_mut() {
                    Some((l, g)) if l.total_cmp(&labels[i]).is_eq() => g.push(i),
                    _ => groups.push((labels[i], vec![i])),
                }
            }
        }
        None => groups.push((0.0, (0..rows).collect())),
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for (_, mut g) in groups {
        g.shuffle(&mut rng);
        let n_test = (g.len() as f64 * test_fraction).round() as usize;
        test.extend_from_slice(&g[..n_test]);
        train.extend_from_slice(&g[n_test..]);
    }
    train.sort_unstable();
    test.sort_unstable();
    Split { train, test }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_class_keeps_its_share_and_the_seed_decides() {
        let labels: Vec<f64> = (0..1000).map(|i| f64::from(u8::from(i % 4 == 0))).collect();
        let s = stratified(Some(&labels), 1000, 0.2, 7);
        assert_eq!((s.train.len(), s.test.len()), (800, 200));
        let pos = |rows: &[usize]| rows.iter().filter(|r| labels[**r] == 1.0).count();
        assert_eq!(pos(&s.test), 50, "a quarter of the test side is positive");
        assert_eq!(pos(&s.train), 200);
        let mut all: Vec<usize> = s.train.iter().chain(&s.test).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..1000).collect::<Vec<_>>(), "every row exactly once");
        assert_eq!(stratified(Some(&labels), 1000, 0.2, 7), s);
        assert_ne!(stratified(Some(&labels), 1000, 0.2, 8), s);
        assert_eq!(stratified(None, 10, 0.2, 1).test.len(), 2);
    }
}
