//! Fitting models as independent jobs — one per class member and forest part — on a fixed
//! number of threads, longest first.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use smartcore::linalg::basic::matrix::DenseMatrix;

use super::learner::{ForestPart, Learner, SharedBins, fit_forest_part, forest_parts};
use super::model::{Model, ModelInfo};
use super::parallel::{Job, run_all};
use super::params::Params;

/// A model to fit.
pub(super) struct Request<'a> {
    pub(super) x: &'a DenseMatrix<f64>,
    pub(super) y: &'a [f64],
    pub(super) info: ModelInfo,
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
pub(super) fn fit_all(
    requests: Vec<Request<'_>>,
    threads: usize,
) -> Vec<(Result<Model, String>, Duration)> {
    // Member targets live here while the jobs borrow them.
    let targets: Vec<Vec<Vec<f64>>> = requests
        .iter()
        .map(|r| {
            (0..Model::members_needed(r.info.task, r.info.classes.len()))
                .map(|m| Model::member_target(r.info.task, &r.info.classes, m, r.y))
                .collect()
        })
        .collect();
    // Rows are binned once per matrix, however many forests (grid points, members, parts)
    // are fitted on it.
    let mut slot_of = std::collections::HashMap::new();
    let slot: Vec<usize> = requests
        .iter()
        .map(|r| {
            let n = slot_of.len();
            *slot_of.entry(std::ptr::from_ref(r.x) as usize).or_insert(n)
        })
        .collect();
    let shared: Vec<SharedBins> = (0..slot_of.len()).map(|_| SharedBins::new()).collect();
    let mut keyed: Vec<(u64, PieceKey, Job<'_, Fitted>)> = Vec::new();
    for (ri, r) in requests.iter().enumerate() {
        for (mi, y) in targets[ri].iter().enumerate() {
            let (task, seed, x) = (r.info.task, r.info.seed, r.x);
            let rows = y.len() as u64;
            match &r.info.params {
                Params::Forest(f) => {
                    for part in 0..forest_parts(f.n_trees) {
                        let f = f.clone();
                        let binned = &shared[slot[ri]];
                        keyed.push((
                            rows * 25 * 8,
                            (ri, mi, part),
                            Box::new(move || {
                                fit_forest_part(x, y, &f, seed, part, binned).map(Piece::Part)
                            }),
                        ));
                    }
                }
                params => {
                    // Rough costs, so that long fits start first: a boosting round costs
                    // about a forest tree; a Newton step of logistic regression much less.
                    let cost = match params {
                        Params::Boosting(b) => rows * b.n_estimators as u64 * 8,
                        Params::Logistic(_) => rows * 40,
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
