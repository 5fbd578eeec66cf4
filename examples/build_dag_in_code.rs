//! A DAG built in code (no YAML file), validated like a file, triggered, and followed through
//! the engine's event stream.
//!
//! `cargo run --example build_dag_in_code`

use dagctl::engine::{DagBuilder, Engine, Event, TriggerOptions};
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let registry = dagctl::shipped_operators();
    let dag = DagBuilder::new("etl_in_code")
        .default_arg("retries", json!(1))
        .default_arg("retry_delay", json!("1s"))
        .task(
            "extract",
            "command",
            json!({"program": "echo", "args": ["rows=42"]}),
        )
        .task_after(
            "check",
            "short_circuit",
            json!({"condition": "{{ ti.xcom_pull(task_ids='extract') != 'rows=0' }}"}),
            &["extract"],
        )
        .task_after(
            "load",
            "command",
            json!({"bash_command": "echo loading {{ ds }}"}),
            &["check"],
        )
        .task_after(
            "notify",
            "noop",
            json!({"trigger_rule": "all_done"}),
            &["load"],
        )
        .build(&registry)
        .map_err(|d| format!("invalid DAG:\n{d}"))?;

    // A mistake is caught before anything runs, with a hint.
    let bad = DagBuilder::new("bad")
        .task("a", "command", json!({"bash_comand": "echo"}))
        .build(&registry)
        .expect_err("a typo");
    println!(
        "validation caught: {}",
        bad.iter().next().map(|d| d.to_string()).unwrap_or_default()
    );

    let dir = tempfile::tempdir()?;
    let engine = Engine::builder()
        .home(dir.path())
        .registry(registry)
        .dag(dag)
        .build()
        .await?;
    let mut events = engine.events();
    let follower = tokio::spawn(async move {
        let mut lines = Vec::new();
        while let Ok(e) = events.recv().await {
            if let Event::Task { task_id, state, .. } = e {
                lines.push(format!("{task_id} → {state}"));
            }
            if lines.len() >= 12 {
                break;
            }
        }
        lines
    });
    let outcome = engine
        .trigger("etl_in_code", TriggerOptions::default())
        .await?;
    println!("run {}: {}", outcome.run_id, outcome.state);
    for t in &outcome.tasks {
        println!(
            "  {:8} {:8} tries={}",
            t.task_id,
            t.state.to_string(),
            t.tries
        );
    }
    drop(engine);
    for line in follower.await? {
        println!("  event: {line}");
    }
    Ok(())
}
