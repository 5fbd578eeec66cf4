//! Growing one regression tree on binned rows from per-row gradients and hessians.
//!
//! A split maximises the second-order gain `G_L²/(H_L+λ) + G_R²/(H_R+λ) − G²/(H+λ)` and a
//! leaf holds `−G/(H+λ)`, as in XGBoost and LightGBM. The same grower fits a forest's trees:
//! with `g = −y·w`, `h = w` (bootstrap counts) and `λ = 0` the gain is the weighted variance
//! reduction (Gini's for a 0/1 target) and a leaf holds the weighted mean (the class
//! frequency).
//!
//! Leaves are split best first, so `max_leaves` keeps the most useful ones (LightGBM's
//! leaf-wise growth); without it the order does not change the tree. When every feature is
//! considered at each node, a child's histogram is its parent's minus its sibling's, and only
//! the smaller child is counted; with a random subset of features per node (forests) each
//! node counts its own.

use std::collections::BinaryHeap;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::bins::{Binned, Bins};
use super::tree::{Node, Tree};

/// How a tree grows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grow {
    /// Deepest level (root = 0), unlimited when `None`.
    pub max_depth: Option<usize>,
    /// Most leaves, unlimited when `None`.
    pub max_leaves: Option<usize>,
    /// Fewest rows in a leaf.
    pub min_samples_leaf: usize,
    /// Smallest hessian sum in a leaf.
    pub min_hessian: f64,
    /// L2 penalty on leaf values.
    pub lambda: f64,
    /// Features drawn at random for each node; all when `None`.
    pub max_features: Option<usize>,
}

/// Sums of one histogram bin.
#[derive(Debug, Clone, Copy, Default)]
struct Cell {
    g: f64,
    h: f64,
    n: u32,
}

impl Cell {
    fn add(&mut self, o: Cell) {
        self.g += o.g;
        self.h += o.h;
        self.n += o.n;
    }

    fn minus(self, o: Cell) -> Cell {
        Cell {
            g: self.g - o.g,
            h: self.h - o.h,
            n: self.n - o.n,
        }
    }
}

/// A leaf waiting to be split: its rows (a range of the shared index), totals, histogram
/// (kept only when children are built by subtraction) and best split.
struct Open {
    node: usize,
    start: usize,
    end: usize,
    depth: usize,
    total: Cell,
    hist: Option<Vec<Cell>>,
    best: Option<Split>,
}

#[derive(Debug, Clone, Copy)]
struct Split {
    gain: f64,
    feature: usize,
    bin: usize,
    left: Cell,
}

/// Heap order: the open leaf with the largest gain first.
struct ByGain(f64, usize);

impl PartialEq for ByGain {
    fn eq(&self, o: &Self) -> bool {
        self.0.total_cmp(&o.0).is_eq() && self.1 == o.1
    }
}
impl Eq for ByGain {}
impl PartialOrd for ByGain {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for ByGain {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        // Larger gain first; on ties the older leaf (smaller slot), for determinism.
        self.0.total_cmp(&o.0).then(o.1.cmp(&self.1))
    }
}

struct Grower<'a> {
    x: &'a Binned,
    g: &'a [f64],
    h: &'a [f64],
    p: Grow,
    offsets: Vec<usize>,
    width: usize,
    features: Vec<usize>,
    /// One feature's bins, reused by [`Grower::best_split_of_rows`].
    scratch: Vec<Cell>,
}

