//! `dagctl experiments runs|show`: training runs recorded by `train_models`.

use std::process::ExitCode;

use anyhow::bail;
use clap::Subcommand;
use dagctl::operators::tracking;

use super::output::{secs, table, time};
use super::{Global, print_json};

#[derive(Debug, Subcommand)]
pub enum ExperimentsCommand {
    /// List experiment runs, oldest first.
    Runs {
        /// Only this experiment's runs.
        #[arg(long)]
        experiment: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// One run: data, every candidate's parameters, metrics and artifacts.
    Show {
        /// The run's id (or a unique prefix of it).
        run: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(g: &Global, c: ExperimentsCommand) -> anyhow::Result<ExitCode> {
    let store = g.store().await?;
    match c {
        ExperimentsCommand::Runs { experiment, json } => {
            let runs = tracking::list(&store, experiment.as_deref()).await?;
            if json {
                return print_json(&serde_json::to_value(&runs)?).map(|()| ExitCode::SUCCESS);
            }
            let rows: Vec<[String; 6]> = runs
                .iter()
                .map(|r| {
                    let best = r.result.targets.first().map_or("-".into(), |t| {
                        format!(
                            "{} {} {:.4}",
                            t.report.best.name(),
                            t.report.metric.name(),
                            t.report.best_value
                        )
                    });
                    [
                        r.id.clone(),
                        r.experiment.clone(),
                        time(Some(r.started_at)),
                        r.result.data.clone(),
                        best,
                        secs(Some(std::time::Duration::from_secs_f64(r.duration_seconds))),
                    ]
                })
                .collect();
            table(
                ["run", "experiment", "started", "data", "best", "duration"],
                &rows,
            );
        }
        ExperimentsCommand::Show { run, json } => {
            let found = tracking::find(&store, &run).await?;
            let r = match found.as_slice() {
                [one] => one,
                [] => {
                    return Err(super::NotFound(format!(
                        "no experiment run `{run}` (`dagctl experiments runs` lists them)"
                    ))
                    .into());
                }
                many => bail!(
                    "`{run}` matches {} runs ({}): give more of the id",
                    many.len(),
                    many.iter()
                        .map(|r| r.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            if json {
                return print_json(&serde_json::to_value(r)?).map(|()| ExitCode::SUCCESS);
            }
            println!("experiment run {} of `{}`", r.id, r.experiment);
            println!(
                "  dag run:  {} / {} (task {})",
                r.dag_id, r.run_id, r.task_id
            );
            if !r.reasons.is_empty() {
                println!("  why:      {}", r.reasons.join(", "));
            }
            println!(
                "  data:     {} (data hash {})",
                r.result.data, &r.result.data_hash
            );
            println!(
                "  started:  {}  duration {:.2}s",
                r.started_at.to_rfc3339(),
                r.duration_seconds
            );
            for t in &r.result.targets {
                println!(
                    "  target {} ({:?}, {} train / {} test rows): best {} by {}",
                    t.report.target,
                    t.report.task,
                    t.report.rows.train,
                    t.report.rows.test,
                    t.report.best.name(),
                    t.report.metric.name()
                );
                for c in &t.report.candidates {
                    println!(
                        "    {}: {}",
                        c.candidate.name(),
                        dagctl::operators::ml::metrics::format(&c.metrics)
                    );
                    println!("      params {}", c.params);
                    if let Some(a) = t
                        .artifacts
                        .iter()
                        .find(|a| a.candidate == c.candidate.name())
                    {
                        println!("      artifact {} (sha256 {})", a.key, a.sha256);
                    }
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
