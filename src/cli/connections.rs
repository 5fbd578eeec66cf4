//! `dagctl connections add|list|get|delete`: named storage connections, secrets masked.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;
use dagctl::engine::Store;
use dagctl::engine::store::{Connection, is_web_url, masked_extra, redact_url};

use super::output::table;
use super::{Global, print_json};

#[derive(Debug, Subcommand)]
pub enum ConnectionsCommand {
    /// Create or replace a connection.
    Add {
        /// Its name (`conn_id` in DAG files).
        name: String,
        /// Where it points: `s3://bucket/prefix`, `file:///path`, `memory://`, or a webhook's
        /// `https://…` (its path is secret: shown as `https://host/***`).
        #[arg(long)]
        url: String,
        /// Settings as a JSON object: `{"endpoint_url": "…", "region": "…",
        /// "aws_access_key_id": "…", "aws_secret_access_key": "…", "allow_http": "true"}`.
        #[arg(long)]
        extra: Option<String>,
    },
    /// List the connections (secrets masked).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one connection (secrets masked).
    Get {
        /// Its name.
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete a connection.
    Delete {
        /// Its name.
        name: String,
    },
}

fn shown(c: &Connection) -> serde_json::Value {
    serde_json::json!({
        "name": c.name,
        "url": redact_url(&c.url),
        "extra": masked_extra(&c.extra),
    })
}

/// The connection named `name`, if it exists (secrets included: never print it whole).
pub(super) async fn named(
    store: &dagctl::engine::store::SqlStore,
    name: &str,
) -> anyhow::Result<Option<Connection>> {
    Ok(store
        .connections()
        .await?
        .into_iter()
        .find(|c| c.name == name))
}

pub async fn run(g: &Global, c: ConnectionsCommand) -> anyhow::Result<ExitCode> {
    let store = g.store().await?;
    match c {
        ConnectionsCommand::Add { name, url, extra } => {
            if !dagctl::engine::dag::is_valid_id(&name) {
                bail!("invalid connection name `{name}`: use letters, digits, `_`, `-` and `.`");
            }
            let extra: BTreeMap<String, String> = match extra {
                None => BTreeMap::new(),
                Some(text) => {
                    let v: serde_json::Value = serde_json::from_str(&text).context(
                        "--extra is not valid JSON; write it like '{\"region\": \"eu-west-1\"}'",
                    )?;
                    let obj = v
                        .as_object()
                        .context("--extra must be a JSON object of settings")?;
                    obj.iter()
                        .map(|(k, v)| {
                            let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                            (k.clone(), v)
                        })
                        .collect()
                }
            };
            // A web URL is a webhook (`notify`); anything else must be a storage location.
            if !is_web_url(&url) {
                dagctl::operators::storage::check(&url, &extra)?;
            }
            store
                .set_connection(&Connection {
                    name: name.clone(),
                    url: url.clone(),
                    extra,
                })
                .await?;
            println!("connection `{name}`: {}", redact_url(&url));
        }
        ConnectionsCommand::List { json } => {
            let all = store.connections().await?;
            if json {
                print_json(&serde_json::Value::Array(all.iter().map(shown).collect()))?;
            } else if all.is_empty() {
                println!("(no connections)");
            } else {
                let rows: Vec<[String; 3]> = all
                    .iter()
                    .map(|c| {
                        let extra = masked_extra(&c.extra)
                            .iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(" ");
                        [c.name.clone(), redact_url(&c.url), extra]
                    })
                    .collect();
                table(["name", "url", "extra"], &rows);
            }
        }
        ConnectionsCommand::Get { name, json } => {
            let Some(c) = named(&store, &name).await? else {
                bail!("no connection `{name}` (`dagctl connections list` lists them)");
            };
            if json {
                print_json(&shown(&c))?;
            } else {
                println!("name:  {}", c.name);
                println!("url:   {}", redact_url(&c.url));
                for (k, v) in masked_extra(&c.extra) {
                    println!("extra: {k} = {v}");
                }
            }
        }
        ConnectionsCommand::Delete { name } => {
            if !store.delete_connection(&name).await? {
                bail!("no connection `{name}` to delete");
            }
            println!("deleted connection `{name}`");
        }
    }
    Ok(ExitCode::SUCCESS)
}
