//! Training candidates on a prepared set: search, final fits, evaluation on the test split.
//!
//! Work is cut into independent jobs — one per (candidate, grid point, fold, class member,
//! forest part) — and run on `n_jobs` threads, longest first. Seeds are fixed per job, so
//! the models are the same whatever the thread count.

use std::collections::BTreeMap;
use std::time::Duration;

use arrow::array::RecordBatch;
use smartcore::linalg::basic::matrix::DenseMatrix;

use super::MlError;
use super::fit::{Request, fit_all};
use super::metrics::{self, Metrics};
use super::model::{Model, ModelInfo, argmax};
use super::params::{Kind, Params, Task, points};
pub use super::report::{CandidateReport, RowCounts, SearchPoint, TargetReport, Trained};
use super::search::kfold;
pub use super::spec::{TargetSpec, TrainSpec};
use super::table::{Table, numbers};

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
    let searched = cands
        .iter()
        .any(|(k, p)| p.len() > 1 && !(spec.search.out_of_bag && *k == Kind::RandomForest));
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
        /// A forest's grid point fitted on the whole training split, scored out of bag.
        OutOfBag(usize, usize),
    }
    let out_of_bag = |kind: Kind| spec.search.out_of_bag && kind == Kind::RandomForest;
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
            if out_of_bag(*kind) {
                requests.push(Request {
                    x: &tr.x,
                    y: &tr.y,
                    info: info(*kind, params),
                });
                slots.push(Slot::OutOfBag(ci, pi));
                continue;
            }
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
    let mut bagged: BTreeMap<(usize, usize), (Result<Model, String>, Duration)> = BTreeMap::new();
    for (slot, (result, cpu)) in slots.into_iter().zip(fit_all(requests, spec.threads())) {
        match slot {
            Slot::Final(ci) => {
                finals.insert(ci, (result, cpu));
            }
            Slot::OutOfBag(ci, pi) => {
                let score = result
                    .as_ref()
                    .ok()
                    .and_then(|m| oob_score(m, &tr.y, &metric));
                scores.entry((ci, pi)).or_default().push(score);
                bagged.insert((ci, pi), (result, cpu));
            }
            Slot::Fold(ci, pi, fi) => {
                let (_, valid) = &fold_data[fi];
                let score = result
                    .ok()
                    .and_then(|m| evaluate(&m, &valid.x, &valid.y).ok())
                    .and_then(|m| metric.value(&m));
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
        chosen.push((*kind, pts[pi].clone(), report, s));
        if let Some(fitted) = bagged.remove(&(ci, pi)) {
            // Scored out of bag: the chosen forest is already fitted on the whole split.
            finals.insert(ci, fitted);
            continue;
        }
        late.push((
            ci,
            Request {
                x: &tr.x,
                y: &tr.y,
                info: info(*kind, kind.params(&pts[pi]).map_err(MlError::Data)?),
            },
        ));
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
        if let Some(v) = metric.value(&r.metrics)
            && best.is_none_or(|(_, b)| metric.better(v, b))
        {
            best = Some((r.candidate, v));
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
    Ok(evaluate_scores(model, &model.scores(x)?, y))
}

/// The metrics of a model's raw scores (see [`Model::scores`]) against known targets.
pub fn evaluate_scores(model: &Model, scores: &[Vec<f64>], y: &[f64]) -> Metrics {
    match model.info.task {
        Task::Regression => metrics::regression(y, &scores[0]),
        Task::Classification => {
            let classes = &model.info.classes;
            let proba = Model::probabilities(scores);
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
            metrics::classification(&truth, &predicted, &ranked, k)
        }
    }
}

/// A forest's out-of-bag score: each training row scored by the trees that did not draw it
/// (rows every tree drew are left out).
fn oob_score(model: &Model, y: &[f64], metric: &super::Objective) -> Option<f64> {
    let (scores, rows) = model.oob_scores()?;
    let y: Vec<f64> = rows.iter().map(|r| y[*r]).collect();
    metric.value(&evaluate_scores(model, &scores, &y))
}
