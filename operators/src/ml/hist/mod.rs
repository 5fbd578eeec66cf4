//! Histogram tree learners: features binned once ([`bins`]), trees grown from gradient and
//! hessian histograms ([`tree`]), a gradient-boosted ensemble ([`gbdt`]) and a random forest
//! ([`forest`]) on the same grower. Pure Rust, a few hundred kilobytes per fit.

pub mod bins;
pub mod forest;
pub mod gbdt;
pub mod tree;
