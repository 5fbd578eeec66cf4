//! `dagctl variables get|set|delete|list|import|export`.

use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;
use dagctl::engine::Store;
use dagctl::engine::store::is_secret_name;

use super::output::table;
use super::{Global, print_json};

#[derive(Debug, Subcommand)]
pub enum VariablesCommand {
    /// Print a Variable's value (a secret-looking one only with `--reveal`).
    Get {
        /// Its name.
        key: String,
        /// Print it as JSON (parsed if it is JSON, else as a string).
        #[arg(long)]
        json: bool,
        /// Print the value even if the name looks secret (`password`, `token`, …).
        #[arg(long)]
        reveal: bool,
    },
    /// Set a Variable: JSON (`'{"a": 1}'`) or a plain string.
    Set {
        /// Its name.
        key: String,
        /// Its value.
        value: String,
    },
    /// Delete a Variable.
    Delete {
        /// Its name.
        key: String,
    },
    /// Write the Variables to a JSON file (`-`: standard output) as `{"name": value}`, as
    /// Airflow's `variables export`; secret-looking ones only with `--with-secrets` (the file
    /// is then readable by its owner only).
    Export(super::transfer::ExportArgs),
    /// Set the Variables of a JSON file (`{"name": value}`, as `export` writes and Airflow's
    /// `variables export` writes); the whole file is checked before anything is set.
    Import(super::transfer::ImportArgs),
    /// List the Variables (values of secret-looking names are masked).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn parsed(value: &str) -> serde_json::Value {
    serde_json::from_str(value).unwrap_or_else(|_| serde_json::Value::String(value.to_string()))
}

/// A Variable name is a template name: `{{ var.value.NAME }}`.
fn check_name(key: &str) -> anyhow::Result<()> {
    if !dagctl::engine::dag::is_valid_id(key) {
        bail!(
            "{key:?} is not a Variable name: use letters, digits, `_`, `-` and `.` (it is read as `{{{{ var.value.NAME }}}}`)"
        );
    }
    Ok(())
}

pub async fn run(g: &Global, c: VariablesCommand) -> anyhow::Result<ExitCode> {
    let store = g.store().await?;
    match c {
        VariablesCommand::Get { key, reveal, .. } if is_secret_name(&key) && !reveal => {
            if store.variable(&key).await?.is_none() {
                return Err(super::NotFound(format!(
                    "no Variable `{key}` (`dagctl variables list` lists them)"
                ))
                .into());
            }
            bail!("`{key}` looks secret, so its value is not printed; pass --reveal to print it");
        }
        VariablesCommand::Get { key, json, .. } => match store.variable(&key).await? {
            Some(v) if json => print_json(&parsed(&v))?,
            Some(v) => println!("{v}"),
            None => {
                return Err(super::NotFound(format!(
                    "no Variable `{key}` (`dagctl variables list` lists them)"
                ))
                .into());
            }
        },
        VariablesCommand::Export(super::transfer::ExportArgs { file, with_secrets }) => {
            let mut out = serde_json::Map::new();
            let mut left = Vec::new();
            for (k, v) in store.variables().await? {
                if is_secret_name(&k) && !with_secrets {
                    left.push(k);
                } else {
                    out.insert(k, parsed(&v));
                }
            }
            let n = out.len();
            super::transfer::write_json(&file, &serde_json::Value::Object(out), with_secrets)?;
            super::transfer::say_left_out("Variable(s)", &left);
            eprintln!("exported {n} Variable(s) to {}", file.display());
        }
        VariablesCommand::Import(super::transfer::ImportArgs { file }) => {
            let map = super::transfer::read_object(&file)?;
            for key in map.keys() {
                check_name(key).with_context(|| format!("{}", file.display()))?;
            }
            for (key, value) in &map {
                let text = value
                    .as_str()
                    .map_or_else(|| value.to_string(), str::to_string);
                store.set_variable(key, &text).await?;
            }
            println!("imported {} Variable(s) from {}", map.len(), file.display());
        }
        VariablesCommand::Set { key, value } => {
            check_name(&key)?;
            store.set_variable(&key, &value).await?;
            println!("set Variable `{key}`");
        }
        VariablesCommand::Delete { key } => {
            if !store.delete_variable(&key).await? {
                return Err(super::NotFound(format!("no Variable `{key}` to delete")).into());
            }
            println!("deleted Variable `{key}`");
        }
        VariablesCommand::List { json } => {
            let vars = store.variables().await?;
            let shown = |k: &str, v: &str| {
                if is_secret_name(k) {
                    "***".to_string()
                } else {
                    v.to_string()
                }
            };
            if json {
                print_json(&crate::views::variables(&vars))?;
            } else if vars.is_empty() {
                println!("(no Variables)");
            } else {
                let rows: Vec<[String; 2]> =
                    vars.iter().map(|(k, v)| [k.clone(), shown(k, v)]).collect();
                table(["key", "value"], &rows);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
