//! What rendering a task's templated arguments costs per try: building the context (Airflow
//! 3's names, dates as date-time values) and rendering the arguments, for the templates
//! Airflow users write. Beside it, the same plain templates through minijinja's own
//! `render_str` with a context of strings, which is what the renderer did before dates became
//! values and `+`/`-`/`%`/`==` took Python's meaning (the "before" of the closing note).
//! Run with `cargo bench --bench templates`.

use std::collections::BTreeMap;
use std::hint::black_box;

use chrono::{TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use dagctl::engine::template::{Renderer, RunData};
use serde_json::json;

fn bench(c: &mut Criterion) {
    let params = json!({"x": "px", "num": 7}).as_object().cloned().unwrap();
    let conf = json!({"k": "vk", "n": 3});
    let vars = BTreeMap::new();
    let at = Utc.with_ymd_and_hms(2026, 3, 15, 0, 0, 0).unwrap();
    let data = RunData {
        dag_id: "tpl",
        run_id: "manual__2026-03-15T00:00:00+00:00",
        run_type: "manual",
        task_id: "t",
        try_number: 1,
        logical_date: at,
        data_interval_start: at,
        data_interval_end: at,
        params: &params,
        conf: &conf,
        variables: &vars,
        xcoms: &[],
        previous_success: None,
        connections: &[],
        inlets: &[],
        outlets: &[],
    };
    let renderer = Renderer::new();
    let plain = json!({
        "bash_command": "python etl.py --date {{ ds }} --run {{ run_id }} --x {{ params.x }}",
    });
    let idioms = json!({
        "bash_command": "python etl.py --day {{ (logical_date - macros.timedelta(days=1)).strftime('%Y-%m-%d') }} --k {{ dag_run.conf.get('k', 'd') }} --parts {{ 'a,b'.split(',') | join(' ') }} {% if dag_run.run_type == 'manual' %}--manual{% endif %}",
    });
    let mut g = c.benchmark_group("templates");
    g.bench_function("context", |b| b.iter(|| black_box(renderer.context(&data))));
    for (name, args) in [("plain", &plain), ("airflow_idioms", &idioms)] {
        g.bench_function(format!("context_and_render_{name}"), |b| {
            b.iter(|| {
                let ctx = renderer.context(&data);
                black_box(renderer.render_args(args, &ctx, &["bash_command"]).unwrap())
            })
        });
    }
    // The renderer before this change, in effect: minijinja's `render_str`, dates as text.
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    let template = plain["bash_command"].as_str().unwrap();
    g.bench_function("strings_context_and_render_str_plain", |b| {
        b.iter(|| {
            let ctx = minijinja::context! {
                ds => at.format("%Y-%m-%d").to_string(),
                ts => at.to_rfc3339(),
                logical_date => at.to_rfc3339(),
                run_id => data.run_id,
                params => minijinja::Value::from(minijinja::value::Serde(&params)),
                dag_run => minijinja::context! { conf => minijinja::Value::from(minijinja::value::Serde(&conf)), run_id => data.run_id },
            };
            black_box(env.render_str(template, ctx).unwrap())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
