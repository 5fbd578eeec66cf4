//! A trained model: one [`Learner`] for a number or a two-class target, one per class
//! (one-vs-rest) beyond two classes, with what is needed to use it: its kind, target, the
//! feature columns it expects and the class labels.

use serde::{Deserialize, Serialize};
use smartcore::linalg::basic::matrix::DenseMatrix;

use super::learner::Learner;
use super::params::{Kind, Params, Task};

/// What a model is, stored readable in its artifact's header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// The candidate kind.
    pub kind: Kind,
    /// Classification or regression.
    pub task: Task,
    /// The target column.
    pub target: String,
    /// The feature columns, in the order the model reads them.
    pub feature_columns: Vec<String>,
    /// The class labels, sorted (classification); a row's class index points here.
    pub classes: Vec<f64>,
    /// The hyperparameters it was fitted with.
    pub params: Params,
    /// The seed it was fitted with.
    pub seed: u64,
}

/// A trained model.
#[derive(Debug, Serialize, Deserialize)]
pub struct Model {
    /// What it is.
    pub info: ModelInfo,
    pub(crate) members: Vec<Learner>,
}

impl Model {
    /// Assembles a model from its fitted members (see [`Model::members_needed`]).
    pub fn new(info: ModelInfo, members: Vec<Learner>) -> Model {
        Model { info, members }
    }

    /// How many learners a model of `task` with `classes` needs: one, or one per class when
    /// there are more than two.
    pub fn members_needed(task: Task, classes: usize) -> usize {
        if task == Task::Classification && classes > 2 {
            classes
        } else {
            1
        }
    }

    /// The target each member learns: the number itself, the indicator of class 1 (binary),
    /// or of class `member` (one-vs-rest).
    pub fn member_target(task: Task, classes: &[f64], member: usize, y: &[f64]) -> Vec<f64> {
        match task {
            Task::Regression => y.to_vec(),
            Task::Classification => {
                let positive = if classes.len() > 2 {
                    classes[member]
                } else {
                    classes[classes.len() - 1]
                };
                y.iter()
                    .map(|v| f64::from(u8::from(*v == positive)))
                    .collect()
            }
        }
    }

    /// Each member's raw scores, one per row: the value (regression), the positive class's
    /// score (two classes: a probability, or an unbounded score for least squares), or each
    /// class's one-vs-rest score. Predictions and probabilities derive from these without
    /// scoring again.
    ///
    /// # Errors
    /// smartcore's message.
    pub fn scores(&self, x: &DenseMatrix<f64>) -> Result<Vec<Vec<f64>>, String> {
        self.members.iter().map(|m| m.scores(x)).collect()
    }

    /// Out-of-bag scores of a forest's training rows, as [`Model::scores`] gives them, and
    /// which rows they are (those some tree of every member left out); `None` unless every
    /// member is a freshly fitted forest.
    pub fn oob_scores(&self) -> Option<(Vec<Vec<f64>>, Vec<usize>)> {
        let per_member: Vec<Vec<Option<f64>>> = self
            .members
            .iter()
            .map(Learner::out_of_bag)
            .collect::<Option<_>>()?;
        let rows: Vec<usize> = (0..per_member.first()?.len())
            .filter(|r| per_member.iter().all(|m| m[*r].is_some()))
            .collect();
        let scores = per_member
            .iter()
            .map(|m| rows.iter().map(|r| m[*r].unwrap_or(0.0)).collect())
            .collect();
        Some((scores, rows))
    }

    /// Class probabilities per row from [`Model::scores`]: row `i`, class `c` as in
    /// [`ModelInfo::classes`]. Scores of least squares are clipped to `[0, 1]`; one-vs-rest
    /// scores are normalised to sum to 1.
    pub fn probabilities(scores: &[Vec<f64>]) -> Vec<Vec<f64>> {
        let rows = scores.first().map_or(0, Vec::len);
        (0..rows)
            .map(|i| {
                if scores.len() == 1 {
                    let p = scores[0][i].clamp(0.0, 1.0);
                    vec![1.0 - p, p]
                } else {
                    let v: Vec<f64> = scores.iter().map(|s| s[i].max(0.0)).collect();
                    let sum: f64 = v.iter().sum();
                    if sum > 0.0 {
                        v.iter().map(|p| p / sum).collect()
                    } else {
                        vec![1.0 / v.len() as f64; v.len()]
                    }
                }
            })
            .collect()
    }

    /// Class probabilities per row (classification); see [`Model::probabilities`].
    ///
    /// # Errors
    /// smartcore's message.
    pub fn predict_proba(&self, x: &DenseMatrix<f64>) -> Result<Vec<Vec<f64>>, String> {
        Ok(Self::probabilities(&self.scores(x)?))
    }

    /// Predictions from [`Model::scores`]: the value (regression) or the most probable class
    /// label.
    pub fn predictions(&self, mut scores: Vec<Vec<f64>>) -> Vec<f64> {
        match self.info.task {
            Task::Regression => scores.swap_remove(0),
            Task::Classification => Self::probabilities(&scores)
                .iter()
                .map(|p| self.info.classes[argmax(p)])
                .collect(),
        }
    }

    /// Predictions: the value (regression) or the most probable class label.
    ///
    /// # Errors
    /// smartcore's message.
    pub fn predict(&self, x: &DenseMatrix<f64>) -> Result<Vec<f64>, String> {
        Ok(self.predictions(self.scores(x)?))
    }
}

/// The index of the largest value (the first on ties).
pub fn argmax(v: &[f64]) -> usize {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = i;
        }
    }
    best
}
