//! `dagctl scheduler` and `dagctl backfill`.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use dagctl::engine::RunState;
use dagctl::engine::duration::parse_duration;
use dagctl::engine::executor::TrySharing;
use dagctl::engine::run::Scope;
use dagctl::engine::scheduler::{BackfillAction, BackfillItem, SchedulerOptions, run_scheduler};
use dagctl::engine::spec::parse_date_in;
use dagctl::engine::store::RunKey;
use indicatif::{ProgressBar, ProgressStyle};
use tokio_util::sync::CancellationToken;

use super::output::table;
use super::trigger::{drive, print_report, report_exit};
use super::{Global, print_json};

#[derive(Debug, Args)]
pub struct SchedulerArgs {
    /// How often the DAG folder is read again for changes (`10s`, `1m`).
    #[arg(long, default_value = "10s")]
    reload_every: String,
    /// How long running runs may take to finish after SIGINT/SIGTERM.
    #[arg(long, default_value = "30s")]
    grace: String,
    /// Only create runs; `dagctl worker` processes execute them.
    #[arg(long)]
    no_execute: bool,
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// How often the store is asked for runs to take (created elsewhere, or left by a process
    /// that died), and the longest wait between two looks for handed-off tries while idle (on
    /// PostgreSQL a hand-off wakes the worker at once; then at least 1s).
    #[arg(long, default_value = "1s")]
    poll: String,
    /// How often the DAG folder is read again for changes (`10s`, `1m`).
    #[arg(long, default_value = "10s")]
    reload_every: String,
    /// How long running runs may take to finish after SIGINT/SIGTERM (then they are left to
    /// another worker).
    #[arg(long, default_value = "30s")]
    grace: String,
    /// At most this many tries at once in this worker, of the runs it drives and taken
    /// from other workers' runs; the other ready tasks are handed to other workers.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Run only tasks of these pools (comma-separated: `gpu,default_pool`); tasks of other
    /// pools are handed to the workers serving them. Every pool by default.
    #[arg(long, value_delimiter = ',')]
    pools: Option<Vec<String>>,
    /// At most this many runs driven at once (their tasks run here or on other workers);
    /// the other runs are left to other workers. Unlimited by default.
    #[arg(long)]
    max_runs: Option<usize>,
}

fn duration(text: &str, flag: &str) -> anyhow::Result<Duration> {
    parse_duration(text).map_err(|e| anyhow::anyhow!("{flag} `{text}`: {e}"))
}

pub async fn scheduler(g: &Global, a: SchedulerArgs) -> anyhow::Result<ExitCode> {
    let options = SchedulerOptions {
        reload_every: duration(&a.reload_every, "--reload-every")?,
        grace: duration(&a.grace, "--grace")?,
        execute: !a.no_execute,
        ..SchedulerOptions::default()
    };
    let role = if a.no_execute {
        "scheduler (creating runs only)"
    } else {
        "scheduler"
    };
    serve(g, options, role).await
}

pub async fn worker(g: &Global, a: WorkerArgs) -> anyhow::Result<ExitCode> {
    let options = SchedulerOptions {
        reload_every: duration(&a.reload_every, "--reload-every")?,
        grace: duration(&a.grace, "--grace")?,
        poll: duration(&a.poll, "--poll")?,
        create_runs: false,
        execute: true,
        max_runs: a.max_runs,
        sharing: Some(TrySharing {
            concurrency: a.concurrency.max(1),
            pools: a.pools.map(|p| {
                p.into_iter()
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            }),
            poll: duration(&a.poll, "--poll")?,
        }),
    };
    serve(g, options, "worker").await
}

