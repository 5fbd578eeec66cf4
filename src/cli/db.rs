//! `dagctl db clean`: retention of finished runs (Airflow's `db clean`).

use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;
use dagctl::engine::duration::parse_duration;
use dagctl::engine::spec::parse_date;
use dagctl::engine::store::RunFilter;
use dagctl::operators::registry;

use super::Global;

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Remove finished runs (success or failed) that ended before a date, with their task
    /// instances, tries, logs and XCom; running and queued runs, the runs that trained model
    /// versions and the model registry are kept. Without --dag, also the dataset events
    /// recorded before the cut that no DAG waits for (every consumer consumed them), with
    /// their consumptions.
    Clean {
        /// Runs that ended longer ago than this, with its unit: `90d` (days), `12h` (hours),
        /// `2w` (weeks), `30m` (minutes).
        #[arg(long, conflicts_with = "before", required_unless_present = "before")]
        older_than: Option<String>,
        /// Runs that ended before this date (`2026-01-01`, `2026-01-01T12:00:00Z`).
        #[arg(long)]
        before: Option<String>,
        /// Only this DAG's runs.
        #[arg(long)]
        dag: Option<String>,
        /// Say what would be removed, and remove nothing.
        #[arg(long)]
        dry_run: bool,
        /// Then give the space back: SQLite rewrites its file smaller (other writers wait
        /// while it does, and give up after 30 s: stop schedulers and workers first on a
        /// large file), PostgreSQL runs VACUUM (ANALYZE) on the run tables (as their owner).
        #[arg(long, conflicts_with = "dry_run")]
        vacuum: bool,
    },
}

pub async fn run(g: &Global, c: DbCommand) -> anyhow::Result<ExitCode> {
    let DbCommand::Clean {
        older_than,
        before,
        dag,
        dry_run,
        vacuum,
    } = c;
    let cut = match (older_than, before) {
        (Some(text), _) => {
            // A bare number would be seconds: `90` meant as days would remove nearly everything.
            if text.trim().parse::<f64>().is_ok() {
                bail!(
                    "--older-than `{text}` has no unit: write it like 90d (days), 12h (hours), \
                     2w (weeks) or 30m (minutes)"
                );
            }
            let age =
                parse_duration(&text).map_err(|e| anyhow::anyhow!("--older-than `{text}`: {e}"))?;
            chrono::Utc::now()
                - chrono::Duration::from_std(age).context("--older-than is too long")?
        }
        (None, Some(text)) => match parse_date(&text) {
            Some(t) => t,
            None => bail!(
                "--before `{text}` is not a date: write it like 2026-01-01 or 2026-01-01T12:00:00Z"
            ),
        },
        (None, None) => bail!("say which runs: --older-than 90d or --before 2026-01-01"),
    };
    let engine = g.engine().await?;
    if let Some(d) = dag.as_deref()
        && engine.dag(d).is_err()
        && engine
            .store()
            .list_runs(&RunFilter {
                dag_id: Some(d.to_string()),
                limit: Some(1),
                ..RunFilter::default()
            })
            .await?
            .is_empty()
    {
        bail!("--dag `{d}`: no DAG of that id is in the DAGs folder or has runs in the store");
    }
    // The runs that trained model versions stay: versions registered before runs were pinned
    // at registration get their pins now (a registry fact, written even by a dry run).
    registry::pin_sources(engine.store().as_ref())
        .await
        .context("pinning the runs that trained model versions")?;
    let outcome = engine.clean(cut, dag.as_deref(), dry_run).await?;
    let r = &outcome.report;
    let what = format!(
        "{} run(s), {} task instance(s), {} tr(ies), {} log chunk(s), {} XCom value(s) of {} \
         that ended before {}",
        r.runs,
        r.task_instances,
        r.tries,
        r.log_chunks,
        r.xcoms,
        dag.as_deref()
            .map_or("every DAG".to_string(), |d| format!("DAG `{d}`")),
        cut.to_rfc3339()
    );
    let mut also = if r.spilled.is_empty() {
        String::new()
    } else {
        format!(
            "; {} of the XCom values were kept in the data location",
            r.spilled.len()
        )
    };
    if r.pinned > 0 {
        also.push_str(&format!(
            "; {} older run(s) kept: they trained model versions",
            r.pinned
        ));
    }
    let e = outcome.events;
    if e.events > 0 || e.consumptions > 0 {
        also.push_str(&format!(
            "; {} dataset event(s) no DAG waits for, with {} consumption(s)",
            e.events, e.consumptions
        ));
    }
    if outcome.events_skipped {
        also.push_str(
            "; dataset events kept: the DAG folder has errors (`dagctl validate`), and a DAG \
             that does not load may wait for them",
        );
    }
    if dry_run {
        println!("would remove {what}{also} (dry run: nothing removed)");
        return Ok(ExitCode::SUCCESS);
    }
    println!("removed {what}{also}");
    if vacuum {
        let store = g.store().await?;
        let size = || store_file_size(g);
        let before = size();
        store.reclaim().await?;
        match (before, size()) {
            (Some(a), Some(b)) => println!(
                "vacuumed: the database file is {:.1} MB (was {:.1} MB)",
                b as f64 / 1e6,
                a as f64 / 1e6
            ),
            _ => println!("vacuumed"),
        }
    }
    if outcome.files_removed > 0 {
        println!(
            "removed {} XCom value(s) from the data location",
            outcome.files_removed
        );
    }
    if outcome.files_failed.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    // The runs are gone; say which files stayed, and exit 1.
    eprintln!(
        "error: {} XCom value(s) could not be removed from the data location (remove them by \
         hand; nothing refers to them now):",
        outcome.files_failed.len()
    );
    for (path, why) in &outcome.files_failed {
        eprintln!("  {path}: {why}");
    }
    Ok(ExitCode::FAILURE)
}

/// The size of the SQLite database file with its write-ahead log, if the store is one.
fn store_file_size(g: &Global) -> Option<u64> {
    let path = g.sqlite_path()?;
    let len = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let wal = std::path::PathBuf::from(format!("{}-wal", path.display()));
    Some(len(&path) + len(&wal))
}
