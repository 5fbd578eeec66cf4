//! The Prometheus text exposition (`/metrics`, `dagctl metrics`): what the store holds, by DAG
//! and state, durations as histograms, schedulers' loops, pools, queue depth, live workers,
//! production models' metrics and their latest drift. Every name has the `dagctl_` prefix;
//! labels are DAG ids, states, pools, models, metric names and roles — never run ids.

use std::fmt::Write as _;
use std::time::Duration;

use dagctl::engine::run::scheduler::heartbeat;
use dagctl::engine::store::SqlStore;
use dagctl::engine::store::stats::{DURATION_BUCKETS, Histogram};
use dagctl::engine::{Engine, RunState, Store};
use dagctl::operators::drift::latest as drift;
use dagctl::operators::registry;

/// The text of one scrape.
struct Exposition(String);

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", label_value(v));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {}", number(value));
    }

    fn histogram(&mut self, name: &str, labels: &[(&str, &str)], h: &Histogram) {
        let bucket = format!("{name}_bucket");
        for (b, le) in h.buckets.iter().zip(DURATION_BUCKETS) {
            let le = number(le);
            let mut l = labels.to_vec();
            l.push(("le", &le));
            self.sample(&bucket, &l, *b as f64);
        }
        let mut l = labels.to_vec();
        l.push(("le", "+Inf"));
        self.sample(&bucket, &l, h.count as f64);
        self.sample(&format!("{name}_sum"), labels, h.sum);
        self.sample(&format!("{name}_count"), labels, h.count as f64);
    }
}

/// A label value escaped as the text format wants (backslash, quote, newline).
fn label_value(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v}")
    }
}