/// Runs a scheduler or a worker until SIGINT/SIGTERM.
async fn serve(g: &Global, options: SchedulerOptions, role: &str) -> anyhow::Result<ExitCode> {
    let engine = Arc::new(g.engine().await?);
    for d in engine.diagnostics().iter() {
        eprintln!("{d}");
    }
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        stop.cancel();
    });
    eprintln!(
        "{role} started: {} DAG(s) from {}; stop with Ctrl-C",
        engine.dags().len(),
        g.dags_folder.display()
    );
    let report = run_scheduler(engine, shutdown, options, |line| eprintln!("{line}")).await?;
    eprintln!(
        "{role} stopped: {} run(s) created, {} finished, {} left to resume",
        report.created, report.finished, report.interrupted
    );
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub struct BackfillArgs {
    /// The DAG.
    dag_id: String,
    /// First logical date (naive values in the DAG's time zone).
    #[arg(long)]
    start: String,
    /// Last logical date.
    #[arg(long)]
    end: String,
    /// Run again the failed tasks (and what follows them) of failed runs in the range.
    #[arg(long)]
    rerun_failed: bool,
    /// Run every interval again from scratch, successful ones included.
    #[arg(long)]
    reset: bool,
    /// Print what would be done, and do nothing.
    #[arg(long)]
    dry_run: bool,
    /// Run only this DAG's runs, up to `max_active_runs` at once; the runs they trigger stay
    /// queued. By default the days run one after the other, each with the runs it triggers.
    #[arg(long)]
    no_follow: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub async fn backfill(g: &Global, a: BackfillArgs) -> anyhow::Result<ExitCode> {
    let engine = Arc::new(g.engine().await?);
    let dag = engine.dag(&a.dag_id)?;
    let date = |text: &str, flag: &str| {
        parse_date_in(text, dag.timezone())
            .with_context(|| format!("{flag} `{text}`: write a date of the years 1 to 9999, like 2026-01-31 or 2026-01-31T06:00:00"))
    };
    let (from, to) = (date(&a.start, "--start")?, date(&a.end, "--end")?);
    if from > to {
        anyhow::bail!("--start {} is after --end {}", a.start, a.end);
    }
    let plan = engine
        .backfill_plan(&a.dag_id, from, to, a.rerun_failed, a.reset)
        .await?;
    let local = |t: chrono::DateTime<chrono::Utc>| t.with_timezone(&dag.timezone()).to_rfc3339();
    if a.dry_run {
        if a.json {
            let list: Vec<_> = plan
                .iter()
                .map(|i| {
                    serde_json::json!({
                        "logical_date": local(i.interval.start),
                        "data_interval_end": local(i.interval.end),
                        "run_id": i.run_id,
                        "action": i.action.as_str(),
                        "existing_state": i.existing.map(|s| s.as_str()),
                    })
                })
                .collect();
            print_json(&serde_json::Value::Array(list))?;
        } else {
            let rows: Vec<[String; 4]> = plan
                .iter()
                .map(|i| {
                    [
                        local(i.interval.start),
                        i.run_id.clone(),
                        i.existing.map_or("-".into(), |s| s.to_string()),
                        i.action.as_str().to_string(),
                    ]
                })
                .collect();
            table(["logical_date", "run_id", "existing", "action"], &rows);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let skipped: Vec<&BackfillItem> = plan
        .iter()
        .filter(|i| i.action == BackfillAction::Skip)
        .collect();
    let run_ids = engine.backfill_prepare(&a.dag_id, &plan).await?;
    let bar = (!a.json && std::io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::new(run_ids.len() as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} runs {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    });
    let key = |r: &str| RunKey::new(&a.dag_id, r);
    let scope = if a.no_follow {
        Scope::Only(run_ids.iter().map(|r| key(r)).collect())
    } else {
        // The days already done are followed too: runs they caused that never ran (a crash)
        // run now, as the scheduler would have run them.
        Scope::Following(
            run_ids
                .iter()
                .map(String::as_str)
                .chain(skipped.iter().map(|i| i.run_id.as_str()))
                .map(key)
                .collect(),
        )
    };
    let report = drive(&engine, scope, a.json, |o| {
        if let Some(b) = &bar
            && o.dag_id == a.dag_id
        {
            b.inc(1);
            b.set_message(format!("{}: {}", o.run_id, o.state));
        }
    })
    .await;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let report = report?;
    if !a.json {
        println!(
            "backfill of {} from {} to {}: {} run(s) executed, {} already done (skipped)",
            a.dag_id,
            local(from),
            local(to),
            report.ended,
            skipped.len()
        );
    }
    print_report(&engine, &report, a.json).await?;
    // A day that failed before is not done: say so, and fail, unless it was rerun.
    let failed: Vec<&&BackfillItem> = skipped
        .iter()
        .filter(|i| i.existing == Some(RunState::Failed))
        .collect();
    for i in &failed {
        eprintln!(
            "error: {} ({}) failed in an earlier run and was not rerun; add --rerun-failed",
            i.run_id,
            local(i.interval.start)
        );
    }
    if !failed.is_empty() {
        return Ok(ExitCode::FAILURE);
    }
    Ok(report_exit(&report))
}
