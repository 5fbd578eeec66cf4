//! `dagctl dags list|show`.

use std::process::ExitCode;

use anyhow::bail;
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
}

pub async fn run(g: &Global, c: DagsCommand) -> anyhow::Result<ExitCode> {
    let mut pools = Pools::default();
    for (name, slots, description) in g.stored_pools().await.unwrap_or_default() {
        pools.set(name, Pool { slots, description });
    }
    let bag = DagBag::load_folder_with_pools(&g.dags_folder, &dagctl::registry(), &pools);
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
    }
}

fn list(bag: &DagBag, json: bool) -> anyhow::Result<ExitCode> {
    if json {
        let rows: Vec<_> = bag
            .dags()
            .map(|d| {
                serde_json::json!({
                    "dag_id": d.id,
                    "schedule": d.schedule.to_string(),
                    "tasks": d.tasks.len(),
                    "tags": d.tags,
                    "description": d.description,
                    "file": d.source.file.display().to_string(),
                })
            })
            .collect();
        print_json(&serde_json::Value::Array(rows))?;
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<[String; 5]> = bag
        .dags()
        .map(|d| {
            [
                d.id.clone(),
                d.schedule.to_string(),
                d.tasks.len().to_string(),
                d.tags.join(","),
                d.source.file.display().to_string(),
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
    let Some(dag) = bag.get(dag_id) else {
        let near = closest(dag_id, bag.dags().map(|d| d.id.as_str()))
            .map(|c| format!("; did you mean `{c}`?"))
            .unwrap_or_default();
        bail!("no valid DAG `{dag_id}` in the DAG folder{near} (`dagctl dags list` lists them)");
    };
    if dot {
        print!("{}", render_dot(dag));
    } else if json {
        print_json(&dag.to_json())?;
    } else {
        println!("{}", dag.id);
        if let Some(d) = &dag.description {
            println!("  {d}");
        }
        let date = |d: Option<chrono::DateTime<chrono::Utc>>| {
            d.map_or("-".to_string(), |d| d.format("%Y-%m-%d %H:%M").to_string())
        };
        println!(
            "  schedule: {}  start_date: {}  end_date: {}  catchup: {}",
            dag.schedule,
            date(dag.start_date),
            date(dag.end_date),
            dag.catchup
        );
        println!(
            "  max_active_runs: {}  max_active_tasks: {}  tasks: {}  tags: {}",
            dag.max_active_runs,
            dag.max_active_tasks,
            dag.tasks.len(),
            if dag.tags.is_empty() {
                "-".to_string()
            } else {
                dag.tags.join(", ")
            }
        );
        println!("  file: {}", dag.source.file.display());
        println!();
        print!("{}", render_tree(dag));
    }
    Ok(ExitCode::SUCCESS)
}
