//! `dagctl runs list|show|resume`.

use std::process::ExitCode;

use clap::Subcommand;
use dagctl::engine::run::Scope;
use dagctl::engine::store::{RunFilter, RunKey};
use dagctl::engine::{RunState, Store};

use super::output::{Progress, secs, table, time};
use super::trigger::{drive, print_report, report_exit, tasks_of};
use super::{Global, print_json};

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// List DAG runs, newest first.
    List {
        /// Only this DAG's runs.
        #[arg(long)]
        dag: Option<String>,
        /// Only runs in this state (queued, running, success, failed).
        #[arg(long)]
        state: Option<RunState>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a run: every task instance with its tries.
    Show {
        /// The run id.
        run_id: String,
        /// The DAG, when several DAGs have runs with this id.
        #[arg(long)]
        dag: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Continue a run left unfinished (a crash, `--no-wait`) with the runs it causes, or every
    /// unfinished run (including those created meanwhile) until none is left.
    Resume {
        /// The run id; every unfinished run when absent.
        run_id: Option<String>,
        /// The DAG, when several DAGs have runs with this id.
        #[arg(long)]
        dag: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// End a run as failed now: running tasks fail (their tries are stopped), tasks not
    /// started are skipped.
    MarkFailed(MarkArgs),
    /// End a run as successful now: every task not successful is marked success (running
    /// tries are stopped).
    MarkSuccess(MarkArgs),
    /// Cancel a run: its running tries are stopped and it ends failed.
    Cancel(MarkArgs),
}

/// The run a mark or cancel applies to.
#[derive(Debug, clap::Args)]
pub struct MarkArgs {
    /// The run id.
    run_id: String,
    /// The DAG, when several DAGs have runs with this id.
    #[arg(long)]
    dag: Option<String>,
}

pub async fn run(g: &Global, c: RunsCommand) -> anyhow::Result<ExitCode> {
    match c {
        RunsCommand::List {
            dag,
            state,
            limit,
            json,
        } => {
            let store = g.store().await?;
            let runs = store
                .list_runs(&RunFilter {
                    dag_id: dag,
                    states: state.into_iter().collect(),
                    limit: Some(limit),
                    ..RunFilter::default()
                })
                .await?;
            if json {
                let masker = dagctl::engine::secrets::Masker::load_or_empty(&store).await;
                let list: Vec<_> = runs.iter().map(|r| crate::views::run(r, &masker)).collect();
                print_json(&serde_json::Value::Array(list))?;
            } else if runs.is_empty() {
                println!("(no runs)");
            } else {
                let rows: Vec<[String; 6]> = runs
                    .iter()
                    .map(|r| {
                        [
                            r.dag_id.clone(),
                            r.run_id.clone(),
                            r.state.to_string(),
                            time(Some(r.logical_date)),
                            time(r.start_date),
                            secs(duration(r.start_date, r.end_date)),
                        ]
                    })
                    .collect();
                table(
                    [
                        "dag_id",
                        "run_id",
                        "state",
                        "logical_date",
                        "started",
                        "duration",
                    ],
                    &rows,
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        RunsCommand::Show { run_id, dag, json } => {
            let engine = g.engine().await?;
            let found = engine.find_run(&run_id, dag.as_deref()).await?;
            let view = crate::views::RunView::load(&engine, found).await?;
            if json {
                print_json(&view.to_json())?;
                return Ok(ExitCode::SUCCESS);
            }
            let (run, masker, tis, tries) = (&view.run, &view.masker, &view.tis, &view.tries);
            println!("run {} of {}: {}", run.run_id, run.dag_id, run.state);
            println!(
                "  logical_date: {}  data interval: {} → {}",
                time(Some(run.logical_date)),
                time(Some(run.data_interval_start)),
                time(Some(run.data_interval_end))
            );
            println!(
                "  started: {}  ended: {}  conf: {}",
                time(run.start_date),
                time(run.end_date),
                masker.mask_json(&run.conf)
            );
            let reasons = dagctl::operators::monitor::reasons::from_conf(&run.conf);
            if !reasons.is_empty() {
                println!("  reason: {}", reasons.join(", "));
            }
            println!();
            let mut rows: Vec<[String; 5]> = Vec::new();
            for t in tis {
                rows.push([
                    t.task_id.clone(),
                    t.state.to_string(),
                    format!("{}/{}", t.try_number, t.max_tries),
                    time(t.start_date),
                    String::new(),
                ]);
                for x in tries.iter().filter(|x| x.task_id == t.task_id) {
                    rows.push([
                        format!("  try {}", x.try_number),
                        x.state.to_string(),
                        secs(x.duration),
                        time(Some(x.start_date)),
                        x.error.clone().unwrap_or_default(),
                    ]);
                }
            }
            table(["task", "state", "tries", "started", "error"], &rows);
            Ok(ExitCode::SUCCESS)
        }
        RunsCommand::Resume { run_id, dag, json } => {
            let engine = std::sync::Arc::new(g.engine().await?);
            let scope = match run_id {
                Some(id) => {
                    let run = engine.find_run(&id, dag.as_deref()).await?;
                    if run.state.is_finished() {
                        println!(
                            "run {} of {} is {} already",
                            run.run_id, run.dag_id, run.state
                        );
                        return Ok(ExitCode::SUCCESS);
                    }
                    Scope::Following(vec![RunKey::new(&run.dag_id, &run.run_id)])
                }
                None => Scope::All,
            };
            let progress = Progress::start(engine.events(), tasks_of(&engine), json);
            let report = drive(&engine, scope, json, |_| {}).await;
            progress.finish().await;
            let report = report?;
            let nothing = report.ended == 0
                && report.failures.is_empty()
                && report.left.is_empty()
                && report.held.is_empty();
            if nothing && !json {
                println!("no unfinished runs");
                return Ok(ExitCode::SUCCESS);
            }
            print_report(&engine, &report, json).await?;
            Ok(report_exit(&report))
        }
        RunsCommand::MarkFailed(m) => mark(g, m, RunState::Failed, "marked failed").await,
        RunsCommand::MarkSuccess(m) => mark(g, m, RunState::Success, "marked success").await,
        RunsCommand::Cancel(m) => mark(g, m, RunState::Failed, "cancelled").await,
    }
}

async fn mark(g: &Global, m: MarkArgs, state: RunState, why: &str) -> anyhow::Result<ExitCode> {
    let engine = g.engine().await?;
    let run = engine.find_run(&m.run_id, m.dag.as_deref()).await?;
    if run.state.is_finished() && why == "cancelled" {
        anyhow::bail!(
            "run {} of {} is {} already: there is nothing to cancel",
            run.run_id,
            run.dag_id,
            run.state
        );
    }
    let key = RunKey::new(&run.dag_id, &run.run_id);
    engine
        .runs()
        .mark(&key, state, &format!("{why} by `dagctl runs`"))
        .await?;
    println!(
        "{why}: run {} of {} ({} → {state})",
        run.run_id, run.dag_id, run.state
    );
    Ok(ExitCode::SUCCESS)
}

fn duration(
    start: Option<chrono::DateTime<chrono::Utc>>,
    end: Option<chrono::DateTime<chrono::Utc>>,
) -> Option<std::time::Duration> {
    Some((end? - start?).to_std().unwrap_or_default())
}
