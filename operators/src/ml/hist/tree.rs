//! A fitted regression tree: its nodes, and predicting with raw or binned features. Trees
//! are grown by [`grow`](super::grow).

use serde::{Deserialize, Serialize};

/// A node of a fitted tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Node {
    /// A leaf and its value.
    Leaf(f64),
    /// Rows with `feature ≤ threshold` (or missing) go to `left`, the others to `right`.
    Split {
        /// The feature's column.
        feature: u32,
        /// The boundary.
        threshold: f64,
        /// The same boundary as a bin of the rows the tree was grown on.
        bin: u8,
        /// The left child's index.
        left: u32,
        /// The right child's index.
        right: u32,
    },
}

/// A fitted tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    pub(super) nodes: Vec<Node>,
}

impl Tree {
    /// The value for one row of raw features (`value(f)` gives feature `f`).
    pub fn predict(&self, value: impl Fn(usize) -> f64) -> f64 {
        let mut i = 0usize;
        loop {
            match &self.nodes[i] {
                Node::Leaf(v) => return *v,
                Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                    ..
                } => {
                    let v = value(*feature as usize);
                    i = if v <= *threshold || v.is_nan() {
                        *left as usize
                    } else {
                        *right as usize
                    };
                }
            }
        }
    }

    /// The value for one row of the binned rows the tree was grown on.
    pub fn predict_binned(&self, row: &[u8]) -> f64 {
        let mut i = 0usize;
        loop {
            match &self.nodes[i] {
                Node::Leaf(v) => return *v,
                Node::Split {
                    feature,
                    bin,
                    left,
                    right,
                    ..
                } => {
                    i = if row[*feature as usize] <= *bin {
                        *left as usize
                    } else {
                        *right as usize
                    };
                }
            }
        }
    }

    /// Multiplies every leaf by `factor` (a booster's learning rate).
    pub fn scale(&mut self, factor: f64) {
        for n in &mut self.nodes {
            if let Node::Leaf(v) = n {
                *v *= factor;
            }
        }
    }

    /// Number of leaves.
    pub fn leaves(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| matches!(n, Node::Leaf(_)))
            .count()
    }
}
