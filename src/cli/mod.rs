//! Verbs of the `dagctl` binary, one file per verb group.

mod dags;
mod operators;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// dagctl — an Airflow-style DAG engine: YAML DAGs, a scheduler, and an ML loop that maintains
/// itself.
#[derive(Debug, Parser)]
#[command(name = "dagctl", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Options every verb takes.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Where dagctl keeps its state (database, data, logs).
    #[arg(long, global = true, env = "DAGCTL_HOME", default_value = "./.dagctl")]
    pub home: PathBuf,
    /// The folder of DAG files.
    #[arg(
        long,
        global = true,
        env = "DAGCTL_DAGS_FOLDER",
        default_value = "./dags"
    )]
    pub dags_folder: PathBuf,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check DAG files and print every problem with its file, line and column.
    Validate(validate::ValidateArgs),
    /// List and show DAGs.
    #[command(subcommand)]
    Dags(dags::DagsCommand),
    /// List the operators tasks can use.
    #[command(subcommand)]
    Operators(operators::OperatorsCommand),
}

/// Runs the verb; the exit code says whether it succeeded.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let registry = dagctl::registry();
    match cli.command {
        Command::Validate(a) => validate::run(&cli.global, &registry, a),
        Command::Dags(c) => dags::run(&cli.global, &registry, c),
        Command::Operators(c) => operators::run(&registry, c),
    }
}

/// Prints JSON to stdout, pretty.
fn print_json(value: &serde_json::Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
