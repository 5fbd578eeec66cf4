//! Load a folder of DAG files with the library, report problems, and walk a DAG's graph.
//!
//! `cargo run --example validate_dags -- [DAG_FOLDER]` (default: `dags`).

use std::path::PathBuf;

use dagctl::engine::DagBag;
use dagctl::engine::graph::render_tree;

fn main() {
    let folder = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "dags".into()));
    let registry = dagctl::shipped_operators();
    let bag = DagBag::load_folder(&folder, &registry);

    // Every problem of every file, each with file:line:column and a hint.
    for d in bag.diagnostics().iter() {
        eprintln!("{d}");
    }

    for dag in bag.dags() {
        println!(
            "{} ({}, {} tasks)",
            dag.id(),
            dag.schedule(),
            dag.tasks().len()
        );
        print!("{}", render_tree(dag));
        // The graph answers upstream/downstream questions by task index.
        if let Some(first) = dag.topological_order().next() {
            let i = dag.graph().index_of(&first.id).expect("task of this DAG");
            let downstream: Vec<&str> = dag
                .graph()
                .descendants(i)
                .into_iter()
                .map(|j| dag.tasks()[j].id.as_str())
                .collect();
            println!(
                "everything downstream of {}: {}\n",
                first.id,
                downstream.join(", ")
            );
        }
    }
    if bag.diagnostics().has_errors() {
        std::process::exit(1);
    }
}
