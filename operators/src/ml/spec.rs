//! What `train_models` trains: targets, candidates and their grids, the search, the metric.

use serde::{Deserialize, Serialize};

use super::Objective;
use super::metrics::Metric;
use super::params::{Grid, Kind, Task, points};
use super::search::Search;

/// One target to learn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    /// The label column.
    pub column: String,
    /// `classification` or `regression`.
    pub task: Task,
    /// The metric that picks the best candidate (default `f1_macro` / `rmse`).
    #[serde(default)]
    pub metric: Option<Objective>,
}

impl TargetSpec {
    /// The metric (or composite) in force.
    pub fn metric(&self) -> Objective {
        self.metric
            .clone()
            .unwrap_or(Objective::Metric(match self.task {
                Task::Classification => Metric::F1Macro,
                Task::Regression => Metric::Rmse,
            }))
    }
}

/// What to train (the `train_models` arguments other than locations).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSpec {
    /// One target (shorthand for `targets` with one entry).
    #[serde(default)]
    pub target: Option<String>,
    /// The task of `target` (default classification).
    #[serde(default)]
    pub task: Option<Task>,
    /// Several targets, trained and reported separately.
    #[serde(default)]
    pub targets: Vec<TargetSpec>,
    /// The candidates (default: every kind that fits the task).
    #[serde(default)]
    pub candidates: Option<Vec<Kind>>,
    /// Grid of `linear_regression` (it has no hyperparameters).
    #[serde(default)]
    pub linear_regression: Option<Grid>,
    /// Grid of `logistic_regression` (over its defaults).
    #[serde(default)]
    pub logistic_regression: Option<Grid>,
    /// Grid of `random_forest` (over its defaults).
    #[serde(default)]
    pub random_forest: Option<Grid>,
    /// Grid of `gradient_boosting` (over its defaults).
    #[serde(default)]
    pub gradient_boosting: Option<Grid>,
    /// How grids with several points are searched.
    #[serde(default)]
    pub search: Search,
    /// The metric for every target without its own.
    #[serde(default)]
    pub metric: Option<Objective>,
    /// Threads (default: the machine's cores).
    #[serde(default)]
    pub n_jobs: Option<usize>,
    /// Seed of folds, forests and boosting (default 42).
    #[serde(default = "seed")]
    pub seed: u64,
}

fn seed() -> u64 {
    42
}

impl Default for TrainSpec {
    fn default() -> Self {
        serde_json::from_value(serde_json::json!({})).unwrap_or_else(|e| unreachable!("{e}"))
    }
}

impl TrainSpec {
    /// The targets, with the shorthand and the shared metric applied.
    pub fn targets(&self) -> Vec<TargetSpec> {
        let mut out = self.targets.clone();
        if let Some(t) = &self.target {
            out.insert(
                0,
                TargetSpec {
                    column: t.clone(),
                    task: self.task.unwrap_or(Task::Classification),
                    metric: None,
                },
            );
        }
        if out.is_empty() {
            out.push(TargetSpec {
                column: "churned".into(),
                task: self.task.unwrap_or(Task::Classification),
                metric: None,
            });
        }
        for t in &mut out {
            t.metric = t.metric.take().or_else(|| self.metric.clone());
        }
        out
    }

    /// The grid of `kind`: its defaults with the given hyperparameters replaced.
    pub fn grid(&self, kind: Kind) -> Grid {
        let mut g = kind.default_grid();
        let given = match kind {
            Kind::LinearRegression => &self.linear_regression,
            Kind::LogisticRegression => &self.logistic_regression,
            Kind::RandomForest => &self.random_forest,
            Kind::GradientBoosting => &self.gradient_boosting,
        };
        if let Some(given) = given {
            g.extend(given.clone());
        }
        g
    }

    /// The candidates for a task.
    pub fn candidates(&self, task: Task) -> Vec<Kind> {
        self.candidates
            .clone()
            .unwrap_or_else(|| Kind::defaults(task))
    }

    /// Threads to use.
    pub fn threads(&self) -> usize {
        self.n_jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1)
    }

    /// Checks everything that can be checked without data: metrics against tasks, candidates
    /// against tasks, every grid point's hyperparameters, the search.
    ///
    /// # Errors
    /// `(argument, message)` naming the offending argument.
    pub fn check(&self) -> Result<(), (String, String)> {
        if self.search.folds < 2 {
            return Err(("search".into(), "need at least 2 folds".into()));
        }
        if self.n_jobs == Some(0) {
            return Err(("n_jobs".into(), "need at least 1 thread".into()));
        }
        for t in self.targets() {
            let m = t.metric();
            m.check().map_err(|e| ("metric".to_string(), e))?;
            if m.is_classification() != (t.task == Task::Classification) {
                return Err((
                    "metric".into(),
                    format!(
                        "`{}` does not measure {} (target `{}`)",
                        m.name(),
                        match t.task {
                            Task::Classification => "classification",
                            Task::Regression => "regression",
                        },
                        t.column
                    ),
                ));
            }
            for k in self.candidates(t.task) {
                if !k.supports(t.task) {
                    return Err((
                        "candidates".into(),
                        format!(
                            "`{}` cannot learn the regression target `{}`",
                            k.name(),
                            t.column
                        ),
                    ));
                }
            }
        }
        for k in Kind::ALL {
            for p in points(&self.grid(k)) {
                k.params(&p).map_err(|e| (k.name().to_string(), e))?;
            }
        }
        Ok(())
    }
}