impl Grower<'_> {
    fn leaf_value(&self, c: Cell) -> f64 {
        if c.h + self.p.lambda > 0.0 {
            -c.g / (c.h + self.p.lambda)
        } else {
            0.0
        }
    }

    fn score(&self, c: Cell) -> f64 {
        c.g * c.g / (c.h + self.p.lambda).max(1e-300)
    }

    /// The histogram of `rows` over `features` (other features' cells stay empty), in one
    /// pass over the rows.
    fn histogram(&self, rows: &[u32], features: &[usize]) -> Vec<Cell> {
        let mut hist = vec![Cell::default(); self.width];
        for &r in rows {
            let r = r as usize;
            let (g, h) = (self.g[r], self.h[r]);
            let row = self.x.row(r);
            for &f in features {
                let c = &mut hist[self.offsets[f] + row[f] as usize];
                c.g += g;
                c.h += h;
                c.n += 1;
            }
        }
        hist
    }

    /// Keeps `(f, b, left)` in `best` if it is the best valid split so far; `false` once the
    /// right side is too small for any later boundary of this feature.
    fn consider(
        &self,
        best: &mut Option<Split>,
        f: usize,
        b: usize,
        left: Cell,
        total: Cell,
        parent: f64,
    ) -> bool {
        let min_n = self.p.min_samples_leaf.max(1) as u32;
        if left.n < min_n || left.h < self.p.min_hessian {
            return true;
        }
        let right = total.minus(left);
        if right.n < min_n || right.h < self.p.min_hessian {
            return false;
        }
        let gain = self.score(left) + self.score(right) - parent;
        if gain > 1e-12 && best.is_none_or(|s| gain > s.gain) {
            *best = Some(Split {
                gain,
                feature: f,
                bin: b,
                left,
            });
        }
        true
    }

    /// The best split from a full histogram (boosting, where children come by subtraction).
    fn best_split(&self, hist: &[Cell], total: Cell, features: &[usize]) -> Option<Split> {
        let parent = self.score(total);
        let mut best: Option<Split> = None;
        for &f in features {
            let cells = &hist[self.offsets[f]..self.offsets[f + 1]];
            let mut left = Cell::default();
            for (b, cell) in cells[..cells.len() - 1].iter().enumerate() {
                left.add(*cell);
                if !self.consider(&mut best, f, b, left, total, parent) {
                    break;
                }
            }
        }
        best
    }

    /// The best split of `rows` over `features` without keeping a histogram (forests): a
    /// large node counts its features' bins in one pass over its rows into a reused buffer;
    /// a small one sorts its rows' bins per feature, so a node of ten rows costs ten entries,
    /// not 256 cells per feature.
    fn best_split_of_rows(
        &mut self,
        rows: &[u32],
        total: Cell,
        features: &[usize],
    ) -> Option<Split> {
        let parent = self.score(total);
        let mut best: Option<Split> = None;
        let small = rows.len() * 4 < 256;
        if small {
            let mut sparse: Vec<(u8, u32)> = Vec::with_capacity(rows.len());
            for &f in features {
                sparse.clear();
                sparse.extend(rows.iter().map(|&r| (self.x.get(r as usize, f), r)));
                sparse.sort_unstable_by_key(|e| e.0);
                let mut left = Cell::default();
                for i in 0..sparse.len() - 1 {
                    let (b, r) = sparse[i];
                    left.add(Cell {
                        g: self.g[r as usize],
                        h: self.h[r as usize],
                        n: 1,
                    });
                    if sparse[i + 1].0 == b {
                        continue;
                    }
                    if !self.consider(&mut best, f, b as usize, left, total, parent) {
                        break;
                    }
                }
            }
            return best;
        }
        // Local offsets of the chosen features in the buffer.
        let mut local = Vec::with_capacity(features.len() + 1);
        local.push(0usize);
        for &f in features {
            local.push(local.last().copied().unwrap_or(0) + self.offsets[f + 1] - self.offsets[f]);
        }
        let mut cells = std::mem::take(&mut self.scratch);
        cells.clear();
        cells.resize(local[features.len()], Cell::default());
        for &r in rows {
            let r = r as usize;
            let (g, h) = (self.g[r], self.h[r]);
            let row = self.x.row(r);
            for (i, &f) in features.iter().enumerate() {
                let c = &mut cells[local[i] + row[f] as usize];
                c.g += g;
                c.h += h;
                c.n += 1;
            }
        }
        for (i, &f) in features.iter().enumerate() {
            let own = &cells[local[i]..local[i + 1]];
            let mut left = Cell::default();
            for (b, cell) in own[..own.len() - 1].iter().enumerate() {
                left.add(*cell);
                if !self.consider(&mut best, f, b, left, total, parent) {
                    break;
                }
            }
        }
        self.scratch = cells;
        best
    }

    fn features_for_node(&mut self, rng: &mut StdRng) -> Vec<usize> {
        match self.p.max_features {
            Some(m) if m < self.features.len() => {
                let (chosen, _) = self.features.partial_shuffle(rng, m);
                let mut chosen = chosen.to_vec();
                chosen.sort_unstable();
                chosen
            }
            _ => self.features.clone(),
        }
    }
}

