//! Dynamic task mapping (Airflow's `expand` / `partial`) through the CLI as a user types it:
//! expanding over an upstream's output, a list and a Variable, a reduce step pulling the
//! mapped results, zero-length and too-long expansions, trigger rules over mapped
//! instances, names from `map_index_template`, clearing, and a driver killed mid-map.

use crate::common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::Env;
use serde_json::Value;

/// `runs show --json` of the DAG's only run.
fn shown_run(env: &Env) -> Value {
    let runs = env.runs();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let id = runs[0]["run_id"].as_str().unwrap().to_string();
    env.json(&["runs", "show", &id, "--json"])
}

/// task id → state, of every task instance of the run.
fn states(run: &Value) -> BTreeMap<String, String> {
    run["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["task_id"].as_str().unwrap().to_string(),
                t["state"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn log(env: &Env, run: &Value, task: &str) -> String {
    let id = run["run_id"].as_str().unwrap();
    String::from_utf8(common::stdout_ok(
        env.process(&["tasks", "logs", id, task]).output().unwrap(),
    ))
    .unwrap()
}

const OVER_XCOM: &str = r#"dag_id: fan
tasks:
  - task_id: list_files
    operator: BashOperator
    bash_command: 'echo "[\"echo \$STAGE-a\", \"echo \$STAGE-b\", \"echo \$STAGE-c\"]"'
  - task_id: process
    operator: BashOperator
    partial:
      env: {STAGE: cleaned}
      retries: 0
    expand:
      bash_command: list_files.output
    map_index_template: "{{ task.bash_command }} #{{ ti.map_index }}"
  - task_id: count
    operator: BashOperator
    bash_command: 'echo {{ ti.xcom_pull(task_ids="process") | length }} {{ ti.xcom_pull(task_ids="process") | join("+") }}'
    dependencies: [process]
"#;

#[test]
fn mapping_over_an_upstreams_output_then_reducing_the_results() {
    // Each instance's command is one item; `partial` arguments reach every instance.
    let env = Env::new(&[("fan.yml", OVER_XCOM)]);
    env.cmd(&["trigger", "fan"]).assert().success();
    let run = shown_run(&env);
    let want: BTreeMap<String, String> = [
        "list_files",
        "process",
        "process[0]",
        "process[1]",
        "process[2]",
        "count",
    ]
    .iter()
    .map(|t| (t.to_string(), "success".to_string()))
    .collect();
    assert_eq!(states(&run), want);
    // Instances carry Airflow's map index and their name from `map_index_template`.
    let p1 = common::task_instance(&run, "process[1]");
    assert_eq!(p1["map_index"], 1);
    assert_eq!(p1["rendered_map_index"], "echo $STAGE-b #1");
    assert_eq!(common::task_instance(&run, "process")["map_index"], -1);
    assert_eq!(log(&env, &run, "process[1]").trim(), "cleaned-b");
    // The reduce step pulled the mapped results as one list, in map-index order.
    assert_eq!(
        log(&env, &run, "count").trim(),
        "3 cleaned-a+cleaned-b+cleaned-c"
    );
    let id = run["run_id"].as_str().unwrap();
    let xcom = env.json(&["xcom", "get", id, "process[2]"]);
    assert_eq!(xcom, "cleaned-c");
    // The web view: the run's page lists each instance with its name; the API says what
    // the CLI says.
    let web = common::web::WebServer::start(&env, None, &[]);
    let enc = id.replace(':', "%3A").replace('+', "%2B");
    let page = web.get(&format!("/dags/fan/runs/{enc}"));
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body
            .contains("process[1] <span class=\"muted\">echo $STAGE-b #1</span>"),
        "{}",
        page.body
    );
    let api = web.json(&format!("/api/v1/dags/fan/runs/{enc}"));
    assert_eq!(api["tasks"], run["tasks"]);
}

#[test]
fn a_literal_list_a_variable_and_a_cross_product() {
    let dag = r#"dag_id: grid
tasks:
  sums:
    operator: command
    expand:
      bash_command: ["echo 2", "echo 4", "echo 8"]
      env: [{ADD: "5"}, {ADD: "10"}]
  sum:
    operator: command
    partial:
      bash_command: 'echo $(( {{ ti.map_index }} ))'
    expand:
      env: "{{ var.json.envs | tojson }}"
  all:
    operator: command
    bash_command: "echo {{ ti.xcom_pull(task_ids='sums') | join(',') }}"
    dependencies: [sums, sum]
"#;
    let env = Env::new(&[("grid.yml", dag)]);
    env.cmd(&["variables", "set", "envs", r#"[{"A": "1"}, {"A": "2"}]"#])
        .assert()
        .success();
    env.cmd(&["trigger", "grid"]).assert().success();
    let run = shown_run(&env);
    let s = states(&run);
    // Three commands × two environments, the last argument varying fastest (as Airflow).
    assert_eq!(
        s.keys().filter(|k| k.starts_with("sums[")).count(),
        6,
        "{s:?}"
    );
    assert_eq!(
        s.keys().filter(|k| k.starts_with("sum[")).count(),
        2,
        "{s:?}"
    );
    assert!(s.values().all(|v| v == "success"), "{s:?}");
    assert_eq!(log(&env, &run, "sum[1]").trim(), "1");
    // `tasks list` says what each task is expanded over.
    let tasks = env.json(&["tasks", "list", "grid", "--json"]);
    let sums = tasks
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["task_id"] == "sums")
        .unwrap();
    assert_eq!(sums["expand"], "bash_command, env");
    assert_eq!(sums["mapping"]["expand"]["env"]["items"][1]["ADD"], "10");
    let sum = tasks
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["task_id"] == "sum")
        .unwrap();
    assert_eq!(
        sum["mapping"]["expand"]["env"]["template"],
        "{{ var.json.envs | tojson }}"
    );
    assert_eq!(log(&env, &run, "all").trim(), "2,2,4,4,8,8");
}

#[test]
fn nothing_to_expand_over_skips_and_too_much_fails_saying_so() {
    let dag = |items: &str| {
        format!(
            "dag_id: edge\ntasks:\n  make:\n    operator: command\n    bash_command: |-\n      echo '{items}'\n  each:\n    operator: command\n    max_map_length: 3\n    expand:\n      bash_command: make.output\n  after:\n    operator: noop\n    dependencies: [each]\n  always:\n    operator: noop\n    trigger_rule: all_done\n    dependencies: [each]\n"
        )
    };
    // Zero items: the mapped task is skipped, and so is what needs its success.
    let env = Env::new(&[("edge.yml", &dag("[]"))]);
    env.cmd(&["trigger", "edge"]).assert().success();
    let s = states(&shown_run(&env));
    assert_eq!(s["each"], "skipped");
    assert_eq!(s["after"], "skipped");
    assert_eq!(s["always"], "success");
    assert!(!s.keys().any(|k| k.contains('[')), "{s:?}");
    // Four items past max_map_length 3: the task fails with the reason, the run fails.
    let env = Env::new(&[("edge.yml", &dag(r#"["true","true","true","true"]"#))]);
    let out = env.cmd(&["trigger", "edge"]).assert().failure();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        text.contains("expanding makes 4 instances, more than max_map_length (3)"),
        "{text}"
    );
    let s = states(&shown_run(&env));
    assert_eq!(s["each"], "failed");
    assert_eq!(s["after"], "upstream_failed");
    // Not a list: the same, naming what came.
    let env = Env::new(&[("edge.yml", &dag("just text"))]);
    let out = env.cmd(&["trigger", "edge"]).assert().failure();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        text.contains("`expand` argument `bash_command` is not a list: \"just text\""),
        "{text}"
    );
}

#[test]
fn trigger_rules_count_each_mapped_instance() {
    let dag = r#"dag_id: rules
tasks:
  each:
    operator: command
    expand:
      bash_command: ["true", "false", "true"]
  all_ok:
    operator: noop
    dependencies: [each]
  one_ok:
    operator: noop
    trigger_rule: one_success
    dependencies: [each]
  one_failed:
    operator: noop
    trigger_rule: one_failed
    dependencies: [each]
  none_failed:
    operator: noop
    trigger_rule: none_failed
    dependencies: [each]
"#;
    let env = Env::new(&[("rules.yml", dag)]);
    env.cmd(&["trigger", "rules"]).assert().failure();
    let s = states(&shown_run(&env));
    assert_eq!(s["each[0]"], "success");
    assert_eq!(s["each[1]"], "failed");
    assert_eq!(s["each"], "failed");
    assert_eq!(s["all_ok"], "upstream_failed");
    assert_eq!(s["one_ok"], "success");
    assert_eq!(s["one_failed"], "success");
    assert_eq!(s["none_failed"], "upstream_failed");
    // Clearing the failed instance alone runs it again, the others stay as they were.
    let run = shown_run(&env);
    let id = run["run_id"].as_str().unwrap();
    env.cmd(&["tasks", "clear", id, "each[1]"])
        .assert()
        .success();
    let s = states(&shown_run(&env));
    assert_eq!(s["each[1]"], "none");
    assert_eq!(s["each[0]"], "success");
}

#[test]
fn clearing_a_mapped_task_expands_it_again_from_what_its_upstream_says_now() {
    let dag = r#"dag_id: again
tasks:
  make:
    operator: command
    bash_command: "echo '{{ var.value.items }}'"
  each:
    operator: command
    expand:
      bash_command: make.output
"#;
    let env = Env::new(&[("again.yml", dag)]);
    env.cmd(&[
        "variables",
        "set",
        "items",
        r#"["echo 1","echo 2","echo 3"]"#,
    ])
    .assert()
    .success();
    env.cmd(&["trigger", "again"]).assert().success();
    let id = shown_run(&env)["run_id"].as_str().unwrap().to_string();
    env.cmd(&["variables", "set", "items", r#"["echo 9"]"#])
        .assert()
        .success();
    env.cmd(&["tasks", "clear", id.as_str(), "make", "--downstream"])
        .assert()
        .success();
    env.cmd(&["runs", "resume", id.as_str()]).assert().success();
    let run = shown_run(&env);
    let s = states(&run);
    assert_eq!(s["each[0]"], "success");
    assert_eq!(s["each[1]"], "removed");
    assert_eq!(s["each[2]"], "removed");
    assert_eq!(s["each"], "success");
    assert_eq!(log(&env, &run, "each[0]").trim(), "9");
    // Its tries are kept: the second try of instance 0 ran the new item.
    assert_eq!(common::task_instance(&run, "each[0]")["try_number"], 2);
    // A removed instance is no longer part of the run: it cannot be cleared alone.
    env.cmd(&["tasks", "clear", id.as_str(), "each[1]"])
        .assert()
        .failure();
    assert_eq!(states(&shown_run(&env))["each[1]"], "removed");
}

#[test]
fn a_driver_killed_while_instances_run_resumes_each_instance_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.txt");
    let dag = format!(
        "dag_id: crash\nmax_active_tasks: 3\ntasks:\n  each:\n    operator: command\n    expand:\n      bash_command: {items}\n  after:\n    operator: command\n    bash_command: \"echo done >> {out}\"\n    dependencies: [each]\n",
        items = serde_json::to_string(
            &(0..8)
                .map(|i| format!("sleep 0.3; echo {i} >> {}", out.display()))
                .collect::<Vec<_>>()
        )
        .unwrap(),
        out = out.display()
    );
    let env = Env::new(&[("crash.yml", &dag)]);
    let mut child = env.process(&["trigger", "crash"]).spawn().unwrap();
    let start = Instant::now();
    while common::line_counts(&out).len() < 3 {
        assert!(start.elapsed() < Duration::from_secs(30), "no instance ran");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let id = env.runs()[0]["run_id"].as_str().unwrap().to_string();
    env.cmd(&["runs", "resume", id.as_str()]).assert().success();
    let s = states(&shown_run(&env));
    assert_eq!(s.len(), 10, "{s:?}");
    assert!(s.values().all(|v| v == "success"), "{s:?}");
    // Every item's command completed, the reduce step once; a command cut by the kill may
    // have started twice, but none that finished ran again.
    let lines = common::line_counts(&out);
    assert_eq!(lines.get("done"), Some(&1), "{lines:?}");
    for i in 0..8 {
        assert!(lines.contains_key(&i.to_string()), "item {i}: {lines:?}");
    }
}

#[test]
fn a_list_cut_in_a_commands_output_is_said_to_be_cut() {
    let dag = "dag_id: big\ntasks:\n  make:\n    operator: command\n    bash_command: python3 -c 'import json; print(json.dumps([\"echo\"] * 20000))'\n  each:\n    operator: command\n    max_map_length: 20000\n    expand:\n      bash_command: make.output\n";
    let env = Env::new(&[("big.yml", dag)]);
    let out = env.cmd(&["trigger", "big"]).assert().failure();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        text.contains("printed was cut (a log line keeps 64 KiB)"),
        "{text}"
    );
    assert_eq!(states(&shown_run(&env))["each"], "failed");
}

/// On PostgreSQL with two workers: the instances of a task in a pool only the second one
/// serves are handed to it, and it runs each with the arguments its expansion gave it.
#[test]
fn instances_handed_to_another_worker_run_with_their_own_arguments() {
    let dag = "dag_id: handed\ntasks:\n  each:\n    operator: command\n    partial: {pool: gpu}\n    expand:\n      bash_command: [\"echo first\", \"echo second\", \"echo third\"]\n  after:\n    operator: command\n    bash_command: \"echo {{ ti.xcom_pull(task_ids='each') | join(',') }}\"\n    dependencies: [each]\n";
    let Some(d) = common::deployment::Deployment::new("mapped", dag) else {
        return;
    };
    std::fs::write(d.dir.path().join("dags/pools.yaml"), "gpu: 2\n").unwrap();
    d.ok(&["trigger", "handed", "--run-id", "h1", "--no-wait"]);
    // The first worker drives the run; only then does the one serving `gpu` start.
    let w1 = d.spawn(
        "w1",
        &["worker", "--poll", "200ms", "--pools", "default_pool"],
    );
    let start = Instant::now();
    while d.runs()[0]["state"] != "running" {
        assert!(start.elapsed() < Duration::from_secs(30), "{}", d.log("w1"));
        std::thread::sleep(Duration::from_millis(50));
    }
    let w2 = d.spawn("w2", &["worker", "--poll", "200ms", "--pools", "gpu"]);
    let runs = d.wait_finished(1, Duration::from_secs(60));
    assert!(common::deployment::stop(w1), "{}", d.log("w1"));
    assert!(common::deployment::stop(w2), "{}", d.log("w2"));
    assert_eq!(
        runs[0]["state"],
        "success",
        "{}\n{}",
        d.log("w1"),
        d.log("w2")
    );
    let tries: BTreeMap<String, Vec<Value>> = d.tries("h1").into_iter().collect();
    for i in 0..3 {
        let t = &tries[&format!("each[{i}]")];
        assert_eq!(t.len(), 1, "{t:?}");
        assert!(t[0]["handed"].as_bool().unwrap(), "{t:?}");
    }
    let log = d.ok(&["tasks", "logs", "h1", "after"]);
    assert_eq!(log.trim(), "first,second,third");
}

#[test]
fn an_instance_of_a_task_mapped_over_a_list_renders_and_tests_alone() {
    let env = Env::new(&[
        ("fan.yml", OVER_XCOM),
        (
            "lit.yml",
            "dag_id: lit\ntasks:\n  each:\n    operator: command\n    partial: {env: {X: x}}\n    expand:\n      bash_command: [\"echo one $X\", \"echo two $X\"]\n",
        ),
    ]);
    let out = common::stdout_ok(
        env.process(&["tasks", "render", "lit", "each[1]", "--json"])
            .output()
            .unwrap(),
    );
    let args: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(args["bash_command"], "echo two $X");
    assert_eq!(args["env"]["X"], "x");
    env.cmd(&["tasks", "test", "lit", "each[0]"])
        .assert()
        .success()
        .stdout(predicates::str::contains("one x"));
    for (dag, task, says) in [
        (
            "lit",
            "each",
            "is mapped: name one of its instances, `each[0]`",
        ),
        ("lit", "each[2]", "the task has 2 instance(s)"),
        (
            "fan",
            "process[0]",
            "come from task `list_files`'s output in a run",
        ),
    ] {
        let out = env.cmd(&["tasks", "render", dag, task]).assert().failure();
        let text = String::from_utf8_lossy(&out.get_output().stderr).to_string();
        assert!(text.contains(says), "{task}: {text}");
    }
}

/// `max_active_tis_per_dag` counts a mapped task's instances together, as Airflow's does.
#[test]
fn max_active_tis_per_dag_holds_across_a_mapped_tasks_instances() {
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("spans.log");
    let item = format!(
        "echo start >> {0}; sleep 0.3; echo end >> {0}",
        log.display()
    );
    let dag = format!(
        "dag_id: capped\nmax_active_tasks: 8\ntasks:\n  each:\n    operator: command\n    max_active_tis_per_dag: 2\n    expand:\n      bash_command: {}\n",
        serde_json::to_string(&vec![item; 6]).unwrap()
    );
    let env = Env::new(&[("capped.yml", &dag)]);
    env.cmd(&["trigger", "capped"]).assert().success();
    let text = std::fs::read_to_string(&log).unwrap();
    let (mut now, mut most) = (0i32, 0i32);
    for line in text.lines() {
        now += if line == "start" { 1 } else { -1 };
        most = most.max(now);
    }
    assert_eq!(text.lines().count(), 12, "{text}");
    assert_eq!(most, 2, "at most two instances at once:\n{text}");
}
