//! `dagctl tasks list|render|logs|clear|test`.

use std::process::ExitCode;

use anyhow::bail;
use clap::Subcommand;
use dagctl::engine::TaskOutcome;
use dagctl::engine::run::control::Clear;

use super::output::table;
use super::trigger::options;
use super::{Global, print_json};

#[derive(Debug, Subcommand)]
pub enum TasksCommand {
    /// List a DAG's tasks in dependency order: operator, pool, upstream tasks, trigger rule,
    /// retries.
    List {
        /// The DAG.
        dag_id: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print a task's arguments rendered as a run would render them (Airflow's `tasks
    /// render`), secrets masked; nothing runs and nothing is recorded.
    Render {
        #[command(flatten)]
        task: LoneTask,
        /// Print the arguments as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Print the log of a task's try (the last try by default).
    Logs {
        /// The run id.
        run_id: String,
        /// The task id.
        task_id: String,
        /// Which try (1 for the first).
        #[arg(long = "try")]
        try_number: Option<u32>,
        /// The DAG, when several DAGs have runs with this id.
        #[arg(long)]
        dag: Option<String>,
    },
    /// Clear task instances of a run so that they run again (Airflow's `tasks clear`); the
    /// run is queued and runs with the next `dagctl runs resume` or the scheduler.
    Clear {
        /// The run id.
        run_id: String,
        /// The tasks to clear; every task when none is given.
        task_ids: Vec<String>,
        /// Clear the tasks downstream of them too.
        #[arg(long)]
        downstream: bool,
        /// The DAG, when several DAGs have runs with this id.
        #[arg(long)]
        dag: Option<String>,
    },
    /// Run one task alone, like Airflow's `tasks test`: no dependencies, no state recorded.
    Test(LoneTask),
    /// Internal: runs one try that its driver claimed, in a process of its own, and writes
    /// its log and outcome for the driver (started by dagctl, not by users).
    #[command(hide = true)]
    RunIsolated {
        /// The DAG.
        dag_id: String,
        /// The run.
        run_id: String,
        /// The task instance.
        task_id: String,
        /// The try.
        try_number: u32,
    },
}

/// One task of a DAG, seen as a run at a logical date with a conf would see it.
#[derive(Debug, clap::Args)]
pub struct LoneTask {
    /// The DAG.
    dag_id: String,
    /// The task.
    task_id: String,
    /// The logical date templates see (now by default).
    #[arg(long)]
    logical_date: Option<String>,
    /// `dag_run.conf` as a JSON object.
    #[arg(long)]
    conf: Option<String>,
    /// The run id templates see (`test__<logical date>` by default).
    #[arg(long)]
    run_id: Option<String>,
}

impl LoneTask {
    fn options(&self) -> anyhow::Result<dagctl::engine::TriggerOptions> {
        options(
            self.conf.as_deref(),
            self.logical_date.as_deref(),
            self.run_id.clone(),
        )
    }
}

pub async fn run(g: &Global, c: TasksCommand) -> anyhow::Result<ExitCode> {
    match c {
        TasksCommand::List { dag_id, json } => {
            let engine = g.engine().await?;
            let dag = engine.dag(&dag_id)?;
            let rows: Vec<serde_json::Value> = dag
                .topological_order()
                .map(|t| {
                    let idx = dag.graph().index_of(&t.id).unwrap_or_default();
                    let upstream: Vec<&str> = dag
                        .graph()
                        .upstream(idx)
                        .into_iter()
                        .map(|u| dag.tasks()[u].id.as_str())
                        .collect();
                    serde_json::json!({
                        "task_id": t.id,
                        "operator": t.operator,
                        "pool": t.policy.pool,
                        "upstream": upstream,
                        "trigger_rule": t.policy.trigger_rule.as_str(),
                        "retries": t.policy.retries,
                        "outlets": t.outlets,
                        "inlets": t.inlets,
                        "doc_md": t.doc,
                        "mapping": t.mapping.as_ref().map(|m| m.to_json()),
                        // What the task is expanded over, for the table.
                        "expand": t.mapping.as_ref().map(|m| {
                            m.expand
                                .iter()
                                .map(|(arg, _)| arg.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        }),
                    })
                })
                .collect();
            if json {
                print_json(&serde_json::Value::Array(rows))?;
                return Ok(ExitCode::SUCCESS);
            }
            let cell = |v: &serde_json::Value| match v {
                serde_json::Value::Null => String::new(),
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Array(a) => a
                    .iter()
                    .filter_map(|x| x.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                other => other.to_string(),
            };
            let keys = [
                "task_id",
                "operator",
                "pool",
                "upstream",
                "trigger_rule",
                "retries",
                "expand",
            ];
            let rows: Vec<[String; 7]> = rows.iter().map(|r| keys.map(|k| cell(&r[k]))).collect();
            table(keys, &rows);
            Ok(ExitCode::SUCCESS)
        }
        TasksCommand::Render { task, json } => {
            let opts = task.options()?;
            let LoneTask {
                dag_id, task_id, ..
            } = task;
            let engine = g.engine().await?;
            match engine.render_task(&dag_id, &task_id, opts).await? {
                Ok(args) if json => print_json(&args)?,
                Ok(args) => {
                    for (key, value) in args.as_object().into_iter().flatten() {
                        println!("# {key}");
                        match value {
                            serde_json::Value::String(text) => println!("{text}"),
                            other => println!("{}", serde_json::to_string_pretty(other)?),
                        }
                    }
                }
                Err(e) => {
                    eprintln!("task {task_id} of {dag_id} cannot be rendered: {e}");
                    return Ok(ExitCode::FAILURE);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        TasksCommand::Clear {
            run_id,
            task_ids,
            downstream,
            dag,
        } => {
            let engine = g.engine().await?;
            let run = engine.find_run(&run_id, dag.as_deref()).await?;
            let what = Clear::tasks_or_all(task_ids, downstream);
            let key = dagctl::engine::store::RunKey::new(&run.dag_id, &run.run_id);
            let cleared = engine.runs().clear(&key, &what, None).await?;
            println!(
                "cleared {} task(s) of run {} of {}: {}; the run is queued (`dagctl runs resume {}` runs it)",
                cleared.len(),
                run.run_id,
                run.dag_id,
                cleared.join(", "),
                run.run_id
            );
            Ok(ExitCode::SUCCESS)
        }
        TasksCommand::Logs {
            run_id,
            task_id,
            try_number,
            dag,
        } => {
            let engine = g.engine().await?;
            let run = engine.find_run(&run_id, dag.as_deref()).await?;
            let key = run.key();
            let tries = engine.store().tries(&key, Some(&task_id)).await?;
            if tries.is_empty() {
                let tis = engine.store().task_instances(&key).await?;
                if !tis.iter().any(|t| t.task_id == task_id) {
                    bail!(
                        "run {} of {} has no task `{task_id}`",
                        run.run_id,
                        run.dag_id
                    );
                }
                bail!("task `{task_id}` has not run yet in run {}", run.run_id);
            }
            let last = tries.iter().map(|t| t.try_number).max().unwrap_or(1);
            let n = try_number.unwrap_or(last);
            if !tries.iter().any(|t| t.try_number == n) {
                bail!(
                    "task `{task_id}` has no try {n} in run {} (tries: 1 to {last})",
                    run.run_id
                );
            }
            let text = engine.store().log(&key, &task_id, n).await?;
            // Masked when written; masked again for secrets added since.
            let masker =
                dagctl::engine::secrets::Masker::load_or_empty(engine.store().as_ref()).await;
            let text = masker.mask(&text);
            if text.is_empty() {
                eprintln!("(try {n} of `{task_id}` wrote no output)");
            }
            print!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        TasksCommand::RunIsolated {
            dag_id,
            run_id,
            task_id,
            try_number,
        } => {
            let engine = g.engine().await?;
            let mut out = std::io::stdout();
            engine
                .run_isolated_try(&dag_id, &run_id, &task_id, try_number, &mut out)
                .await?;
            Ok(ExitCode::SUCCESS)
        }
        TasksCommand::Test(task) => {
            let opts = task.options()?;
            let LoneTask {
                dag_id, task_id, ..
            } = task;
            let engine = g.engine().await?;
            let (result, log) = engine.test_task(&dag_id, &task_id, opts).await?;
            print!("{log}");
            match result {
                Ok(outcome) => {
                    let what = match outcome {
                        TaskOutcome::Success(Some(v)) => format!("success, returned {v}"),
                        TaskOutcome::Success(None) => "success".to_string(),
                        TaskOutcome::Skipped(why) => format!("skipped: {why}"),
                        TaskOutcome::Branch(ids) => format!("success, branch: {}", ids.join(", ")),
                        TaskOutcome::ShortCircuit { .. } => {
                            "success, condition false: downstream would be skipped".to_string()
                        }
                        _ => "success".to_string(),
                    };
                    eprintln!("task {task_id}: {what}");
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("task {task_id}: failed: {e}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
    }
}
