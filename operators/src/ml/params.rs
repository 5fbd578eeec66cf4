//! Candidate kinds and their hyperparameters, read from operator arguments.
//!
//! Every hyperparameter may be given as one value or as a list; the lists of a candidate span
//! its search grid (their cartesian product). A candidate with a one-point grid is fitted
//! once; with more points, the search picks the point with the best cross-validated score.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Classification or regression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Predict a class (the shipped `churned`).
    Classification,
    /// Predict a number.
    Regression,
}

/// The candidate models, all trained with smartcore.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Ordinary least squares: the baseline. For a class, a linear probability model.
    LinearRegression,
    /// Logistic regression (classification only).
    LogisticRegression,
    /// A random forest, searched over its grid: regression trees on the target; for a class,
    /// on its 0/1 indicator, which makes it a probability forest.
    RandomForest,
    /// Histogram gradient-boosted trees (as LightGBM and scikit-learn's
    /// `HistGradientBoosting`): log-loss for a class, squared error for a number.
    GradientBoosting,
}

impl Kind {
    /// Every kind, in report order.
    pub const ALL: [Kind; 4] = [
        Kind::LinearRegression,
        Kind::LogisticRegression,
        Kind::RandomForest,
        Kind::GradientBoosting,
    ];

    /// Names that were candidates once, and what to use instead.
    pub const REMOVED: [(&'static str, &'static str); 1] = [(
        "random_forest_classifier",
        "it was the same model as `random_forest` (a forest's variance-reduction trees on a \
         class indicator are Gini trees, their leaf means class frequencies); use \
         `random_forest`, with `max_depth: null` and `min_samples_leaf: 1` for scikit-learn's \
         classifier defaults",
    )];

    /// The name used in arguments and reports.
    pub fn name(self) -> &'static str {
        match self {
            Kind::LinearRegression => "linear_regression",
            Kind::LogisticRegression => "logistic_regression",
            Kind::RandomForest => "random_forest",
            Kind::GradientBoosting => "gradient_boosting",
        }
    }

    /// The kind called `name`.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Whether it can learn a target of `task`.
    pub fn supports(self, task: Task) -> bool {
        task == Task::Classification || self != Kind::LogisticRegression
    }

    /// The candidates trained when none are named.
    pub fn defaults(task: Task) -> Vec<Kind> {
        Kind::ALL.into_iter().filter(|k| k.supports(task)).collect()
    }

    /// The default grid (one value or a list per hyperparameter).
    pub fn default_grid(self) -> Grid {
        let g = |pairs: &[(&str, serde_json::Value)]| -> Grid {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_string(), v.clone()))
                .collect()
        };
        use serde_json::json;
        match self {
            Kind::LinearRegression => Grid::new(),
            Kind::LogisticRegression => g(&[("alpha", json!(0.0))]),
            Kind::RandomForest => g(&[
                ("n_trees", json!(100)),
                ("max_depth", json!([12, null])),
                ("min_samples_leaf", json!([1, 5])),
                ("max_features", json!("sqrt")),
            ]),
            Kind::GradientBoosting => g(&[
                ("n_estimators", json!(100)),
                ("learning_rate", json!(0.1)),
                ("max_leaf_nodes", json!(31)),
                ("min_samples_leaf", json!(20)),
            ]),
        }
    }

    /// Reads one point of the grid, refusing unknown names and bad values.
    ///
    /// # Errors
    /// A message naming the hyperparameter.
    pub fn params(self, point: &serde_json::Value) -> Result<Params, String> {
        let e = |e: serde_json::Error| e.to_string();
        let p = match self {
            Kind::LinearRegression => {
                let _: NoParams = serde_json::from_value(point.clone()).map_err(e)?;
                Params::Linear
            }
            Kind::LogisticRegression => {
                Params::Logistic(serde_json::from_value(point.clone()).map_err(e)?)
            }
            Kind::RandomForest => Params::Forest(serde_json::from_value(point.clone()).map_err(e)?),
            Kind::GradientBoosting => {
                Params::Boosting(serde_json::from_value(point.clone()).map_err(e)?)
            }
        };
        p.check()?;
        Ok(p)
    }
}

/// Hyperparameter name → one value or a list of values.
pub type Grid = BTreeMap<String, serde_json::Value>;

/// The points of a grid: the cartesian product of its lists, in a stable order.
pub fn points(grid: &Grid) -> Vec<serde_json::Value> {
    let mut out = vec![serde_json::Map::new()];
    for (name, v) in grid {
        let values = match v {
            serde_json::Value::Array(a) => a.clone(),
            other => vec![other.clone()],
        };
        out = out
            .into_iter()
            .flat_map(|m| {
                values.iter().map(move |value| {
                    let mut m = m.clone();
                    m.insert(name.clone(), value.clone());
                    m
                })
            })
            .collect();
    }
    out.into_iter().map(serde_json::Value::Object).collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoParams {}

/// The hyperparameters of one fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Params {
    /// Linear regression: none.
    Linear,
    /// Logistic regression.
    Logistic(LogisticParams),
    /// Random forests.
    Forest(ForestParams),
    /// Gradient boosting.
    Boosting(BoostingParams),
}

