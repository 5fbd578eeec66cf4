//! Parse + validate + topological plan of a generated 10,000-task DAG (target ≤ 100 ms in
//! release). Run with `cargo bench --bench validate`.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use dagctl::engine::{Pools, spec};

/// A DAG of `n` tasks, each depending on up to three of the 50 tasks before it (a
/// deterministic pseudo-random choice), alternating `noop` and `command` operators.
fn generated_dag(n: usize) -> String {
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut out = String::from(
        "dag_id: big\nschedule: '@daily'\nstart_date: 2026-01-01\ndefault_args:\n  retries: 2\n  retry_delay: 30s\ntasks:\n",
    );
    for i in 0..n {
        out.push_str(&format!("  t{i}:\n"));
        if i % 2 == 0 {
            out.push_str("    operator: noop\n");
        } else {
            out.push_str(&format!(
                "    operator: command\n    bash_command: echo {{{{ ds }}}} {i}\n"
            ));
        }
        if i > 0 {
            let k = (next() % 3 + 1) as usize;
            let deps: Vec<String> = (0..k)
                .map(|_| format!("t{}", i - 1 - (next() as usize % i.min(50))))
                .collect();
            out.push_str(&format!("    dependencies: [{}]\n", deps.join(", ")));
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let text = generated_dag(10_000);
    let registry = dagctl::shipped_operators();
    let pools = Pools::default();
    let file = Path::new("big.yaml");
    let load = spec::load_str(&text, file, pools.env(&registry));
    assert!(load.diagnostics.is_empty(), "{}", load.diagnostics);
    assert_eq!(load.dags[0].tasks().len(), 10_000);
    println!(
        "generated DAG: 10,000 tasks, {} KiB of YAML",
        text.len() / 1024
    );
    let mut group = c.benchmark_group("dag_10k_tasks");
    group.sample_size(20);
    group.bench_function("parse_validate_plan", |b| {
        b.iter(|| {
            let load = spec::load_str(black_box(&text), file, pools.env(&registry));
            let dag = &load.dags[0];
            black_box(dag.graph().topological_order().len())
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
