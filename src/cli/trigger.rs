//! `dagctl trigger <dag>`: run a DAG now, in the foreground.

use std::process::ExitCode;

use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use dagctl::engine::run::{DriveReport, Driver, Scope};
use dagctl::engine::spec::parse_date;
use dagctl::engine::store::{RunFilter, RunKey};
use dagctl::engine::{Engine, EngineError, RunOutcome, RunState, Store, TriggerOptions};

use super::output::{Progress, secs, table};
use super::{Global, print_json};

/// How many runs that succeeded a drive prints a table of; the others are counted (a backfill
/// of 100,000 runs prints a page, and keeps a page in memory, not 100,000 tables).
const SHOWN_SUCCEEDED: usize = 50;

#[derive(Debug, Args)]
pub struct TriggerArgs {
    /// The DAG to run.
    dag_id: String,
    /// `dag_run.conf` as a JSON object (its keys also override params).
    #[arg(long)]
    conf: Option<String>,
    /// The logical date (`2026-01-31` or `2026-01-31T06:00:00`); now by default.
    #[arg(long)]
    logical_date: Option<String>,
    /// The run id; `manual__<logical date>` by default.
    #[arg(long)]
    run_id: Option<String>,
    /// Only create the run (the next `dagctl trigger` or `runs resume` executes it).
    #[arg(long)]
    no_wait: bool,
    /// Run only this DAG; runs it triggers stay queued (by default they run too).
    #[arg(long)]
    no_follow: bool,
    /// Print the outcome as JSON.
    #[arg(long)]
    json: bool,
}

/// Reads `--conf` and `--logical-date` into trigger options.
pub fn options(
    conf: Option<&str>,
    logical_date: Option<&str>,
    run_id: Option<String>,
) -> anyhow::Result<TriggerOptions> {
    let conf = conf
        .map(|text| {
            // The text is not echoed: it may hold a secret.
            serde_json::from_str::<serde_json::Value>(text).with_context(|| {
                "--conf is not valid JSON; write it like '{\"force\": true}'".to_string()
            })
        })
        .transpose()?;
    let logical_date = logical_date
        .map(|text| {
            parse_date(text).with_context(|| {
                format!("--logical-date `{text}`: write a date of the years 1 to 9999, like 2026-01-31 or 2026-01-31T06:00:00")
            })
        })
        .transpose()?;
    Ok(TriggerOptions {
        conf,
        logical_date,
        run_id,
    })
}

