//! Training candidates on a prepared set: search, final fits, evaluation on the test split.
//!
//! Work is cut into independent jobs — one per (candidate, grid point, fold, class member,
//! forest part) — and run on `n_jobs` threads, longest first. Seeds are fixed per job, so
//! the models are the same whatever the thread count.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use serde::{Deserialize, Serialize};
use smartcore::linalg::basic::matrix::DenseMatrix;

use super::MlError;
use super::learner::{ForestPart, Learner, fit_forest_part, forest_parts};
use super::metrics::{self, Metric, Metrics};
use super::model::{Model, ModelInfo, argmax};
use super::parallel::{Job, run_all};
use super::params::{Grid, Kind, Params, Task, points};
use super::search::{Search, kfold};
use super::table::{Table, numbers};

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
    pub metric: Option<Metric>,
}

impl TargetSpec {
    /// The metric in force.
    pub fn metric(&self) -> Metric {
        self.metric.unwrap_or(match self.task {
            Task::Classification => Metric::F1Macro,
            Task::Regression => Metric::Rmse,
        })
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
    /// Grid of `random_forest_classifier` (over its defaults).
    #[serde(default)]
    pub random_forest_classifier: Option<Grid>,
    /// Grid of `gradient_boosting` (over its defaults).
    #[serde(default)]
    pub gradient_boosting: Option<Grid>,
    /// How grids with several points are searched.
    #[serde(default)]
    pub search: Search,
    /// The metric for every target without its own.
    #[serde(default)]
    pub metric: Option<Metric>,
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
            t.metric = t.metric.or(self.metric);
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
            Kind::RandomForestClassifier => &self.random_forest_classifier,
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
    /// The metric that chose the best.
    pub metric: Metric,
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

/// Trains every target of `spec` on `train` and evaluates on `test`.
///
/// # Errors
/// A missing column, a target with a single class, or every candidate failing.
pub fn train(
    train: &RecordBatch,
    test: &RecordBatch,
    features: &[String],
    spec: &TrainSpec,
) -> Result<Vec<Trained>, MlError> {
    spec.check()
        .map_err(|(arg, msg)| MlError::Data(format!("argument `{arg}`: {msg}")))?;
    let x_train = Table::from_batch(train, features)?;
    let x_test = Table::from_batch(test, features)?;
    spec.targets()
        .iter()
        .map(|t| train_target(&x_train, train, &x_test, test, t, spec))
        .collect()
}

/// The rows of one split that have a target value, as a matrix.
struct Side {
    /// Their row numbers in the split's table.
    rows: Vec<usize>,
    x: DenseMatrix<f64>,
    y: Vec<f64>,
}

fn side(x: &Table, batch: &RecordBatch, target: &str) -> Result<Side, MlError> {
    let y = numbers(batch, target)?;
    let rows: Vec<usize> = (0..y.len()).filter(|i| !y[*i].is_nan()).collect();
    let matrix = if rows.len() == y.len() {
        x.matrix()
    } else {
        x.subset(&rows).into_matrix()
    };
    Ok(Side {
        x: matrix,
        y: rows.iter().map(|i| y[*i]).collect(),
        rows,
    })
}

fn train_target(
    x_train: &Table,
    train: &RecordBatch,
    x_test: &Table,
    test: &RecordBatch,
    t: &TargetSpec,
    spec: &TrainSpec,
) -> Result<Trained, MlError> {
    let metric = t.metric();
    let tr = side(x_train, train, &t.column)?;
    let te = side(x_test, test, &t.column)?;
    let mut classes: Vec<f64> = Vec::new();
    if t.task == Task::Classification {
        classes = tr.y.clone();
        classes.sort_by(f64::total_cmp);
        classes.dedup();
        if classes.len() < 2 {
            return Err(MlError::Data(format!(
                "target `{}` has a single class in the training split ({:?}): prepare more days (window_days) or check the data",
                t.column, classes
            )));
        }
        if classes.len() > 64 {
            return Err(MlError::Data(format!(
                "target `{}` has {} classes: is it a regression target? (task: regression)",
                t.column,
                classes.len()
            )));
        }
    }
    let class_of = |v: f64| classes.iter().position(|c| *c == v);
    let info = |kind: Kind, params: Params| ModelInfo {
        kind,
        task: t.task,
        target: t.column.clone(),
        feature_columns: x_train.columns().to_vec(),
        classes: classes.clone(),
        params,
        seed: spec.seed,
    };

    // The candidates and their points.
    let mut cands: Vec<(Kind, Vec<serde_json::Value>)> = Vec::new();
    for kind in spec.candidates(t.task) {
        let all = points(&spec.grid(kind));
        let picked = spec.search.pick(all.len(), spec.seed);
        cands.push((kind, picked.into_iter().map(|i| all[i].clone()).collect()));
    }

    // One pool of jobs for the cross-validation and for the final fits of candidates that
    // need no search; a second for the searched candidates' final fits, which depend on it.
    let searched = cands.iter().any(|(_, p)| p.len() > 1);
    let fold_data: Vec<(Side, Side)> = if searched {
        let class_idx: Option<Vec<usize>> = (t.task == Task::Classification)
            .then(|| tr.y.iter().map(|v| class_of(*v).unwrap_or(0)).collect());
        kfold(
            class_idx.as_deref(),
            tr.y.len(),
            spec.search.folds,
            spec.seed,
        )
        .iter()
        .map(|(a, b)| {
            let pick = |rows: &[usize]| {
                let in_table: Vec<usize> = rows.iter().map(|r| tr.rows[*r]).collect();
                Side {
                    x: x_train.subset(&in_table).into_matrix(),
                    y: rows.iter().map(|r| tr.y[*r]).collect(),
                    rows: in_table,
                }
            };
            (pick(a), pick(b))
        })
        .collect()
    } else {
        Vec::new()
    };
    enum Slot {
        Fold(usize, usize, usize),
        Final(usize),
    }
    let mut requests = Vec::new();
    let mut slots = Vec::new();
    for (ci, (kind, pts)) in cands.iter().enumerate() {
        if pts.len() < 2 {
            requests.push(Request {
                x: &tr.x,
                y: &tr.y,
                info: info(*kind, kind.params(&pts[0]).map_err(MlError::Data)?),
            });
            slots.push(Slot::Final(ci));
            continue;
        }
        for (pi, p) in pts.iter().enumerate() {
            let params = kind.params(p).map_err(MlError::Data)?;
            for (fi, (fit, _)) in fold_data.iter().enumerate() {
                requests.push(Request {
                    x: &fit.x,
                    y: &fit.y,
                    info: info(*kind, params.clone()),
                });
                slots.push(Slot::Fold(ci, pi, fi));
            }
        }
    }
    let mut finals: BTreeMap<usize, (Result<Model, String>, Duration)> = BTreeMap::new();
    let mut scores: BTreeMap<(usize, usize), Vec<Option<f64>>> = BTreeMap::new();
    for (slot, (result, cpu)) in slots.into_iter().zip(fit_all(requests, spec.threads())) {
        match slot {
            Slot::Final(ci) => {
                finals.insert(ci, (result, cpu));
            }
            Slot::Fold(ci, pi, fi) => {
                let (_, valid) = &fold_data[fi];
                let score = result
                    .ok()
                    .and_then(|m| evaluate(&m, &valid.x, &valid.y).ok())
                    .and_then(|m| m.get(metric.name()).copied());
                scores.entry((ci, pi)).or_default().push(score);
            }
        }
    }
    let cv: BTreeMap<(usize, usize), Option<f64>> = scores
        .into_iter()
        .map(|(key, s)| {
            let mean = s
                .iter()
                .copied()
                .collect::<Option<Vec<f64>>>()
                .map(|v| v.iter().sum::<f64>() / v.len() as f64);
            (key, mean)
        })
        .collect();

    // The searched candidates' best points, fitted on the whole training split.
    let mut chosen: Vec<(Kind, serde_json::Value, Vec<SearchPoint>, Option<f64>)> = Vec::new();
    let mut late = Vec::new();
    for (ci, (kind, pts)) in cands.iter().enumerate() {
        if pts.len() < 2 {
            chosen.push((*kind, pts[0].clone(), Vec::new(), None));
            continue;
        }
        let mut best: Option<(usize, f64)> = None;
        let mut report = Vec::new();
        for (pi, p) in pts.iter().enumerate() {
            let score = cv.get(&(ci, pi)).copied().flatten();
            report.push(SearchPoint {
                params: p.clone(),
                cv_score: score,
            });
            if let Some(s) = score
                && best.is_none_or(|(_, b)| metric.better(s, b))
            {
                best = Some((pi, s));
            }
        }
        let (pi, s) = best.map_or((0, None), |(pi, s)| (pi, Some(s)));
        late.push((
            ci,
            Request {
                x: &tr.x,
                y: &tr.y,
                info: info(*kind, kind.params(&pts[pi]).map_err(MlError::Data)?),
            },
        ));
        chosen.push((*kind, pts[pi].clone(), report, s));
    }
    let (late_ci, late_requests): (Vec<usize>, Vec<Request>) = late.into_iter().unzip();
    for (ci, fitted) in late_ci
        .into_iter()
        .zip(fit_all(late_requests, spec.threads()))
    {
        finals.insert(ci, fitted);
    }
    let fitted: Vec<(Result<Model, String>, Duration)> = (0..chosen.len())
        .map(|ci| {
            finals
                .remove(&ci)
                .unwrap_or_else(|| (Err("not fitted".into()), Duration::ZERO))
        })
        .collect();

    let mut reports = Vec::new();
    let mut models = Vec::new();
    for ((kind, params, search, cv_score), (result, cpu)) in chosen.into_iter().zip(fitted) {
        let evaluated = result.and_then(|m| evaluate(&m, &te.x, &te.y).map(|e| (m, e)));
        let (metrics, error) = match evaluated {
            Ok((m, e)) => {
                models.push(m);
                (e, None)
            }
            Err(e) => (Metrics::new(), Some(e)),
        };
        reports.push(CandidateReport {
            candidate: kind,
            params,
            search,
            cv_score,
            metrics,
            fit_seconds: cpu.as_secs_f64(),
            error,
        });
    }
    let mut best: Option<(Kind, f64)> = None;
    for r in &reports {
        if let Some(v) = r.metrics.get(metric.name())
            && best.is_none_or(|(_, b)| metric.better(*v, b))
        {
            best = Some((r.candidate, *v));
        }
    }
    let Some((best, best_value)) = best else {
        let why: Vec<String> = reports
            .iter()
            .map(|r| {
                format!(
                    "{}: {}",
                    r.candidate.name(),
                    r.error.as_deref().unwrap_or("?")
                )
            })
            .collect();
        return Err(MlError::Fit(format!(
            "no candidate could be trained for `{}`: {}",
            t.column,
            why.join("; ")
        )));
    };
    Ok(Trained {
        report: TargetReport {
            target: t.column.clone(),
            task: t.task,
            metric,
            best,
            best_value,
            rows: RowCounts {
                train: tr.y.len(),
                test: te.y.len(),
            },
            classes,
            candidates: reports,
        },
        models,
    })
}

/// Scores a model on rows with known targets.
///
/// # Errors
/// smartcore's message.
pub fn evaluate(model: &Model, x: &DenseMatrix<f64>, y: &[f64]) -> Result<Metrics, String> {
    let scores = model.scores(x)?;
    match model.info.task {
        Task::Regression => Ok(metrics::regression(y, &scores[0])),
        Task::Classification => {
            let classes = &model.info.classes;
            let proba = Model::probabilities(&scores);
            let predicted: Vec<usize> = proba.iter().map(|p| argmax(p)).collect();
            // Unknown test labels count as wrong for every class.
            let truth: Vec<usize> = y
                .iter()
                .map(|v| classes.iter().position(|c| c == v).unwrap_or(classes.len()))
                .collect();
            let k = classes.len() + usize::from(truth.contains(&classes.len()));
            // Two classes rank by the raw score (unclipped); more by the probabilities.
            let ranked: Vec<Vec<f64>> = if scores.len() == 1 {
                scores[0].iter().map(|v| vec![1.0 - v, *v]).collect()
            } else {
                proba
                    .into_iter()
                    .map(|mut p| {
                        p.resize(k, 0.0);
                        p
                    })
                    .collect()
            };
            Ok(metrics::classification(&truth, &predicted, &ranked, k))
        }
    }
}

/// A model to fit.
struct Request<'a> {
    x: &'a DenseMatrix<f64>,
    y: &'a [f64],
    info: ModelInfo,
}

/// (request, class member, forest part).
type PieceKey = (usize, usize, usize);
type Fitted = Result<Piece, String>;

enum Piece {
    Whole(Learner),
    Part(ForestPart),
}

/// Fits models, cut into jobs (members × forest parts), on `threads` threads. Returns each
/// model (or why it failed) and the CPU time its jobs took.
fn fit_all(requests: Vec<Request<'_>>, threads: usize) -> Vec<(Result<Model, String>, Duration)> {
    // Member targets live here while the jobs borrow them.
    let targets: Vec<Vec<Vec<f64>>> = requests
        .iter()
        .map(|r| {
            (0..Model::members_needed(r.info.task, r.info.classes.len()))
                .map(|m| Model::member_target(r.info.task, &r.info.classes, m, r.y))
                .collect()
        })
        .collect();
    let mut keyed: Vec<(u64, PieceKey, Job<'_, Fitted>)> = Vec::new();
    for (ri, r) in requests.iter().enumerate() {
        for (mi, y) in targets[ri].iter().enumerate() {
            let (task, seed, x) = (r.info.task, r.info.seed, r.x);
            let rows = y.len() as u64;
            match &r.info.params {
                Params::Forest(f) => {
                    for part in 0..forest_parts(f.n_trees) {
                        let f = f.clone();
                        keyed.push((
                            rows * 25 * 8,
                            (ri, mi, part),
                            Box::new(move || {
                                fit_forest_part(x, y, &f, seed, part).map(Piece::Part)
                            }),
                        ));
                    }
                }
                params => {
                    // Rough costs, so that long fits start first: a boosting round is about
                    // two forest trees; logistic regression's optimiser is slow in smartcore.
                    let cost = match params {
                        Params::Boosting(b) => rows * b.n_estimators as u64 * 2,
                        Params::Logistic(_) => rows * 400,
                        _ => rows,
                    };
                    let params = params.clone();
                    keyed.push((
                        cost,
                        (ri, mi, 0),
                        Box::new(move || Learner::fit(x, y, &params, task, seed).map(Piece::Whole)),
                    ));
                }
            }
        }
    }
    // Longest first, so that no long job starts last.
    keyed.sort_by_key(|k| std::cmp::Reverse(k.0));
    let (keys, jobs): (Vec<_>, Vec<_>) = keyed
        .into_iter()
        .map(|(_, key, job)| {
            let timed: Job<'_, (Result<Piece, String>, Duration)> = Box::new(move || {
                let started = Instant::now();
                let out = job();
                (out, started.elapsed())
            });
            (key, timed)
        })
        .unzip();
    let results = run_all(jobs, threads);
    let mut pieces: BTreeMap<PieceKey, Result<Piece, String>> = BTreeMap::new();
    let mut cpu = vec![Duration::ZERO; requests.len()];
    for (key, result) in keys.into_iter().zip(results) {
        let piece = match result {
            Ok((piece, took)) => {
                cpu[key.0] += took;
                piece
            }
            Err(panic) => Err(format!("training failed unexpectedly: {panic}")),
        };
        pieces.insert(key, piece);
    }
    let mut out = Vec::new();
    let mut by_request: BTreeMap<usize, Vec<(PieceKey, Fitted)>> = BTreeMap::new();
    for (key, p) in pieces {
        by_request.entry(key.0).or_default().push((key, p));
    }
    for (ri, r) in requests.into_iter().enumerate() {
        let members = targets[ri].len();
        let mut learners: Vec<Result<Learner, String>> = Vec::new();
        let mut parts: Vec<Vec<ForestPart>> = (0..members).map(|_| Vec::new()).collect();
        let mut failed: Option<String> = None;
        // BTreeMap order: member, then part.
        for ((_, mi, _), p) in by_request.remove(&ri).unwrap_or_default() {
            match p {
                Ok(Piece::Whole(l)) => learners.push(Ok(l)),
                Ok(Piece::Part(fp)) => parts[mi].push(fp),
                Err(e) => failed = Some(e),
            }
        }
        let model = match failed {
            Some(e) => Err(e),
            None if matches!(r.info.params, Params::Forest(_)) => Ok(Model::new(
                r.info,
                parts.into_iter().map(Learner::Forest).collect(),
            )),
            None => learners
                .into_iter()
                .collect::<Result<Vec<_>, _>>()
                .map(|l| Model::new(r.info, l)),
        };
        out.push((model, cpu[ri]));
    }
    out
}
