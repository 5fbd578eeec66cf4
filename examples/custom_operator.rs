//! A custom operator registered into the engine, used from a DAG file, run to its end.
//!
//! `cargo run --example custom_operator`
//!
//! The operator checks its arguments when the DAG loads (a typo is a validation error with
//! its line and column), reads them rendered (`{{ ds }}`), writes to the try's log, pushes an
//! XCom, and sets a Variable that is committed only if the try succeeds.

use dagctl::engine::store::RunKey;
use dagctl::engine::{
    ArgsError, Operator, TaskContext, TaskError, TaskOutcome, TriggerOptions, async_trait,
    parse_args,
};
use serde::Deserialize;

/// Counts the words of a text.
struct WordCount;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    text: String,
    #[serde(default)]
    save_as: Option<String>,
}

#[async_trait]
impl Operator for WordCount {
    fn name(&self) -> &str {
        "word_count"
    }

    fn summary(&self) -> &str {
        "counts the words of `text`"
    }

    fn check_args(&self, args: &serde_json::Value) -> Result<(), ArgsError> {
        parse_args::<Args>(args).map(drop)
    }

    async fn execute(&self, ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
        let args: Args = ctx.args()?;
        let words = args.text.split_whitespace().count();
        ctx.log(format!("`{}` has {words} words", args.text));
        if let Some(name) = args.save_as {
            ctx.set_variable(name, words.to_string());
        }
        Ok(TaskOutcome::Success(Some(serde_json::json!(words))))
    }
}

const DAG: &str = r#"
dag_id: words
tasks:
  count:
    operator: word_count
    text: "the run of {{ ds }} counts these words"
    save_as: last_word_count
  report:
    operator: command
    bash_command: echo "counted {{ ti.xcom_pull(task_ids='count') }} words"
    dependencies: [count]
"#;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    std::fs::create_dir_all(dir.path().join("dags"))?;
    std::fs::write(dir.path().join("dags/words.yaml"), DAG)?;

    // `dagctl::builder()` has every shipped operator (`command`, `noop`, …); add ours.
    let engine = dagctl::builder()
        .dags_folder(dir.path().join("dags"))
        .home(dir.path().join("home"))
        .operator(WordCount)
        .build()
        .await?;
    assert!(engine.diagnostics().is_empty(), "{}", engine.diagnostics());

    let outcome = engine.trigger("words", TriggerOptions::default()).await?;
    println!(
        "run {} of {}: {}",
        outcome.run_id, outcome.dag_id, outcome.state
    );
    let store = engine.store();
    let run = RunKey::new(&outcome.dag_id, &outcome.run_id);
    for t in &outcome.tasks {
        let log = store.log(&run, &t.task_id, t.tries).await?;
        println!("  {} {}: {}", t.task_id, t.state, log.trim());
    }
    let saved = store.variable("last_word_count").await?;
    println!("Variable last_word_count = {}", saved.unwrap_or_default());
    Ok(())
}
