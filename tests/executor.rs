//! The executor through the library API, on a real SQLite file.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use dagctl::engine::store::RunKey;
use dagctl::engine::{
    ArgsError, DagBuilder, Engine, ExecutorConfig, Operator, RunState, Store, TaskContext,
    TaskError, TaskOutcome, TaskState, TriggerOptions, async_trait,
};
use serde_json::json;
use tempfile::TempDir;

/// Fails its first `fail_times` tries (counted per task id across tries), then succeeds.
#[derive(Default)]
struct Flaky {
    seen: std::sync::Mutex<HashMap<String, usize>>,
}

#[async_trait]
impl Operator for Flaky {
    fn name(&self) -> &str {
        "flaky"
    }
    fn summary(&self) -> &str {
        "fails `fail_times` tries, then succeeds"
    }
    fn check_args(&self, _args: &serde_json::Value) -> Result<(), ArgsError> {
        Ok(())
    }
    async fn execute(&self, ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
        let fail_times = ctx.args["fail_times"].as_u64().unwrap_or(0) as usize;
        let n = {
            let mut seen = self.seen.lock().unwrap();
            let n = seen.entry(ctx.task_id.clone()).or_default();
            *n += 1;
            *n
        };
        if n <= fail_times {
            Err(TaskError::retryable(format!("planned failure {n}")))
        } else {
            Ok(TaskOutcome::Success(Some(json!(n))))
        }
    }
}

/// Records how many probes run at once.
#[derive(Clone, Default)]
struct Probe {
    now: Arc<AtomicUsize>,
    max: Arc<AtomicUsize>,
}

#[async_trait]
impl Operator for Probe {
    fn name(&self) -> &str {
        "probe"
    }
    fn summary(&self) -> &str {
        "counts concurrent tries"
    }
    fn check_args(&self, _args: &serde_json::Value) -> Result<(), ArgsError> {
        Ok(())
    }
    async fn execute(&self, _ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(n, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(20)).await;
        self.now.fetch_sub(1, Ordering::SeqCst);
        Ok(TaskOutcome::Success(None))
    }
}

async fn engine_with(dir: &TempDir, dags: Vec<dagctl::engine::Dag>, probe: Probe) -> Engine {
    let mut b = Engine::builder()
        .home(dir.path())
        .registry(dagctl::shipped_operators())
        .operator(Flaky::default())
        .operator(probe)
        // No heartbeat timer during tests: paused clocks must only jump to our own timers.
        .executor_config(ExecutorConfig {
            lease: Duration::from_secs(7200),
            heartbeat: Duration::from_secs(3600),
        });
    for d in dags {
        b = b.dag(d);
    }
    b.build().await.unwrap()
}

fn registry() -> dagctl::engine::OperatorRegistry {
    let mut r = dagctl::shipped_operators();
    r.register(Flaky::default());
    r.register(Probe::default());
    r
}

fn states(o: &dagctl::engine::RunOutcome) -> HashMap<String, TaskState> {
    o.tasks
        .iter()
        .map(|t| (t.task_id.clone(), t.state))
        .collect()
}