/// Grows a tree on the rows in `index` (every row a tree may use; reordered in place).
/// Returns the tree and, for each leaf, its value and its rows' range in `index`, so a
/// booster can update its scores without walking the tree.
pub fn grow(
    x: &Binned,
    bins: &Bins,
    g: &[f64],
    h: &[f64],
    index: &mut [u32],
    p: &Grow,
    rng: &mut StdRng,
) -> (Tree, Vec<(f64, std::ops::Range<usize>)>) {
    let mut offsets = vec![0usize];
    for f in 0..bins.features() {
        offsets.push(offsets[f] + bins.bins(f));
    }
    let mut gr = Grower {
        x,
        g,
        h,
        p: *p,
        width: offsets[bins.features()],
        offsets,
        features: (0..bins.features()).collect(),
        scratch: Vec::new(),
    };
    let subtract = p.max_features.is_none_or(|m| m >= bins.features());
    let can_split = |depth: usize, n: usize| {
        p.max_depth.is_none_or(|d| depth < d) && n >= 2 * p.min_samples_leaf.max(1)
    };
    let mut nodes = vec![Node::Leaf(0.0)];
    let mut open: Vec<Option<Open>> = Vec::new();
    let mut heap = BinaryHeap::new();
    let mut done: Vec<(usize, std::ops::Range<usize>, Cell)> = Vec::new();
    // Evaluates a new leaf: its histogram (given or counted), its best split.
    let mut add_open = |gr: &mut Grower<'_>,
                        index: &[u32],
                        heap: &mut BinaryHeap<ByGain>,
                        open: &mut Vec<Option<Open>>,
                        done: &mut Vec<(usize, std::ops::Range<usize>, Cell)>,
                        node: usize,
                        range: std::ops::Range<usize>,
                        depth: usize,
                        total: Cell,
                        hist: Option<Vec<Cell>>| {
        if !can_split(depth, range.len()) {
            done.push((node, range, total));
            return;
        }
        let features = gr.features_for_node(rng);
        let (hist, best) = if subtract {
            let hist = hist.unwrap_or_else(|| gr.histogram(&index[range.clone()], &features));
            let best = gr.best_split(&hist, total, &features);
            (Some(hist), best)
        } else {
            (
                None,
                gr.best_split_of_rows(&index[range.clone()], total, &features),
            )
        };
        match best {
            None => done.push((node, range, total)),
            Some(s) => {
                heap.push(ByGain(s.gain, open.len()));
                open.push(Some(Open {
                    node,
                    start: range.start,
                    end: range.end,
                    depth,
                    total,
                    hist,
                    best: Some(s),
                }));
            }
        }
    };
    let total = index.iter().fold(Cell::default(), |mut c, &r| {
        c.add(Cell {
            g: g[r as usize],
            h: h[r as usize],
            n: 1,
        });
        c
    });
    let n = index.len();
    add_open(
        &mut gr,
        index,
        &mut heap,
        &mut open,
        &mut done,
        0,
        0..n,
        0,
        total,
        None,
    );
    let mut leaves = 1usize;
    while let Some(ByGain(_, slot)) = heap.pop() {
        if p.max_leaves.is_some_and(|m| leaves >= m) {
            // Everything still open stays a leaf.
            break;
        }
        let Some(o) = open[slot].take() else { continue };
        let Some(s) = o.best else { continue };
        // Partition the leaf's rows: bin ≤ s.bin first.
        let rows = &mut index[o.start..o.end];
        let mut mid = 0;
        for i in 0..rows.len() {
            if x.get(rows[i] as usize, s.feature) as usize <= s.bin {
                rows.swap(i, mid);
                mid += 1;
            }
        }
        let mid = o.start + mid;
        let (l, r) = (nodes.len(), nodes.len() + 1);
        nodes[o.node] = Node::Split {
            feature: s.feature as u32,
            threshold: bins.threshold(s.feature, s.bin),
            // A split leaves at least one bin on its right: `s.bin` < 255.
            bin: s.bin as u8,
            left: l as u32,
            right: r as u32,
        };
        nodes.push(Node::Leaf(0.0));
        nodes.push(Node::Leaf(0.0));
        leaves += 1;
        let (lt, rt) = (s.left, o.total.minus(s.left));
        let (lh, rh) = match o.hist {
            Some(parent) => {
                // Count the smaller child, subtract for the other.
                let all: Vec<usize> = (0..bins.features()).collect();
                let left_smaller = mid - o.start <= o.end - mid;
                let small = if left_smaller {
                    gr.histogram(&index[o.start..mid], &all)
                } else {
                    gr.histogram(&index[mid..o.end], &all)
                };
                let big: Vec<Cell> = parent
                    .iter()
                    .zip(&small)
                    .map(|(p, s)| p.minus(*s))
                    .collect();
                if left_smaller {
                    (Some(small), Some(big))
                } else {
                    (Some(big), Some(small))
                }
            }
            None => (None, None),
        };
        add_open(
            &mut gr,
            index,
            &mut heap,
            &mut open,
            &mut done,
            l,
            o.start..mid,
            o.depth + 1,
            lt,
            lh,
        );
        add_open(
            &mut gr,
            index,
            &mut heap,
            &mut open,
            &mut done,
            r,
            mid..o.end,
            o.depth + 1,
            rt,
            rh,
        );
    }
    for o in open.into_iter().flatten() {
        done.push((o.node, o.start..o.end, o.total));
    }
    let mut out = Vec::with_capacity(done.len());
    for (node, range, total) in done {
        let v = gr.leaf_value(total);
        nodes[node] = Node::Leaf(v);
        out.push((v, range));
    }
    (Tree { nodes }, out)
}
