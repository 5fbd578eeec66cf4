//! `dagctl pools list|set|delete`.

use std::process::ExitCode;

use anyhow::bail;
use clap::Subcommand;
use dagctl::engine::Store;

use super::output::table;
use super::{Global, print_json};

#[derive(Debug, Subcommand)]
pub enum PoolsCommand {
    /// List the pools in force: defaults, `pools.yaml`, and those set here.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Create or resize a pool (wins over `pools.yaml`).
    Set {
        /// Its name.
        name: String,
        /// How many slots it has.
        slots: u32,
        /// What it is for.
        #[arg(long)]
        description: Option<String>,
    },
    /// Delete a pool set here.
    Delete {
        /// Its name.
        name: String,
    },
}

pub async fn run(g: &Global, c: PoolsCommand) -> anyhow::Result<ExitCode> {
    match c {
        PoolsCommand::List { json } => {
            let engine = g.engine().await?;
            let pools = engine.pools();
            let pools: Vec<_> = pools.iter().collect();
            if json {
                print_json(&crate::views::pools(&engine.pools()))?;
            } else {
                let rows: Vec<[String; 3]> = pools
                    .iter()
                    .map(|(n, p)| {
                        [
                            n.to_string(),
                            p.slots.to_string(),
                            p.description.clone().unwrap_or_default(),
                        ]
                    })
                    .collect();
                table(["pool", "slots", "description"], &rows);
            }
        }
        PoolsCommand::Set {
            name,
            slots,
            description,
        } => {
            if slots == 0 {
                bail!("a pool needs at least 1 slot");
            }
            if !dagctl::engine::dag::is_valid_id(&name) {
                bail!("invalid pool name `{name}`: use letters, digits, `_`, `-` and `.`");
            }
            g.store()
                .await?
                .set_pool(&name, slots, description.as_deref())
                .await?;
            println!("pool `{name}`: {slots} slots");
        }
        PoolsCommand::Delete { name } => {
            if !g.store().await?.delete_pool(&name).await? {
                return Err(super::NotFound(format!(
                    "no pool `{name}` set with `dagctl pools set`"
                ))
                .into());
            }
            println!("deleted pool `{name}`");
        }
    }
    Ok(ExitCode::SUCCESS)
}
