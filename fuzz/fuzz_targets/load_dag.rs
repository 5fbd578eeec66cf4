//! Feeds arbitrary bytes to the DAG loader: it must never panic, whatever the input.
#![no_main]

use std::path::Path;

use dagctl_engine::{OperatorRegistry, Pools, spec};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let registry = OperatorRegistry::with_builtins();
    let pools = Pools::default();
    let load = spec::load_str(text, Path::new("fuzz.yaml"), pools.env(&registry));
    // Exercise what the CLI does with a loaded DAG, too.
    for dag in &load.dags {
        let _ = dagctl_engine::graph::render_tree(dag);
        let _ = dag.to_json();
    }
    let _ = load.diagnostics.to_string();
    let _ = Pools::load_str(text, Path::new("pools.yaml"));
});