impl Params {
    fn check(&self) -> Result<(), String> {
        match self {
            Params::Forest(f) if f.n_trees == 0 => Err("n_trees must be at least 1".into()),
            Params::Forest(f) if f.min_samples_leaf == 0 => {
                Err("min_samples_leaf must be at least 1".into())
            }
            Params::Boosting(b) if b.n_estimators == 0 => {
                Err("n_estimators must be at least 1".into())
            }
            Params::Boosting(b) if !(b.learning_rate > 0.0 && b.learning_rate <= 1.0) => {
                Err("learning_rate must be in (0, 1]".into())
            }
            Params::Boosting(b) if !(b.subsample > 0.0 && b.subsample <= 1.0) => {
                Err("subsample must be in (0, 1]".into())
            }
            Params::Boosting(b) if b.max_depth == Some(0) => {
                Err("max_depth must be at least 1".into())
            }
            Params::Boosting(b) if b.max_leaf_nodes.is_some_and(|n| n < 2) => {
                Err("max_leaf_nodes must be at least 2".into())
            }
            Params::Boosting(b) if b.l2_regularization.is_nan() || b.l2_regularization < 0.0 => {
                Err("l2_regularization must be ≥ 0".into())
            }
            Params::Logistic(l) if l.alpha.is_nan() || l.alpha < 0.0 => {
                Err("alpha must be ≥ 0".into())
            }
            _ => Ok(()),
        }
    }
}

/// Logistic regression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogisticParams {
    /// L2 penalty: the loss is the log-loss plus `alpha/2 · |w|²` (default 0).
    #[serde(default)]
    pub alpha: f64,
}

/// Features tried at each split of a forest's tree.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MaxFeatures {
    /// A fixed number.
    Count(usize),
    /// `sqrt`, `third` (p/3) or `all`.
    Rule(FeatureRule),
}

/// A rule for [`MaxFeatures`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureRule {
    /// √p, scikit-learn's classifier default.
    Sqrt,
    /// p/3, the classic regression default.
    Third,
    /// All p features.
    All,
}

impl MaxFeatures {
    /// The number of features of `p` tried per split (at least 1, at most p).
    pub fn of(self, p: usize) -> usize {
        let m = match self {
            MaxFeatures::Count(n) => n,
            MaxFeatures::Rule(FeatureRule::Sqrt) => (p as f64).sqrt().floor() as usize,
            MaxFeatures::Rule(FeatureRule::Third) => p / 3,
            MaxFeatures::Rule(FeatureRule::All) => p,
        };
        m.clamp(1, p.max(1))
    }
}

/// Random forests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForestParams {
    /// Trees (default 100).
    #[serde(default = "hundred")]
    pub n_trees: usize,
    /// Deepest level; null grows fully.
    #[serde(default)]
    pub max_depth: Option<u16>,
    /// Fewest rows in a leaf (default 1).
    #[serde(default = "one")]
    pub min_samples_leaf: usize,
    /// Features tried per split (default `sqrt`).
    #[serde(default = "sqrt")]
    pub max_features: MaxFeatures,
}

/// Gradient boosting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoostingParams {
    /// Boosting rounds (default 100).
    #[serde(default = "hundred")]
    pub n_estimators: usize,
    /// Shrinkage (default 0.1).
    #[serde(default = "tenth")]
    pub learning_rate: f64,
    /// Deepest level of each tree (default null: limited by `max_leaf_nodes`).
    #[serde(default)]
    pub max_depth: Option<u16>,
    /// Most leaves per tree, split best first (default 31, LightGBM's `num_leaves`).
    #[serde(default = "thirty_one")]
    pub max_leaf_nodes: Option<usize>,
    /// Fewest rows in a leaf (default 20).
    #[serde(default = "twenty")]
    pub min_samples_leaf: usize,
    /// L2 penalty on leaf values (default 0).
    #[serde(default)]
    pub l2_regularization: f64,
    /// Share of rows drawn for each round (default 1).
    #[serde(default = "whole")]
    pub subsample: f64,
}

fn hundred() -> usize {
    100
}
fn one() -> usize {
    1
}
fn thirty_one() -> Option<usize> {
    Some(31)
}
fn twenty() -> usize {
    20
}
fn tenth() -> f64 {
    0.1
}
fn whole() -> f64 {
    1.0
}
fn sqrt() -> MaxFeatures {
    MaxFeatures::Rule(FeatureRule::Sqrt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn grids_expand_and_points_are_checked() {
        let grid = Kind::RandomForest.default_grid();
        let pts = points(&grid);
        assert_eq!(pts.len(), 4);
        assert_eq!(
            pts[0],
            json!({"max_depth": 12, "max_features": "sqrt", "min_samples_leaf": 1, "n_trees": 100})
        );
        for p in &pts {
            assert!(matches!(
                Kind::RandomForest.params(p),
                Ok(Params::Forest(_))
            ));
        }
        let e = Kind::RandomForest
            .params(&json!({"n_tree": 5}))
            .unwrap_err();
        assert!(e.contains("unknown field `n_tree`"), "{e}");
        let e = Kind::GradientBoosting
            .params(&json!({"learning_rate": 2.0}))
            .unwrap_err();
        assert!(e.contains("learning_rate"), "{e}");
        assert_eq!(MaxFeatures::Rule(FeatureRule::Sqrt).of(27), 5);
        assert_eq!(MaxFeatures::Count(100).of(27), 27);
        assert!(!Kind::LogisticRegression.supports(Task::Regression));
        assert_eq!(Kind::defaults(Task::Regression).len(), 3);
        assert_eq!(points(&Grid::new()), vec![json!({})]);
    }
}
