//! `dagctl connections add|list|get|delete|import|export`: named storage connections, secrets
//! masked.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;
use dagctl::engine::Store;
use dagctl::engine::store::{Connection, is_secret_name, is_web_url, masked_extra, redact_url};

use super::output::table;
use super::{Global, print_json};
use dagctl::engine::store::ConnectionLookup;

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
    /// Write the connections to a JSON file (`-`: standard output) as `{"name": {"url": …,
    /// "extra": {…}}}`; connections holding secrets (a password in the URL, a webhook's path,
    /// a secret-looking extra) only with `--with-secrets` (the file is then readable by its
    /// owner only).
    Export(super::transfer::ExportArgs),
    /// Create or replace the connections of a JSON file (as `export` writes; Airflow's `uri`
    /// is read as `url`); the whole file is checked before anything is written.
    Import(super::transfer::ImportArgs),
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

/// A JSON object of settings as stored: strings kept, other values as JSON text.
fn settings(v: &serde_json::Value) -> Option<BTreeMap<String, String>> {
    Some(
        v.as_object()?
            .iter()
            .map(|(k, v)| {
                let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                (k.clone(), v)
            })
            .collect(),
    )
}

/// A connection checked as `connections add` checks it: its name, and (unless it is a
/// webhook) its storage URL and settings.
fn checked(
    name: String,
    url: String,
    extra: BTreeMap<String, String>,
) -> anyhow::Result<Connection> {
    if !dagctl::engine::dag::is_valid_id(&name) {
        bail!("invalid connection name `{name}`: use letters, digits, `_`, `-` and `.`");
    }
    // A web URL is a webhook (`notify`); anything else must be a storage location.
    if !is_web_url(&url) {
        dagctl::operators::storage::check(&url, &extra)?;
    }
    Ok(Connection { name, url, extra })
}

/// Whether a connection holds a secret: a password in its URL, a webhook's path, a
/// secret-looking setting.
fn holds_secret(c: &Connection) -> bool {
    redact_url(&c.url) != c.url || c.extra.keys().any(|k| is_secret_name(k))
}

pub async fn run(g: &Global, c: ConnectionsCommand) -> anyhow::Result<ExitCode> {
    let store = g.store().await?;
    match c {
        ConnectionsCommand::Add { name, url, extra } => {
            let extra = match extra {
                None => BTreeMap::new(),
                Some(text) => {
                    let v: serde_json::Value = serde_json::from_str(&text).context(
                        "--extra is not valid JSON; write it like '{\"region\": \"eu-west-1\"}'",
                    )?;
                    settings(&v).context("--extra must be a JSON object of settings")?
                }
            };
            let c = checked(name, url, extra)?;
            store.set_connection(&c).await?;
            println!("connection `{}`: {}", c.name, redact_url(&c.url));
        }
        ConnectionsCommand::Export(super::transfer::ExportArgs { file, with_secrets }) => {
            let mut out = serde_json::Map::new();
            let mut left = Vec::new();
            for c in store.connections().await? {
                if holds_secret(&c) && !with_secrets {
                    left.push(c.name);
                    continue;
                }
                out.insert(
                    c.name.clone(),
                    serde_json::json!({"url": c.url, "extra": c.extra}),
                );
            }
            let n = out.len();
            super::transfer::write_json(&file, &serde_json::Value::Object(out), with_secrets)?;
            super::transfer::say_left_out("connection(s)", &left);
            eprintln!("exported {n} connection(s) to {}", file.display());
        }
        ConnectionsCommand::Import(super::transfer::ImportArgs { file }) => {
            let map = super::transfer::read_object(&file)?;
            let mut all = Vec::with_capacity(map.len());
            for (name, v) in map {
                let at = || format!("{}: connection `{name}`", file.display());
                let url = v
                    .get("url")
                    .or_else(|| v.get("uri"))
                    .and_then(|u| u.as_str())
                    .with_context(|| format!("{}: no \"url\" string", at()))?
                    .to_string();
                let extra = match v.get("extra") {
                    None | Some(serde_json::Value::Null) => BTreeMap::new(),
                    // Airflow writes `extra` as a JSON string.
                    Some(serde_json::Value::String(text)) if text.trim().is_empty() => {
                        BTreeMap::new()
                    }
                    Some(serde_json::Value::String(text)) => serde_json::from_str(text)
                        .ok()
                        .and_then(|e: serde_json::Value| settings(&e))
                        .with_context(|| format!("{}: \"extra\" is not an object", at()))?,
                    Some(e) => settings(e)
                        .with_context(|| format!("{}: \"extra\" is not an object", at()))?,
                };
                all.push(checked(name.clone(), url, extra).with_context(at)?);
            }
            for c in &all {
                store.set_connection(c).await?;
            }
            println!(
                "imported {} connection(s) from {}",
                all.len(),
                file.display()
            );
        }
        ConnectionsCommand::List { json } => {
            let all = store.connections().await?;
            if json {
                print_json(&serde_json::Value::Array(
                    all.iter().map(crate::views::connection).collect(),
                ))?;
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
                return Err(super::NotFound(format!(
                    "no connection `{name}` (`dagctl connections list` lists them)"
                ))
                .into());
            };
            if json {
                print_json(&crate::views::connection(&c))?;
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
                return Err(super::NotFound(format!("no connection `{name}` to delete")).into());
            }
            println!("deleted connection `{name}`");
        }
    }
    Ok(ExitCode::SUCCESS)
}
