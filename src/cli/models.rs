//! `dagctl models list|show|promote|rollback|alias|compare|verify|predict`: the model registry.

use std::collections::BTreeSet;
use std::process::ExitCode;

use anyhow::bail;
use clap::Subcommand;
use dagctl::engine::store::redact_url;
use dagctl::operators::registry::{self, ModelVersion, Stage};

use super::output::{table, time};
use super::{Global, model_files, print_json};

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// List the registered models.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// A model's versions and history, or one version in full.
    Show {
        /// The model.
        model: String,
        /// One version.
        version: Option<u32>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Move a version to a stage (production by default); production archives the current one.
    Promote {
        /// The model.
        model: String,
        /// The version.
        version: u32,
        /// `production`, `staging`, `archived` or `none`.
        #[arg(long, default_value = "production")]
        stage: String,
    },
    /// Make an earlier version production again; the replaced one is archived.
    Rollback {
        /// The model.
        model: String,
        /// The version (default: the one in production before the current one).
        #[arg(long)]
        to: Option<u32>,
    },
    /// Named pointers to versions, as MLflow's aliases (`champion` → 7).
    Alias {
        #[command(subcommand)]
        action: AliasCommand,
    },
    /// Two versions' metrics side by side, with differences.
    Compare {
        /// The model.
        model: String,
        /// The first version.
        v1: u32,
        /// The second version.
        v2: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Recompute file hashes and audit hashes from the stored files (exit 1 on a mismatch).
    Verify {
        /// The model.
        model: String,
        /// One version (default: all).
        version: Option<u32>,
    },
    /// Score a Parquet file of raw rows with the production (or a given) version.
    Predict {
        /// The model.
        model: String,
        /// Raw rows (the columns of `raw_data`): a Parquet file's path, or a storage URL
        /// (`s3://bucket/day.parquet`).
        #[arg(long)]
        input: String,
        /// Where to write them with `prediction` and probabilities: a path or a storage URL.
        #[arg(long)]
        output: String,
        /// The connection whose settings open `s3://` input and output (endpoint, keys).
        #[arg(long)]
        conn: Option<String>,
        /// A version instead of the production one.
        #[arg(long, conflicts_with = "alias")]
        version: Option<u32>,
        /// The version an alias points at instead of the production one.
        #[arg(long)]
        alias: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AliasCommand {
    /// Point ALIAS at VERSION (moving it if it points elsewhere).
    Set {
        /// The model.
        model: String,
        /// The alias (`champion`).
        alias: String,
        /// The version.
        version: u32,
    },
    /// Remove an alias.
    Delete {
        /// The model.
        model: String,
        /// The alias.
        alias: String,
    },
}

fn value(v: &ModelVersion) -> String {
    v.metric
        .value(&v.metrics)
        .map_or("-".into(), |x| format!("{} {x:.4}", v.metric.name()))
}

pub async fn run(g: &Global, c: ModelsCommand) -> anyhow::Result<ExitCode> {
    let store = g.store().await?;
    match c {
        ModelsCommand::List { json } => {
            let models = registry::models(&store).await?;
            if json {
                return print_json(&serde_json::to_value(&models)?).map(|()| ExitCode::SUCCESS);
            }
            if models.is_empty() {
                println!(
                    "no models registered yet (DAG 03 registers one: dagctl trigger 01_data_generation_pipeline)"
                );
            }
            let mut rows = Vec::new();
            for m in &models {
                let prod = match m.production() {
                    Some(p) => format!(
                        "v{p} ({})",
                        value(&registry::version(&store, &m.name, p).await?)
                    ),
                    None => "-".into(),
                };
                rows.push([
                    m.name.clone(),
                    m.latest_version.to_string(),
                    prod,
                    time(Some(m.created_at)),
                ]);
            }
            table(["model", "versions", "production", "created"], &rows);
        }
        ModelsCommand::Show {
            model,
            version,
            json,
        } => match version {
            Some(v) => {
                let mv = registry::version(&store, &model, v).await?;
                let (e, _) = registry::entry(&store, &model)
                    .await?
                    .ok_or_else(|| super::NotFound(format!("no model `{model}`")))?;
                let mut value = serde_json::to_value(&mv)?;
                value["stage"] = serde_json::json!(e.stage(v).name());
                value["aliases"] = serde_json::json!(e.aliases_of(v));
                print_json(&value)?;
            }
            None => {
                if json {
                    let Some(v) = crate::views::model(&store, &model).await? else {
                        bail!(
                            "no model `{model}` in the registry (`dagctl models list` shows them)"
                        );
                    };
                    return print_json(&v).map(|()| ExitCode::SUCCESS);
                }
                let Some((e, _)) = registry::entry(&store, &model).await? else {
                    return Err(super::NotFound(format!(
                        "no model `{model}` in the registry (`dagctl models list` shows them)"
                    ))
                    .into());
                };
                let versions = registry::versions(&store, &model).await?;
                let rows: Vec<[String; 6]> = versions
                    .iter()
                    .map(|v| {
                        let aliases = e.aliases_of(v.version);
                        [
                            format!("v{}", v.version),
                            if aliases.is_empty() {
                                e.stage(v.version).name().to_string()
                            } else {
                                format!("{} @{}", e.stage(v.version).name(), aliases.join(" @"))
                            },
                            v.candidate.clone(),
                            value(v),
                            v.data.reference.clone(),
                            v.audit_hash[..12].to_string(),
                        ]
                    })
                    .collect();
                table(
                    ["version", "stage", "candidate", "metric", "data", "audit"],
                    &rows,
                );
                if !e.performance.is_empty() {
                    println!("performance on fresh rows:");
                    for p in &e.performance {
                        println!(
                            "  {}  v{} on {}..{} ({} rows): {}{}",
                            time(Some(p.at)),
                            p.version,
                            p.from,
                            p.to,
                            p.rows,
                            dagctl::operators::ml::metrics::format(&p.metrics),
                            if p.below.is_empty() {
                                String::new()
                            } else {
                                format!(" — FIRED: {}", p.below.join(", "))
                            }
                        );
                    }
                }
                println!("history:");
                for h in &e.history {
                    let change = if h.action == "register" {
                        "registered".to_string()
                    } else {
                        format!("{} → {} ({})", h.from.name(), h.to.name(), h.action)
                    };
                    println!(
                        "  {}  v{} {change}: {}",
                        time(Some(h.at)),
                        h.version,
                        h.reason
                    );
                }
            }
        },
        ModelsCommand::Promote {
            model,
            version,
            stage,
        } => {
            let Some(to) = Stage::parse(&stage) else {
                bail!("--stage `{stage}`: use production, staging, archived or none");
            };
            let from = registry::set_stage(&store, &model, version, to).await?;
            println!("{model} v{version}: {} → {}", from.name(), to.name());
        }
        ModelsCommand::Alias { action } => match action {
            AliasCommand::Set {
                model,
                alias,
                version,
            } => match registry::set_alias(&store, &model, &alias, version).await? {
                Some(before) if before != version => {
                    println!("{model}@{alias} → v{version} (was v{before})")
                }
                _ => println!("{model}@{alias} → v{version}"),
            },
            AliasCommand::Delete { model, alias } => {
                match registry::delete_alias(&store, &model, &alias).await? {
                    Some(v) => println!("{model}@{alias} deleted (it pointed at v{v})"),
                    None => bail!("model `{model}` has no alias `{alias}`"),
                }
            }
        },
        ModelsCommand::Rollback { model, to } => {
            let (from, to) = registry::rollback(&store, &model, to).await?;
            match from {
                Some(f) => println!("{model}: v{to} is production again; v{f} archived"),
                None => println!("{model}: v{to} is production"),
            }
        }
        ModelsCommand::Compare {
            model,
            v1,
            v2,
            json,
        } => {
            let a = registry::version(&store, &model, v1).await?;
            let b = registry::version(&store, &model, v2).await?;
            let names: BTreeSet<&String> = a.metrics.keys().chain(b.metrics.keys()).collect();
            let rows: Vec<(String, Option<f64>, Option<f64>)> = names
                .into_iter()
                .map(|n| {
                    (
                        n.clone(),
                        a.metrics.get(n).copied(),
                        b.metrics.get(n).copied(),
                    )
                })
                .collect();
            if json {
                let metrics: Vec<_> = rows
                    .iter()
                    .map(|(n, x, y)| {
                        serde_json::json!({"metric": n, "v1": x, "v2": y,
                            "difference": x.zip(*y).map(|(x, y)| y - x)})
                    })
                    .collect();
                print_json(&serde_json::json!({
                    "model": model, "v1": v1, "v2": v2, "metrics": metrics,
                    "candidates": [a.candidate, b.candidate], "data": [a.data.reference, b.data.reference],
                }))?;
                return Ok(ExitCode::SUCCESS);
            }
            let f = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.4}"));
            let mut out: Vec<[String; 4]> = vec![
                [
                    "candidate".into(),
                    a.candidate.clone(),
                    b.candidate.clone(),
                    String::new(),
                ],
                [
                    "data".into(),
                    a.data.reference.clone(),
                    b.data.reference.clone(),
                    String::new(),
                ],
            ];
            for (n, x, y) in &rows {
                let diff = x
                    .zip(*y)
                    .map_or("-".into(), |(x, y)| format!("{:+.4}", y - x));
                out.push([n.clone(), f(*x), f(*y), diff]);
            }
            table(
                ["", &format!("v{v1}"), &format!("v{v2}"), "difference"],
                &out,
            );
        }
        ModelsCommand::Verify { model, version } => {
            let versions: Vec<u32> = match version {
                Some(v) => vec![v],
                None => registry::versions(&store, &model)
                    .await?
                    .iter()
                    .map(|v| v.version)
                    .collect(),
            };
            if versions.is_empty() {
                return Err(super::NotFound(format!("no model `{model}` in the registry")).into());
            }
            let mut all_ok = true;
            for v in versions {
                let loc = model_files::version_location(g, &store, &model, Some(v)).await?;
                let r = registry::verify(&store, &loc, &model, v).await?;
                all_ok &= r.ok;
                let failed: Vec<&str> = r
                    .checks
                    .iter()
                    .filter(|(_, ok)| !ok)
                    .map(|(n, _)| n.as_str())
                    .collect();
                if r.ok {
                    println!(
                        "{model} v{v}: ok (model file, feature metadata and audit hash match)"
                    );
                } else {
                    println!("{model} v{v}: MISMATCH: {}", failed.join(", "));
                }
            }
            return Ok(if all_ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            });
        }
        ModelsCommand::Predict {
            model,
            input,
            output,
            conn,
            version,
            alias,
        } => {
            let version = match alias {
                Some(a) => Some(registry::resolve_alias(&store, &model, &a).await?),
                None => version,
            };
            let loc = model_files::version_location(g, &store, &model, version).await?;
            let loaded = registry::load(&store, &loc, &model, version).await?;
            let conn = model_files::connection(&store, conn.as_deref()).await?;
            let raw = model_files::read_parquet(&input, conn.as_ref()).await?;
            let scored = loaded.score(&raw)?;
            model_files::write_parquet(&output, conn.as_ref(), &scored).await?;
            println!(
                "scored {} rows of {} with {model} v{} ({}) → {}",
                scored.num_rows(),
                redact_url(&input),
                loaded.version.version,
                loaded.version.candidate,
                redact_url(&output)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
