//! "Did you mean …?" suggestions from edit distance.

/// The candidate closest to `word`, if one is close enough to be a plausible typo.
///
/// Close enough means an edit distance of at most a third of the word's length (at least 1),
/// or that one contains the other (`retry` → `retry_delay`).
pub fn closest<'a, I>(word: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let limit = (word.chars().count() / 3).max(1);
    let lower = word.to_lowercase();
    let mut best: Option<(usize, &'a str)> = None;
    for cand in candidates {
        let d = distance(&lower, &cand.to_lowercase());
        let contains =
            lower.len() >= 3 && cand.len() >= 3 && (cand.contains(&*lower) || lower.contains(cand));
        if (d <= limit || contains) && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, cand));
        }
    }
    best.map(|(_, c)| c)
}

/// Levenshtein distance counting a swap of two adjacent characters as one edit
/// (optimal string alignment), so `retires` is one edit from `retries`.
pub fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let (n, m) = (a.len(), b.len());
    let mut prev2 = vec![0usize; m + 1];
    let mut prev: Vec<usize> = (0..=m).collect();
    let mut cur = vec![0usize; m + 1];
    for i in 1..=n {
        cur[0] = i;
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(prev2[j - 2] + 1);
            }
            cur[j] = v;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[m]
}

/// A hint: "did you mean `x`?" when a candidate is close to `word`, followed by `then`
/// (typically the list of valid names), or `then` alone.
pub fn hint_with<'a, I>(word: &str, candidates: I, then: &str) -> String
where
    I: IntoIterator<Item = &'a str>,
{
    match closest(word, candidates) {
        Some(c) if then.is_empty() => format!("did you mean `{c}`?"),
        Some(c) => format!("did you mean `{c}`? {then}"),
        None => then.to_string(),
    }
}

/// Renders a list of names as `` `a`, `b`, `c` ``.
pub fn quoted_list<'a, I: IntoIterator<Item = &'a str>>(names: I) -> String {
    names
        .into_iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_find_their_word() {
        let keys = ["retries", "retry_delay", "pool", "owner"];
        assert_eq!(closest("retires", keys), Some("retries"));
        assert_eq!(closest("retry_dely", keys), Some("retry_delay"));
        assert_eq!(closest("pol", keys), Some("pool"));
        assert_eq!(closest("zzzzzz", keys), None);
        assert_eq!(closest("extrac", ["a", "b", "extract"]), Some("extract"));
        assert_eq!(closest("extrac", ["a", "b", "c"]), None);
    }

    #[test]
    fn transposition_is_one_edit() {
        assert_eq!(distance("retires", "retries"), 1);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
