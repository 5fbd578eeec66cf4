//! What training reports: every candidate's search, metrics and fit time, the best one.

use serde::{Deserialize, Serialize};

use super::Objective;
use super::metrics::Metrics;
use super::model::Model;
use super::params::{Kind, Task};

/// One grid point's cross-validated score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchPoint {
    /// The hyperparameters.
    pub params: serde_json::Value,
    /// Mean validation score over the folds (`None` if a fold failed to fit).
    pub cv_score: Option<f64>,
}

/// A trained candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateReport {
    /// Its kind.
    pub candidate: Kind,
    /// The hyperparameters of the final fit.
    pub params: serde_json::Value,
    /// The searched points, when the grid had several.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub search: Vec<SearchPoint>,
    /// The best point's cross-validated score.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cv_score: Option<f64>,
    /// Test-split metrics (empty if it failed).
    pub metrics: Metrics,
    /// CPU seconds of its final fit.
    pub fit_seconds: f64,
    /// Why it failed, if it did.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
}

/// Rows used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowCounts {
    /// Training rows with a target value.
    pub train: usize,
    /// Test rows with a target value.
    pub test: usize,
}

/// The result of one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetReport {
    /// The label column.
    pub target: String,
    /// Its task.
    pub task: Task,
    /// The metric (or composite) that chose the best.
    pub metric: Objective,
    /// The best candidate.
    pub best: Kind,
    /// Its value of the metric on the test split.
    pub best_value: f64,
    /// Rows used.
    pub rows: RowCounts,
    /// Class labels (classification).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub classes: Vec<f64>,
    /// Every candidate, in the order trained.
    pub candidates: Vec<CandidateReport>,
}

/// A target's report and its fitted models (those that did not fail), by candidate.
#[derive(Debug)]
pub struct Trained {
    /// The report.
    pub report: TargetReport,
    /// The models, in the report's candidate order (failed ones left out).
    pub models: Vec<Model>,
}

impl Trained {
    /// The best model.
    pub fn best(&self) -> Option<&Model> {
        self.models.iter().find(|m| m.info.kind == self.report.best)
    }
}
