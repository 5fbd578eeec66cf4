//! `dagctl dags list|show`.

use std::process::ExitCode;

use clap::Subcommand;
use dagctl::engine::graph::{render_dot, render_tree};
use dagctl::engine::suggest::closest;
use dagctl::engine::{DagBag, Pool, Pools};

use super::output::table;
use super::{Global, print_json};

#[derive(Debug, Subcommand)]
pub enum DagsCommand {
    /// List the DAGs of the DAG folder.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a DAG's settings and its tasks as a tree.
    Show {
        /// The DAG id.
        dag_id: String,
        /// Print Graphviz DOT instead (`| dot -Tsvg > dag.svg`).
        #[arg(long, conflicts_with = "json")]
        dot: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Pause a DAG: the scheduler creates no scheduled or dataset-triggered runs of it.
    Pause {
        /// The DAG id.
        dag_id: String,
    },
    /// Unpause a DAG.
    Unpause {
        /// The DAG id.
        dag_id: String,
    },
    /// The next logical dates of a DAG with their data intervals (a run starts when its
    /// interval ends), to check the schedule against Airflow's.
    NextRuns {
        /// The DAG id.
        dag_id: String,
        /// How many.
        #[arg(short = 'n', long, default_value_t = 5)]
        count: usize,
        /// From this date-time on (default: now); naive values are in the DAG's time zone.
        #[arg(long)]
        after: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(g: &Global, c: DagsCommand) -> anyhow::Result<ExitCode> {
    if let DagsCommand::Pause { dag_id } | DagsCommand::Unpause { dag_id } = &c {
        let paused = matches!(c, DagsCommand::Pause { .. });
        let engine = g.engine().await?;
        engine.runs().set_paused(dag_id, paused).await?;
        println!(
            "{} {dag_id}{}",
            if paused { "paused" } else { "unpaused" },
            if paused {
                ": the scheduler creates no runs of it (dataset events wait) until `dagctl dags unpause`"
            } else {
                ""
            }
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut pools = Pools::default();
    for (name, slots, description) in g.stored_pools().await.unwrap_or_default() {
        pools.set(name, Pool { slots, description });
    }
    let bag = DagBag::load_folder_with_pools(&g.dags_folder, &dagctl::shipped_operators(), &pools);
    let broken = bag.diagnostics().error_count();
    if broken > 0 {
        eprintln!(
            "warning: {broken} error{} in the DAG folder `{}`; DAGs with errors are left out \
             (run `dagctl validate` for details)",
            if broken == 1 { "" } else { "s" },
            g.dags_folder.display()
        );
    }
    match c {
        DagsCommand::List { json } => list(&bag, json),
        DagsCommand::Show { dag_id, dot, json } => show(&bag, &dag_id, dot, json),
        DagsCommand::NextRuns {
            dag_id,
            count,
            after,
            json,
        } => next_runs(&bag, &dag_id, count, after.as_deref(), json),
        DagsCommand::Pause { .. } | DagsCommand::Unpause { .. } => Ok(ExitCode::SUCCESS),
    }
}

fn find<'a>(bag: &'a DagBag, dag_id: &str) -> anyhow::Result<&'a dagctl::engine::Dag> {
    bag.get(dag_id).ok_or_else(|| {
        let near = closest(dag_id, bag.dags().map(|d| d.id()))
            .map(|c| format!("; did you mean `{c}`?"))
            .unwrap_or_default();
        anyhow::anyhow!(
            "no valid DAG `{dag_id}` in the DAG folder{near} (`dagctl dags list` lists them)"
        )
    })
}

fn next_runs(
    bag: &DagBag,
    dag_id: &str,
    count: usize,
    after: Option<&str>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let dag = find(bag, dag_id)?;
    let after = match after {
        None => chrono::Utc::now(),
        Some(text) => dagctl::engine::spec::parse_date_in(text, dag.timezone()).ok_or_else(|| {
            anyhow::anyhow!("--after `{text}`: write a date of the years 1 to 9999, like 2026-01-31 or 2026-01-31T06:00:00")
        })?,
    };
    let far = after + chrono::Duration::days(366 * 200);
    let intervals = dag.timetable().between(after, far, count);
    let local = |t: chrono::DateTime<chrono::Utc>| t.with_timezone(&dag.timezone()).to_rfc3339();
    if json {
        let list: Vec<_> = intervals
            .iter()
            .map(|i| {
                serde_json::json!({
                    "logical_date": local(i.start),
                    "data_interval_start": local(i.start),
                    "data_interval_end": local(i.end),
                    "runs_after": local(i.end),
                })
            })
            .collect();
        print_json(&serde_json::Value::Array(list))?;
        return Ok(ExitCode::SUCCESS);
    }
    if intervals.is_empty() {
        println!(
            "DAG `{}` has no run after {} (schedule: {}{})",
            dag.id(),
            local(after),
            dag.schedule(),
            dag.end_date()
                .map(|e| format!(", end_date: {}", local(e)))
                .unwrap_or_default()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<[String; 3]> = intervals
        .iter()
        .map(|i| [local(i.start), local(i.start), local(i.end)])
        .collect();
    table(
        [
            "logical_date",
            "data_interval_start",
            "data_interval_end (runs after)",
        ],
        &rows,
    );
    Ok(ExitCode::SUCCESS)
}

fn list(bag: &DagBag, json: bool) -> anyhow::Result<ExitCode> {
    if json {
        let rows: Vec<_> = bag.dags().map(crate::views::dag).collect();
        print_json(&serde_json::Value::Array(rows))?;
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<[String; 5]> = bag
        .dags()
        .map(|d| {
            [
                d.id().to_string(),
                d.schedule().to_string(),
                d.tasks().len().to_string(),
                d.tags().join(","),
                d.source().file.display().to_string(),
            ]
        })
        .collect();
    table(["dag_id", "schedule", "tasks", "tags", "file"], &rows);
    if rows.is_empty() {
        println!("(no DAGs)");
    }
    Ok(ExitCode::SUCCESS)
}

fn show(bag: &DagBag, dag_id: &str, dot: bool, json: bool) -> anyhow::Result<ExitCode> {
    let dag = find(bag, dag_id)?;
    if dot {
        print!("{}", render_dot(dag));
    } else if json {
        print_json(&dag.to_json())?;
    } else {
        println!("{}", dag.id());
        if let Some(d) = &dag.description() {
            println!("  {d}");
        }
        let date = |d: Option<chrono::DateTime<chrono::Utc>>| {
            d.map_or("-".to_string(), |d| d.format("%Y-%m-%d %H:%M").to_string())
        };
        println!(
            "  schedule: {}  start_date: {}  end_date: {}  catchup: {}",
            dag.schedule(),
            date(dag.start_date()),
            date(dag.end_date()),
            dag.catchup()
        );
        println!(
            "  max_active_runs: {}  max_active_tasks: {}  tasks: {}  tags: {}",
            dag.max_active_runs(),
            dag.max_active_tasks(),
            dag.tasks().len(),
            if dag.tags().is_empty() {
                "-".to_string()
            } else {
                dag.tags().join(", ")
            }
        );
        if let Some(t) = dag.dagrun_timeout() {
            println!(
                "  dagrun_timeout: {}",
                dagctl::engine::duration::format_duration(t)
            );
        }
        println!("  file: {}", dag.source().file.display());
        println!();
        print!("{}", render_tree(dag));
        if let Some(doc) = dag.doc_md() {
            println!();
            for line in doc.lines() {
                println!("  {line}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
