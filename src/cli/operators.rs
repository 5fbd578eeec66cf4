//! `dagctl operators list`.

use std::process::ExitCode;

use clap::Subcommand;
use dagctl::engine::OperatorRegistry;

use super::print_json;

#[derive(Debug, Subcommand)]
pub enum OperatorsCommand {
    /// List the operators tasks can use.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(registry: &OperatorRegistry, c: OperatorsCommand) -> anyhow::Result<ExitCode> {
    let OperatorsCommand::List { json } = c;
    if json {
        let list: Vec<_> = registry
            .iter()
            .map(|o| serde_json::json!({"name": o.name(), "summary": o.summary()}))
            .collect();
        print_json(&serde_json::Value::Array(list))?;
    } else {
        let width = registry.names().map(str::len).max().unwrap_or(0);
        for o in registry.iter() {
            println!("{:width$}  {}", o.name(), o.summary());
        }
    }
    Ok(ExitCode::SUCCESS)
}
