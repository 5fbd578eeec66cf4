//! Histogram tree learners: features binned once ([`bins`]), trees ([`tree`]) grown from
//! gradient and hessian histograms ([`grow`](mod@grow)), a gradient-boosted ensemble ([`gbdt`]) and a random forest
//! ([`forest`]) on the same grower. Pure Rust, a few hundred kilobytes per fit.

pub mod bins;
pub mod forest;
pub mod gbdt;
pub mod grow;
pub mod tree;