#[tokio::test]
async fn failures_and_skips_propagate_through_trigger_rules() {
    let dag = DagBuilder::new("rules")
        .task("ok", "noop", json!({}))
        .task("bad", "flaky", json!({"fail_times": 9}))
        .task_after("after_bad", "noop", json!({}), &["bad"])
        .task_after("after_after", "noop", json!({}), &["after_bad"])
        .task_after(
            "cleanup",
            "noop",
            json!({"trigger_rule": "all_done"}),
            &["ok", "bad"],
        )
        .task_after(
            "alert",
            "noop",
            json!({"trigger_rule": "one_failed"}),
            &["ok", "bad"],
        )
        .task_after(
            "all_failed",
            "noop",
            json!({"trigger_rule": "all_failed"}),
            &["bad"],
        )
        .task_after(
            "one_success",
            "noop",
            json!({"trigger_rule": "one_success"}),
            &["ok", "bad"],
        )
        .task_after(
            "none_failed",
            "noop",
            json!({"trigger_rule": "none_failed"}),
            &["ok", "bad"],
        )
        .build(&registry())
        .unwrap();
    let dir = TempDir::new().unwrap();
    let engine = engine_with(&dir, vec![dag], Probe::default()).await;
    let o = engine
        .trigger("rules", TriggerOptions::default())
        .await
        .unwrap();
    let s = states(&o);
    assert_eq!(s["ok"], TaskState::Success);
    assert_eq!(s["bad"], TaskState::Failed);
    assert_eq!(s["after_bad"], TaskState::UpstreamFailed);
    assert_eq!(
        s["after_after"],
        TaskState::UpstreamFailed,
        "propagates down the chain"
    );
    assert_eq!(s["cleanup"], TaskState::Success);
    assert_eq!(s["alert"], TaskState::Success);
    assert_eq!(s["all_failed"], TaskState::Success);
    assert_eq!(s["one_success"], TaskState::Success);
    assert_eq!(s["none_failed"], TaskState::UpstreamFailed);
    assert_eq!(o.state, RunState::Failed, "a leaf is upstream_failed");
    assert_eq!(
        o.tasks
            .iter()
            .find(|t| t.task_id == "bad")
            .unwrap()
            .error
            .as_deref(),
        Some("planned failure 1")
    );

    // Everything is in the store as well.
    let tis = engine
        .store()
        .task_instances(&RunKey::new("rules", &o.run_id))
        .await
        .unwrap();
    let stored: HashMap<_, _> = tis.iter().map(|t| (t.task_id.clone(), t.state)).collect();
    assert_eq!(stored, s);
    let run = engine
        .store()
        .run(&RunKey::new("rules", &o.run_id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.state, RunState::Failed);
    assert!(run.end_date.is_some());
}

#[tokio::test(start_paused = true)]
async fn retries_wait_with_exponential_backoff() {
    let dag = DagBuilder::new("retry")
        .task(
            "t",
            "flaky",
            json!({"fail_times": 3, "retries": 3, "retry_delay": "10s", "retry_exponential_backoff": true}),
        )
        .task(
            "capped",
            "flaky",
            json!({"fail_times": 3, "retries": 3, "retry_delay": "10s",
                   "retry_exponential_backoff": true, "max_retry_delay": "15s"}),
        )
        .task("gives_up", "flaky", json!({"fail_times": 9, "retries": 1, "retry_delay": "1s"}))
        .build(&registry())
        .unwrap();
    // The in-memory store does no I/O, so the paused clock moves only when the executor
    // waits on a timer: the retry delays pass instantly and exactly.
    let engine = Engine::builder()
        .store(Arc::new(dagctl::engine::MemoryStore::new()))
        .registry(registry())
        .dag(dag)
        .build()
        .await
        .unwrap();
    let o = engine
        .trigger("retry", TriggerOptions::default())
        .await
        .unwrap();
    let s = states(&o);
    assert_eq!(s["t"], TaskState::Success);
    assert_eq!(s["capped"], TaskState::Success);
    assert_eq!(s["gives_up"], TaskState::Failed);
    let mut gaps = HashMap::new();
    for task in ["t", "capped", "gives_up"] {
        let tries = engine
            .store()
            .tries(&RunKey::new("retry", &o.run_id), Some(task))
            .await
            .unwrap();
        let g: Vec<i64> = tries
            .windows(2)
            .map(|w| (w[1].start_date - w[0].start_date).num_seconds())
            .collect();
        gaps.insert(task, g);
    }
    assert_eq!(gaps["t"], [10, 20, 40], "10s, then doubled at every try");
    assert_eq!(gaps["capped"], [10, 15, 15], "capped by max_retry_delay");
    assert_eq!(gaps["gives_up"], [1]);
    let tries = engine
        .store()
        .tries(&RunKey::new("retry", &o.run_id), Some("t"))
        .await
        .unwrap();
    assert_eq!(tries.len(), 4);
    assert!(tries[..3].iter().all(|t| t.state == TaskState::Failed));
    assert_eq!(tries[3].state, TaskState::Success);
}

#[tokio::test]
async fn timeout_cancels_the_try_and_kills_the_process_group() {
    let dir = TempDir::new().unwrap();
    let marker = dir.path().join("not-written");
    let token = format!("dagctl-timeout-{}", std::process::id());
    let dag = DagBuilder::new("slow")
        .task(
            "sleepy",
            "command",
            json!({
                "bash_command": format!("(exec -a {token} sleep 30) & sleep 30; touch {}", marker.display()),
                "execution_timeout": "1s",
            }),
        )
        .build(&registry())
        .unwrap();
    let engine = engine_with(&dir, vec![dag], Probe::default()).await;
    let o = engine
        .trigger("slow", TriggerOptions::default())
        .await
        .unwrap();
    let t = &o.tasks[0];
    assert_eq!(t.state, TaskState::Failed);
    assert!(
        t.error.as_deref().unwrap().contains("timed out after 1s"),
        "{:?}",
        t.error
    );
    // The background child of the shell was in the same group: it is gone too.
    let alive = std::process::Command::new("pgrep")
        .arg("-f")
        .arg(&token)
        .output()
        .unwrap();
    assert!(
        alive.stdout.is_empty(),
        "leftover process: {}",
        String::from_utf8_lossy(&alive.stdout)
    );
    assert!(!marker.exists());
}

#[tokio::test]
async fn pools_and_max_active_tasks_bound_concurrency() {
    let (pools, _) =
        dagctl::engine::Pools::load_str("two: 2\n", std::path::Path::new("pools.yaml"));
    let mut b = DagBuilder::new("pooled").pools(pools.clone());
    for i in 0..8 {
        b = b.task(&format!("p{i}"), "probe", json!({"pool": "two"}));
    }
    let pooled = b.build(&registry()).unwrap();
    let mut b = DagBuilder::new("capped").key("max_active_tasks", json!(3));
    for i in 0..8 {
        b = b.task(&format!("p{i}"), "probe", json!({}));
    }
    let capped = b.build(&registry()).unwrap();
    let dir = TempDir::new().unwrap();
    engine_with(&dir, vec![], Probe::default()).await; // creates the store
    let store =
        dagctl::engine::SqlStore::connect(&dagctl::engine::SqlStore::default_url(dir.path()))
            .await
            .unwrap();
    store.set_pool("two", 2, None).await.unwrap();
    let probe = Probe::default();
    let engine = engine_with(&dir, vec![pooled, capped], probe.clone()).await;
    let o = engine
        .trigger("pooled", TriggerOptions::default())
        .await
        .unwrap();
    assert_eq!(o.state, RunState::Success);
    assert_eq!(
        probe.max.load(Ordering::SeqCst),
        2,
        "pool `two` has 2 slots"
    );
    probe.max.store(0, Ordering::SeqCst);
    let o = engine
        .trigger("capped", TriggerOptions::default())
        .await
        .unwrap();
    assert_eq!(o.state, RunState::Success);
    assert_eq!(probe.max.load(Ordering::SeqCst), 3, "max_active_tasks: 3");
}

#[tokio::test]
async fn branch_and_short_circuit_skip_what_they_should() {
    let branch = DagBuilder::new("branchy")
        .task("choose", "branch", json!({"branch": "{{ params.path }}"}))
        .key("params", json!({"path": "left"}))
        .task_after("left", "noop", json!({}), &["choose"])
        .task_after("right", "noop", json!({}), &["choose"])
        .task_after("after_right", "noop", json!({}), &["right"])
        .task_after(
            "join",
            "noop",
            json!({"trigger_rule": "none_failed_min_one_success"}),
            &["left", "right"],
        )
        .build(&registry())
        .unwrap();
    let gate = |ignore: bool| {
        DagBuilder::new(if ignore { "gate_all" } else { "gate_direct" })
            .task(
                "check",
                "short_circuit",
                json!({"condition": "{{ dag_run.conf.go | default(false) }}", "ignore_downstream_trigger_rules": ignore}),
            )
            .task_after("train", "noop", json!({}), &["check"])
            .task_after("notify", "noop", json!({"trigger_rule": "all_done"}), &["train"])
            .build(&registry())
            .unwrap()
    };
    let dir = TempDir::new().unwrap();
    let engine = engine_with(
        &dir,
        vec![branch, gate(true), gate(false)],
        Probe::default(),
    )
    .await;

    let s = states(
        &engine
            .trigger("branchy", TriggerOptions::default())
            .await
            .unwrap(),
    );
    assert_eq!(
        (s["left"], s["right"], s["after_right"], s["join"]),
        (
            TaskState::Success,
            TaskState::Skipped,
            TaskState::Skipped,
            TaskState::Success
        )
    );
    let opts = TriggerOptions {
        conf: Some(json!({"path": "right"})),
        ..Default::default()
    };
    let s = states(&engine.trigger("branchy", opts).await.unwrap());
    assert_eq!(
        (s["left"], s["after_right"]),
        (TaskState::Skipped, TaskState::Success),
        "conf overrides params"
    );

    let s = states(
        &engine
            .trigger("gate_all", TriggerOptions::default())
            .await
            .unwrap(),
    );
    assert_eq!(
        (s["check"], s["train"], s["notify"]),
        (TaskState::Success, TaskState::Skipped, TaskState::Skipped)
    );
    let s = states(
        &engine
            .trigger("gate_direct", TriggerOptions::default())
            .await
            .unwrap(),
    );
    assert_eq!(
        (s["train"], s["notify"]),
        (TaskState::Skipped, TaskState::Success),
        "all_done still runs"
    );
    let opts = TriggerOptions {
        conf: Some(json!({"go": true})),
        ..Default::default()
    };
    let s = states(&engine.trigger("gate_all", opts).await.unwrap());
    assert_eq!(
        (s["train"], s["notify"]),
        (TaskState::Success, TaskState::Success)
    );
}

#[tokio::test]
async fn templates_xcom_and_variables_flow_between_tasks() {
    let dag = DagBuilder::new("flow")
        .key("params", json!({"who": "world"}))
        .task("produce", "command", json!({"bash_command": "echo 'first line'; echo {{ params.who }}-{{ ds_nodash }}"}))
        .task_after(
            "consume",
            "command",
            json!({
                "program": "echo",
                "args": ["{{ ti.xcom_pull(task_ids='produce') }}", "{{ var.value.color }}", "{{ dag_run.conf.n }}", "{{ macros.ds_add(ds, 1) }}"],
            }),
            &["produce"],
        )
        .task_after("broken", "command", json!({"bash_command": "echo {{ var.value.nope }}", "retries": 3}), &["consume"])
        .build(&registry())
        .unwrap();
    let dir = TempDir::new().unwrap();
    let engine = engine_with(&dir, vec![dag], Probe::default()).await;
    engine.store().set_variable("color", "blue").await.unwrap();
    let date = chrono::DateTime::parse_from_rfc3339("2026-03-04T00:00:00Z")
        .unwrap()
        .to_utc();
    let opts = TriggerOptions {
        conf: Some(json!({"n": 7})),
        logical_date: Some(date),
        run_id: None,
    };
    let o = engine.trigger("flow", opts).await.unwrap();
    let store = engine.store();
    assert_eq!(
        store
            .xcom(&RunKey::new("flow", &o.run_id), "produce", "return_value")
            .await
            .unwrap(),
        Some(json!("world-20260304")),
        "the last line of stdout is the XCom"
    );
    assert_eq!(
        store
            .xcom(&RunKey::new("flow", &o.run_id), "consume", "return_value")
            .await
            .unwrap(),
        Some(json!("world-20260304 blue 7 2026-03-05"))
    );
    assert_eq!(
        store
            .log(&RunKey::new("flow", &o.run_id), "produce", 1)
            .await
            .unwrap(),
        "first line\nworld-20260304\n"
    );
    let broken = o.tasks.iter().find(|t| t.task_id == "broken").unwrap();
    assert_eq!(broken.state, TaskState::Failed);
    assert_eq!(broken.tries, 1, "a template error is not retried");
    assert!(
        broken
            .error
            .as_deref()
            .unwrap()
            .contains("`var.value.nope` is undefined")
    );
    assert_eq!(o.run_id, "manual__2026-03-04T00:00:00+00:00");
}

/// Sets a Variable, then fails or succeeds as told.
struct Setter;

#[async_trait]
impl Operator for Setter {
    fn name(&self) -> &str {
        "setter"
    }
    fn summary(&self) -> &str {
        "sets a Variable"
    }
    fn check_args(&self, _args: &serde_json::Value) -> Result<(), ArgsError> {
        Ok(())
    }
    async fn execute(&self, ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
        ctx.set_variable(ctx.task_id.clone(), "written");
        ctx.xcom_push("extra", json!(1));
        if ctx.args["fail"].as_bool().unwrap_or(false) {
            return Err(TaskError::fatal("failing after setting"));
        }
        Ok(TaskOutcome::Success(None))
    }
}

#[tokio::test]
async fn side_effects_are_committed_only_with_success() {
    let mut r = registry();
    r.register(Setter);
    let dag = DagBuilder::new("effects")
        .task("good", "setter", json!({}))
        .task("bad", "setter", json!({"fail": true, "retries": 2}))
        .build(&r)
        .unwrap();
    let dir = TempDir::new().unwrap();
    let engine = Engine::builder()
        .home(dir.path())
        .registry(r)
        .dag(dag)
        .build()
        .await
        .unwrap();
    let o = engine
        .trigger("effects", TriggerOptions::default())
        .await
        .unwrap();
    let store = engine.store();
    assert_eq!(
        store.variable("good").await.unwrap().as_deref(),
        Some("written")
    );
    assert_eq!(
        store.variable("bad").await.unwrap(),
        None,
        "a failed try leaves no Variable"
    );
    assert_eq!(
        store
            .xcom(&RunKey::new("effects", &o.run_id), "bad", "extra")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .xcom(&RunKey::new("effects", &o.run_id), "good", "extra")
            .await
            .unwrap(),
        Some(json!(1))
    );
    let bad = o.tasks.iter().find(|t| t.task_id == "bad").unwrap();
    assert_eq!(bad.tries, 1, "a fatal error uses no retry");
}

#[tokio::test]
async fn events_stream_state_changes() {
    let dag = DagBuilder::new("ev")
        .task("a", "noop", json!({}))
        .task_after("b", "noop", json!({}), &["a"])
        .build(&registry())
        .unwrap();
    let dir = TempDir::new().unwrap();
    let engine = engine_with(&dir, vec![dag], Probe::default()).await;
    let mut rx = engine.events();
    engine
        .trigger("ev", TriggerOptions::default())
        .await
        .unwrap();
    let mut seen = Vec::new();
    while let Ok(e) = rx.try_recv() {
        match e {
            dagctl::engine::Event::Task { task_id, state, .. } => {
                seen.push(format!("{task_id}:{state}"))
            }
            dagctl::engine::Event::Run { state, .. } => seen.push(format!("run:{state}")),
            _ => {}
        }
    }
    assert_eq!(
        seen,
        [
            "run:queued",
            "run:running",
            "a:scheduled",
            "a:running",
            "a:success",
            "b:scheduled",
            "b:running",
            "b:success",
            "run:success"
        ]
    );
}

/// Runs of one DAG share its `max_active_tasks`: a run whose claims were refused takes its
/// tasks when the other runs' tries end, not at its next heartbeat (an hour here, where the
/// clock is paused and jumps to the next timer; 5 s by default), and runs refused in turn do
/// not wake each other without end (an earlier attempt spun here forever).
#[tokio::test(start_paused = true)]
async fn runs_sharing_max_active_tasks_take_freed_places_at_once() {
    let mut b = DagBuilder::new("shared")
        .key("max_active_tasks", json!(2))
        .key("max_active_runs", json!(4));
    for i in 0..3 {
        b = b.task(&format!("p{i}"), "probe", json!({}));
    }
    let dag = b.build(&registry()).unwrap();
    let probe = Probe::default();
    let engine = Arc::new(
        Engine::builder()
            .store(Arc::new(dagctl::engine::MemoryStore::new()))
            .registry(dagctl::shipped_operators())
            .operator(probe.clone())
            .executor_config(ExecutorConfig {
                lease: Duration::from_secs(7200),
                heartbeat: Duration::from_secs(3600),
            })
            .dag(dag)
            .build()
            .await
            .unwrap(),
    );
    for i in 0..4 {
        let opts = TriggerOptions {
            run_id: Some(format!("r{i}")),
            ..TriggerOptions::default()
        };
        engine.create_run("shared", opts).await.unwrap();
    }
    let report = engine
        .drive(dagctl::engine::run::Scope::All, |_| {})
        .await
        .unwrap();
    assert_eq!(report.outcomes.len(), 4);
    assert!(report.outcomes.iter().all(|o| o.state == RunState::Success));
    assert!(
        probe.max.load(Ordering::SeqCst) <= 2,
        "max_active_tasks across runs"
    );
    for r in engine
        .store()
        .list_runs(&dagctl::engine::store::RunFilter::default())
        .await
        .unwrap()
    {
        let took = r.end_date.unwrap() - r.start_date.unwrap();
        assert!(
            took < chrono::Duration::seconds(10),
            "run {} took {took} of (paused) clock time",
            r.run_id
        );
    }
}
