//! `dagctl validate [PATH…]`: check DAG files before anything runs.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use dagctl::engine::{DagBag, Pool, Pools};

use super::{Global, print_json};

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// DAG files or folders (default: the DAG folder).
    paths: Vec<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

pub async fn run(g: &Global, a: ValidateArgs) -> anyhow::Result<ExitCode> {
    let paths = if a.paths.is_empty() {
        vec![g.dags_folder.clone()]
    } else {
        a.paths
    };
    let mut pools = Pools::default();
    for (name, slots, description) in g.stored_pools().await.unwrap_or_default() {
        pools.set(name, Pool { slots, description });
    }
    let bag = DagBag::load_paths_with_pools(&paths, &dagctl::shipped_operators(), &pools);
    let mut diags = bag.diagnostics().clone();
    diags.sort();
    let errors = diags.error_count();
    let warnings = diags.warning_count();
    let dag_count = bag.dags().count();
    if a.json {
        print_json(&serde_json::json!({
            "ok": errors == 0,
            "files": bag.files().len(),
            "dags": bag.dags().map(|d| d.id().to_string()).collect::<Vec<_>>(),
            "errors": errors,
            "warnings": warnings,
            "diagnostics": diags.iter().map(|d| d.to_json()).collect::<Vec<_>>(),
        }))?;
    } else {
        for d in diags.iter() {
            // Problems go to stdout so that `dagctl validate | less` shows them.
            println!("{d}");
        }
        let files = bag.files().len();
        let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        if errors == 0 {
            println!(
                "ok: {} in {} valid{}",
                plural(dag_count, "DAG"),
                plural(files, "file"),
                if warnings > 0 {
                    format!(" ({})", plural(warnings, "warning"))
                } else {
                    String::new()
                }
            );
        } else {
            println!(
                "{} and {} in {}; {} loaded",
                plural(errors, "error"),
                plural(warnings, "warning"),
                plural(files, "file"),
                plural(dag_count, "DAG")
            );
        }
    }
    Ok(if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