/// One scrape of everything, read from the store now.
pub async fn scrape(engine: &Engine, store: &SqlStore) -> anyhow::Result<String> {
    let now = chrono::Utc::now();
    let stats = store.stats(now).await?;
    let mut out = Exposition(String::with_capacity(16 * 1024));

    out.family(
        "dagctl_dag_runs_total",
        "counter",
        "DAG runs that ended, by DAG and end state, counted when they end (clearing or \
         removing runs does not lower it).",
    );
    for ((dag, state), n) in &stats.ended_runs {
        out.sample(
            "dagctl_dag_runs_total",
            &[("dag_id", dag), ("state", state.as_str())],
            *n as f64,
        );
    }
    out.family(
        "dagctl_dag_runs_active",
        "gauge",
        "DAG runs now queued or running, by DAG and state.",
    );
    // Every DAG known, so that a DAG's gauge goes to 0 rather than vanishing.
    let mut dags: std::collections::BTreeSet<String> =
        engine.dags().iter().map(|d| d.id().to_string()).collect();
    dags.extend(stats.ended_runs.keys().map(|(d, _)| d.clone()));
    dags.extend(stats.active_runs.keys().map(|(d, _)| d.clone()));
    for dag in &dags {
        for state in [RunState::Queued, RunState::Running] {
            let n = stats
                .active_runs
                .get(&(dag.to_string(), state))
                .copied()
                .unwrap_or(0);
            out.sample(
                "dagctl_dag_runs_active",
                &[("dag_id", dag), ("state", state.as_str())],
                n as f64,
            );
        }
    }
    out.family(
        "dagctl_task_instances_total",
        "counter",
        "Task instances that ended, by DAG and end state, counted when they end.",
    );
    for ((dag, state), n) in &stats.ended_task_instances {
        out.sample(
            "dagctl_task_instances_total",
            &[("dag_id", dag), ("state", state.as_str())],
            *n as f64,
        );
    }
    out.family(
        "dagctl_task_instances_active",
        "gauge",
        "Task instances not ended yet, by DAG and state.",
    );
    for ((dag, state), n) in &stats.active_task_instances {
        out.sample(
            "dagctl_task_instances_active",
            &[("dag_id", dag), ("state", state.as_str())],
            *n as f64,
        );
    }
    for (name, help, hs) in [
        (
            "dagctl_dag_run_duration_seconds",
            "Durations of finished DAG runs.",
            &stats.run_durations,
        ),
        (
            "dagctl_task_try_duration_seconds",
            "Durations of ended task tries.",
            &stats.try_durations,
        ),
        (
            "dagctl_scheduling_lag_seconds",
            "From when a scheduled run was due (its data interval's end) to its first try.",
            &stats.schedule_lag,
        ),
    ] {
        out.family(name, "histogram", help);
        for (dag, h) in hs {
            out.histogram(name, &[("dag_id", dag)], h);
        }
    }

    out.family(
        "dagctl_claims_refused_total",
        "counter",
        "Claims of a task instance refused: a limit was reached (max_active_tasks, \
         max_active_tis_per_dag, a pool's slots across the deployment) or another worker was \
         first; by DAG and the task's pool.",
    );
    for ((dag, pool), n) in &stats.claims_refused {
        out.sample(
            "dagctl_claims_refused_total",
            &[("dag_id", dag), ("pool", pool)],
            *n as f64,
        );
    }

    out.family(
        "dagctl_slot_wait_seconds",
        "histogram",
        "How long ready task instances waited for the claim that started them (limits and \
         pools), by DAG and the task's pool.",
    );
    for ((dag, pool), h) in &stats.slot_wait {
        out.histogram(
            "dagctl_slot_wait_seconds",
            &[("dag_id", dag), ("pool", pool)],
            h,
        );
    }

    out.family("dagctl_pool_slots", "gauge", "Slots of each pool.");
    let pools = engine.pools();
    for (name, p) in pools.iter() {
        out.sample("dagctl_pool_slots", &[("pool", name)], f64::from(p.slots));
    }
    out.family(
        "dagctl_pool_used_slots",
        "gauge",
        "Slots held by queued and running task instances.",
    );
    out.family("dagctl_pool_open_slots", "gauge", "Slots free.");
    for (name, p) in pools.iter() {
        let used = stats.pool_used.get(name).copied().unwrap_or(0);
        out.sample("dagctl_pool_used_slots", &[("pool", name)], used as f64);
        out.sample(
            "dagctl_pool_open_slots",
            &[("pool", name)],
            (u64::from(p.slots).saturating_sub(used)) as f64,
        );
    }
    out.family(
        "dagctl_queued_tries",
        "gauge",
        "Tries handed to workers and not taken yet (queue depth).",
    );
    out.sample("dagctl_queued_tries", &[], stats.queued_tries as f64);
    out.family(
        "dagctl_workers_alive",
        "gauge",
        "Processes holding a live lease on a run or a try.",
    );
    out.sample("dagctl_workers_alive", &[], stats.workers_alive as f64);

    let beats = heartbeat::live(store, Duration::from_secs(60)).await?;
    let mut roles: Vec<&str> = beats.iter().map(|b| b.role.as_str()).collect();
    roles.sort_unstable();
    roles.dedup();
    out.family(
        "dagctl_schedulers_alive",
        "gauge",
        "Scheduler and worker loops with a heartbeat in the last minute, by role.",
    );
    out.family(
        "dagctl_scheduler_heartbeat_age_seconds",
        "gauge",
        "Age of the newest heartbeat, by role.",
    );
    out.family(
        "dagctl_scheduler_loop_seconds_max",
        "gauge",
        "The longest loop since the previous heartbeat, by role.",
    );
    out.family(
        "dagctl_scheduler_loop_seconds",
        "summary",
        "Scheduler loop durations of the live processes, by role.",
    );
    for role in roles {
        let of: Vec<&heartbeat::Heartbeat> = beats.iter().filter(|b| b.role == role).collect();
        let l = [("role", role)];
        out.sample("dagctl_schedulers_alive", &l, of.len() as f64);
        let newest = of.iter().map(|b| b.at).max().unwrap_or(now);
        out.sample(
            "dagctl_scheduler_heartbeat_age_seconds",
            &l,
            (now - newest).num_milliseconds().max(0) as f64 / 1000.0,
        );
        out.sample(
            "dagctl_scheduler_loop_seconds_max",
            &l,
            of.iter().map(|b| b.loop_seconds_max).fold(0.0, f64::max),
        );
        out.sample(
            "dagctl_scheduler_loop_seconds_sum",
            &l,
            of.iter().map(|b| b.loop_seconds_sum).sum(),
        );
        out.sample(
            "dagctl_scheduler_loop_seconds_count",
            &l,
            of.iter().map(|b| b.loops).sum::<u64>() as f64,
        );
    }

    out.family(
        "dagctl_model_production_version",
        "gauge",
        "The version in production, by model.",
    );
    out.family(
        "dagctl_model_production_metric",
        "gauge",
        "The production version's metrics on its test rows, by model and metric.",
    );
    for m in registry::models(store).await? {
        let Some(p) = m.production() else { continue };
        out.sample(
            "dagctl_model_production_version",
            &[("model", &m.name)],
            f64::from(p),
        );
        let v = registry::version(store, &m.name, p).await?;
        for (metric, value) in &v.metrics {
            out.sample(
                "dagctl_model_production_metric",
                &[("model", &m.name), ("metric", metric)],
                *value,
            );
        }
    }
    out.family(
        "dagctl_model_drift_share",
        "gauge",
        "Share of features that drifted in the latest drift check, by model.",
    );
    out.family(
        "dagctl_model_dataset_drift",
        "gauge",
        "1 when the latest drift check found dataset drift, by model.",
    );
    out.family(
        "dagctl_model_drift_checked_timestamp_seconds",
        "gauge",
        "When the latest drift check ran, by model.",
    );
    for d in drift::all(store).await? {
        let l = [("model", d.model.as_str())];
        out.sample("dagctl_model_drift_share", &l, d.drifted_share);
        out.sample(
            "dagctl_model_dataset_drift",
            &l,
            if d.dataset_drift { 1.0 } else { 0.0 },
        );
        out.sample(
            "dagctl_model_drift_checked_timestamp_seconds",
            &l,
            d.at.timestamp() as f64,
        );
    }
    Ok(out.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_and_numbers_follow_the_text_format() {
        assert_eq!(label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(number(0.5), "0.5");
        let mut h = Histogram::default();
        h.observe(0.3);
        h.observe(20.0);
        let mut e = Exposition(String::new());
        e.histogram("x_seconds", &[("dag_id", "d")], &h);
        assert!(e.0.contains("x_seconds_bucket{dag_id=\"d\",le=\"0.5\"} 1\n"));
        assert!(e.0.contains("x_seconds_bucket{dag_id=\"d\",le=\"30\"} 2\n"));
        assert!(e.0.contains("x_seconds_bucket{dag_id=\"d\",le=\"+Inf\"} 2\n"));
        assert!(e.0.contains("x_seconds_count{dag_id=\"d\"} 2\n"));
    }
}
