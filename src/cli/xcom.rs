//! `dagctl xcom list|get`: the values tasks passed each other in a run, secrets masked.

use std::process::ExitCode;

use anyhow::bail;
use clap::Subcommand;
use dagctl::engine::secrets::Masker;
use serde_json::Value;

use super::output::table;
use super::{Global, print_json};

#[derive(Debug, Subcommand)]
pub enum XcomCommand {
    /// Every XCom of a run: task, key, size and the start of the value.
    List {
        /// The run id.
        run_id: String,
        /// The DAG, when several DAGs have runs with this id.
        #[arg(long)]
        dag: Option<String>,
        /// Print JSON (whole values) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One XCom value as JSON, as tasks see it (a large value kept in the data location is
    /// read back).
    Get {
        /// The run id.
        run_id: String,
        /// The task that pushed it.
        task_id: String,
        /// Its key.
        #[arg(long, default_value = "return_value")]
        key: String,
        /// The DAG, when several DAGs have runs with this id.
        #[arg(long)]
        dag: Option<String>,
    },
}

/// At most this many characters of a value in the table.
const PREVIEW: usize = 60;

/// A stored value's size and whether it is kept in the data location.
fn where_kept(v: &Value) -> String {
    match dagctl::engine::xcom_spill::spilled_bytes(v) {
        Some(bytes) => format!("{bytes} B in the data location"),
        None => format!("{} B", v.to_string().len()),
    }
}

pub async fn run(g: &Global, c: XcomCommand) -> anyhow::Result<ExitCode> {
    let engine = g.engine().await?;
    let masker = Masker::load_or_empty(engine.store().as_ref()).await;
    match c {
        XcomCommand::List { run_id, dag, json } => {
            let run = engine.find_run(&run_id, dag.as_deref()).await?;
            let masker = masker.with_conf(&run.conf);
            let xcoms = engine.store().xcoms(&run.key()).await?;
            if json {
                let rows: Vec<Value> = xcoms
                    .iter()
                    .map(|(task, key, value)| {
                        serde_json::json!({
                            "task_id": task,
                            "key": key,
                            "value": masker.mask_strings(value),
                            "size": where_kept(value),
                        })
                    })
                    .collect();
                print_json(&Value::Array(rows))?;
                return Ok(ExitCode::SUCCESS);
            }
            if xcoms.is_empty() {
                eprintln!("run {} of {} has no XCom", run.run_id, run.dag_id);
                return Ok(ExitCode::SUCCESS);
            }
            let rows: Vec<[String; 4]> = xcoms
                .iter()
                .map(|(task, key, value)| {
                    let text = masker.mask_strings(value).to_string();
                    let preview = if text.chars().count() > PREVIEW {
                        format!("{}…", text.chars().take(PREVIEW).collect::<String>())
                    } else {
                        text
                    };
                    [task.clone(), key.clone(), where_kept(value), preview]
                })
                .collect();
            table(["task_id", "key", "size", "value"], &rows);
            Ok(ExitCode::SUCCESS)
        }
        XcomCommand::Get {
            run_id,
            task_id,
            key,
            dag,
        } => {
            let run = engine.find_run(&run_id, dag.as_deref()).await?;
            let masker = masker.with_conf(&run.conf);
            match engine.xcom(&run.key(), &task_id, &key).await? {
                Some(value) => print_json(&masker.mask_strings(&value))?,
                None => {
                    let known = engine.store().xcoms(&run.key()).await?;
                    let mine: Vec<&str> = known
                        .iter()
                        .filter(|(t, _, _)| *t == task_id)
                        .map(|(_, k, _)| k.as_str())
                        .collect();
                    if mine.is_empty() {
                        bail!(
                            "task `{task_id}` pushed no XCom in run {} of {} (`dagctl xcom list {}` lists them)",
                            run.run_id,
                            run.dag_id,
                            run.run_id
                        );
                    }
                    bail!(
                        "task `{task_id}` pushed no XCom `{key}` in run {}; its keys: {}",
                        run.run_id,
                        mine.join(", ")
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