pub async fn run(g: &Global, a: TriggerArgs) -> anyhow::Result<ExitCode> {
    let opts = options(a.conf.as_deref(), a.logical_date.as_deref(), a.run_id)?;
    let engine = Arc::new(g.engine().await?);
    engine.dag(&a.dag_id)?;
    let run = engine.create_run(&a.dag_id, opts).await?;
    if a.no_wait {
        if a.json {
            print_json(
                &serde_json::json!({"dag_id": run.dag_id, "run_id": run.run_id, "state": run.state.as_str()}),
            )?;
        } else {
            println!("created run {} of {} (queued)", run.run_id, run.dag_id);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let key = RunKey::new(&run.dag_id, &run.run_id);
    let scope = if a.no_follow {
        Scope::Only(vec![key.clone()])
    } else {
        Scope::Following(vec![key.clone()])
    };
    let progress = Progress::start(engine.events(), tasks_of(&engine), a.json);
    let report = drive(&engine, scope, a.json, |_| {}).await;
    progress.finish().await;
    let report = report?;
    print_report(&engine, &report, a.json).await?;
    if a.no_follow {
        let caused = queued_children(engine.store().as_ref(), &key).await?;
        if !caused.is_empty() {
            eprintln!(
                "{} run(s) it caused wait (queued): {}; `dagctl runs resume` runs them",
                caused.len(),
                caused.join(", ")
            );
        }
    }
    Ok(report_exit(&report))
}

/// The number of tasks of a DAG, for progress bars.
pub fn tasks_of(engine: &Arc<Engine>) -> impl Fn(&str) -> usize + Send + 'static {
    let engine = Arc::clone(engine);
    move |dag_id| engine.dag(dag_id).map_or(0, |d| d.tasks().len())
}

/// Queued runs caused by `key`.
async fn queued_children(store: &dyn Store, key: &RunKey) -> anyhow::Result<Vec<String>> {
    Ok(store
        .list_runs(&RunFilter {
            states: vec![RunState::Queued],
            ..RunFilter::default()
        })
        .await?
        .into_iter()
        .filter(|r| r.triggered_by.as_ref() == Some(key))
        .map(|r| format!("{} of {}", r.run_id, r.dag_id))
        .collect())
}

/// Drives `scope` for a command that prints the report: every outcome kept for `--json`,
/// [`SHOWN_SUCCEEDED`] runs that succeeded otherwise.
pub async fn drive(
    engine: &Arc<Engine>,
    scope: Scope,
    json: bool,
    on_done: impl FnMut(&RunOutcome),
) -> Result<DriveReport, EngineError> {
    let keep = if json { usize::MAX } else { SHOWN_SUCCEEDED };
    Driver::new(Arc::clone(engine), scope)
        .keep_succeeded(keep)
        .run(on_done)
        .await
}

/// The outcomes of a drive, the runs that could not run or were left, and the summaries.
pub async fn print_report(engine: &Engine, report: &DriveReport, json: bool) -> anyhow::Result<()> {
    print_outcomes(&report.outcomes, json)?;
    let more = report.succeeded_not_kept();
    if more > 0 && !json {
        println!(
            "… and {more} more run(s) that succeeded (`dagctl runs list --state success` lists \
             them)"
        );
    }
    for (key, why) in &report.failures {
        eprintln!("error: {key} could not be executed: {why}");
    }
    for (key, why) in &report.left {
        eprintln!("left unfinished: {key}: {why}");
    }
    for (key, why) in &report.held {
        eprintln!("left to another process: {key}: {why}");
    }
    if !json {
        print_summaries(engine.store().as_ref(), report).await;
    }
    Ok(())
}

/// Exit 0 when every run succeeded and none was left unfinished.
pub fn report_exit(report: &DriveReport) -> ExitCode {
    if report.all_succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The `summary` line that tasks return in their XCom (data written, rows prepared, models
/// trained and promoted), after the run tables.
pub async fn print_summaries(store: &dyn dagctl::engine::Store, report: &DriveReport) {
    let mut lines = Vec::new();
    for o in &report.outcomes {
        // One read of the run's XComs, not one per task.
        let Ok(xcoms) = store.xcoms(&RunKey::new(&o.dag_id, &o.run_id)).await else {
            continue;
        };
        for t in &o.tasks {
            let line = xcoms
                .iter()
                .find(|(task, key, _)| *task == t.task_id && key == "return_value")
                .and_then(|(_, _, v)| v.get("summary"))
                .and_then(|s| s.as_str());
            if let Some(line) = line {
                lines.push((o.dag_id.as_str(), t.task_id.as_str(), line.to_string()));
            }
        }
    }
    if lines.is_empty() {
        return;
    }
    // The secrets masker only when there is something to print.
    let masker = dagctl::engine::secrets::Masker::load_or_empty(store).await;
    let lines: Vec<String> = lines
        .into_iter()
        .map(|(dag, task, line)| format!("  {dag}.{task}: {}", masker.mask(&line)))
        .collect();
    println!(
        "summary: {} of {} runs succeeded",
        report.succeeded, report.ended
    );
    for l in lines {
        println!("{l}");
    }
}

/// The outcome of runs: a table of tasks each, or JSON.
pub fn print_outcomes(outcomes: &[RunOutcome], json: bool) -> anyhow::Result<()> {
    if json {
        let list: Vec<_> = outcomes
            .iter()
            .map(|o| {
                serde_json::json!({
                    "dag_id": o.dag_id,
                    "run_id": o.run_id,
                    "state": o.state.as_str(),
                    "tasks": o.tasks.iter().map(|t| serde_json::json!({
                        "task_id": t.task_id,
                        "state": t.state.as_str(),
                        "tries": t.tries,
                        "duration_s": t.duration.map(|d| d.as_secs_f64()),
                        "error": t.error,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let value = if list.len() == 1 {
            list.into_iter().next().unwrap_or_default()
        } else {
            serde_json::Value::Array(list)
        };
        return print_json(&value);
    }
    for o in outcomes {
        println!("run {} of {}: {}", o.run_id, o.dag_id, o.state);
        let rows: Vec<[String; 5]> = o
            .tasks
            .iter()
            .map(|t| {
                [
                    format!("  {}", t.task_id),
                    t.state.to_string(),
                    t.tries.to_string(),
                    secs(t.duration),
                    t.error.clone().unwrap_or_default(),
                ]
            })
            .collect();
        table(["  task", "state", "tries", "duration", "error"], &rows);
    }
    Ok(())
}
