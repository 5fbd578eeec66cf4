//! Model training on prepared data: learners written in Rust on smartcore's matrices.
//!
//! ## Layout
//! | module | owns |
//! |---|---|
//! | [`params`] | candidate kinds, their hyperparameters and grids |
//! | [`learner`] | one fitted model behind a common face |
//! | [`linear`] | least squares and logistic regression (Newton), solved exactly |
//! | [`hist`] | histogram trees: binning, the grower, boosted trees, forests |
//! | [`objective`] | one metric or a weighted composite: what "better" means |
//! | [`model`] | a trained model: learners, target, classes, feature columns |
//! | [`artifact`] | model files: versioned header + postcard |
//! | [`metrics`] | RMSE, MAE, R²; accuracy, macro precision/recall/F1, ROC AUC |
//! | [`search`] | cross-validation folds, grid and random search |
//! | [`parallel`] | independent jobs on a fixed number of threads |
//! | [`table`] | prepared Parquet columns → smartcore matrices |
//! | [`spec`] | what to train: targets, candidates, grids, search, metric |
//! | [`report`] | what training reports |
//! | [`train`](mod@train) | search, final fits and evaluation of every candidate of every target |
//! | [`operator`] | the `train_models` operator |

pub mod artifact;
mod fit;
pub mod hist;
pub mod learner;
pub mod linear;
pub mod metrics;
pub mod model;
pub mod objective;
pub mod operator;
pub mod parallel;
pub mod params;
pub mod report;
pub mod search;
pub mod spec;
pub mod table;
pub mod train;

pub use metrics::Metric;
pub use model::Model;
pub use objective::Objective;
pub use params::{Kind, Task};
pub use train::{TrainSpec, Trained, train};

/// Errors of training and of model files.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MlError {
    /// The data does not fit the training (missing column, single class, …).
    #[error("{0}")]
    Data(String),
    /// No candidate could be fitted.
    #[error("{0}")]
    Fit(String),
    /// A model file is not usable.
    #[error("{0}")]
    Artifact(String),
}

#[cfg(test)]
mod tests;
