//! Python tasks (Airflow's `PythonOperator`, dag-factory's `python_callable_file` +
//! `python_callable_name`) through the CLI as a user types it, with a real Python: the
//! callable's return value as the XCom, Airflow's context arguments, `ti.xcom_pull` of an
//! upstream and of a mapped task, a mapped Python task, a raising callable (traceback in the
//! log, retries used, the run failed), a secret printed by the callable (masked), a timeout
//! that kills the Python process, and a missing interpreter or callable file.

use crate::common;

use common::Env;
use serde_json::Value;

const CALLABLES: &str = r#"
import os

def make_list():
    return [[1], [2], [3]]

def double(x, ds, params, ti, dag_run):
    print("doubling", x, "for", params["who"], "on", ds)
    ti.xcom_push(key="conf", value=dag_run.conf)
    return {"x": x * 2, "ds": ds}

def total(ti, **context):
    values = ti.xcom_pull(task_ids="each")
    assert context["task"].task_id == "total"
    return sum(values) + len(ti.xcom_pull(task_ids="make"))

def times_ten(n):
    return n * 10

def show_params(params):
    return params

def boom():
    raise ValueError("the data is bad")

def leak(secret):
    print("connecting with", secret)
    return "ok"

def sleepy(pid_file):
    with open(pid_file, "w") as f:
        f.write(str(os.getpid()))
    import time
    time.sleep(120)
"#;

fn dag(pid_file: &str) -> String {
    format!(
        r#"dag_id: py
start_date: 2026-01-01
params: {{who: ada}}
tasks:
  make:
    operator: PythonOperator
    python_callable_file: callables.py
    python_callable_name: make_list
  twice:
    operator: airflow.operators.python.PythonOperator
    python_callable: callables.double
    op_args: [21]
    dependencies: [make]
  each:
    operator: PythonOperator
    python_callable: callables.times_ten
    expand:
      op_args: make.output
  total:
    operator: PythonOperator
    python_callable: callables.total
    dependencies: [each]
  echo:
    operator: BashOperator
    bash_command: echo {{{{ ti.xcom_pull(task_ids='twice')['x'] }}}}
    dependencies: [twice]
  with_params:
    operator: PythonOperator
    python_callable: callables.show_params
    params: {{who: bob, extra: 1}}
  leak:
    operator: PythonOperator
    python_callable: callables.leak
    op_kwargs: {{secret: "{{{{ var.value.db_password }}}}"}}
  slow:
    operator: PythonOperator
    python_callable: callables.sleepy
    op_kwargs: {{pid_file: {pid_file}}}
    execution_timeout: 2
"#
    )
}

fn log(env: &Env, run: &str, task: &str) -> String {
    String::from_utf8_lossy(
        &env.process(&["tasks", "logs", run, task])
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned()
}

#[test]
fn python_callables_run_with_airflows_context_and_their_results_flow_downstream() {
    let env = Env::new(&[]);
    let pid_file = env.dir.path().join("slow.pid");
    std::fs::write(env.dags().join("callables.py"), CALLABLES).unwrap();
    std::fs::write(
        env.dags().join("py.yaml"),
        dag(&pid_file.display().to_string()),
    )
    .unwrap();
    env.cmd(&["variables", "set", "db_password", "hunter2-secret"])
        .assert()
        .success();
    env.cmd(&["validate"]).assert().success();
    let out = env
        .cmd(&["trigger", "py", "--conf", r#"{"source": "cli"}"#])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Only `slow` failed (its timeout), so the run failed.
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let run = &env.runs()[0];
    let id = run["run_id"].as_str().unwrap();
    let shown = env.json(&["runs", "show", id, "--json"]);
    let state = |t: &str| common::task_instance(&shown, t)["state"].clone();
    for t in [
        "make",
        "twice",
        "each",
        "each[2]",
        "total",
        "echo",
        "leak",
        "with_params",
    ] {
        assert_eq!(state(t), "success", "{t}: {stdout}");
    }
    assert_eq!(state("slow"), "failed");
    // The return value is the XCom; context arguments as Airflow passes them.
    let twice = env.json(&["xcom", "get", id, "twice"]);
    assert_eq!(
        twice,
        serde_json::json!({"x": 42, "ds": run["logical_date"].as_str().unwrap()[..10]})
    );
    assert_eq!(
        env.json(&["xcom", "get", id, "twice", "--key", "conf"]),
        serde_json::json!({"source": "cli"})
    );
    let twice_log = log(&env, id, "twice");
    assert!(twice_log.contains("doubling 21 for ada on"), "{twice_log}");
    assert!(
        twice_log.contains("Done. Returned value was: {'x': 42"),
        "{twice_log}"
    );
    assert_eq!(log(&env, id, "echo").trim(), "42");
    // The task's own params over the DAG's.
    let params = env.json(&["xcom", "get", id, "with_params"]);
    assert_eq!(
        (&params["who"], &params["extra"]),
        (&Value::from("bob"), &Value::from(1))
    );
    // A mapped Python task over an upstream's list, then a reduce step pulling it.
    assert_eq!(env.json(&["xcom", "get", id, "each[1]"]), Value::from(20));
    assert_eq!(env.json(&["xcom", "get", id, "total"]), Value::from(63));
    // What the callable prints is masked like any log.
    let leak = log(&env, id, "leak");
    assert!(leak.contains("connecting with"), "{leak}");
    assert!(!leak.contains("hunter2-secret"), "{leak}");
    // The timeout killed the Python process (gone once the kill has landed).
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let since = std::time::Instant::now();
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        assert!(
            since.elapsed().as_secs() < 10,
            "the timed-out Python process {pid} still runs"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn a_raising_callable_fails_its_tries_with_the_traceback_in_the_log() {
    let env = Env::new(&[]);
    std::fs::write(env.dags().join("callables.py"), CALLABLES).unwrap();
    std::fs::write(
        env.dags().join("bad.yaml"),
        "dag_id: bad\ntasks:\n  boom:\n    operator: PythonOperator\n    python_callable: callables.boom\n    retries: 1\n    retry_delay: 0\n",
    )
    .unwrap();
    let out = env.cmd(&["trigger", "bad"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("ValueError: the data is bad"), "{stdout}");
    let run = &env.runs()[0];
    let id = run["run_id"].as_str().unwrap();
    let shown = env.json(&["runs", "show", id, "--json"]);
    let boom = common::task_instance(&shown, "boom");
    assert_eq!(boom["state"], "failed");
    assert_eq!(boom["tries"].as_array().unwrap().len(), 2, "retries used");
    let text = log(&env, id, "boom");
    assert!(text.contains("Traceback (most recent call last)"), "{text}");
    assert!(text.contains("callables.py\", line"), "{text}");
    assert!(
        !text.contains("in main"),
        "the runner's own frames are not shown: {text}"
    );
}

#[test]
fn a_missing_interpreter_callable_or_module_is_said_plainly() {
    let env = Env::new(&[]);
    std::fs::write(env.dags().join("callables.py"), CALLABLES).unwrap();
    std::fs::write(
        env.dags().join("broken.py"),
        "import not_a_real_module\n\ndef f():\n    return 1\n",
    )
    .unwrap();
    let dag = |id: &str, body: &str| {
        std::fs::write(
            env.dags().join(format!("{id}.yaml")),
            format!("dag_id: {id}\ntasks:\n  t:\n    operator: PythonOperator\n{body}"),
        )
        .unwrap()
    };
    dag(
        "nofile",
        "    python_callable_file: missing.py\n    python_callable_name: f\n",
    );
    dag("noname", "    python_callable: callables.nope\n");
    dag(
        "nopy",
        "    python_callable: callables.make_list\n    python: /nonexistent/python3\n",
    );
    dag("nomod", "    python_callable: make_list\n");
    dag("badimport", "    python_callable: broken.f\n");
    // `validate` imports nothing, but reads the files and looks for the interpreter.
    let out = env.cmd(&["validate"]).output().unwrap();
    let text = common::out_text(&out);
    assert!(!out.status.success(), "{text}");
    for (file, said) in [
        ("nofile.yaml:5", "missing.py` does not exist"),
        ("noname.yaml:5", "callables.py` defines no `nope`"),
        (
            "nopy.yaml:6",
            "the task runs Python `/nonexistent/python3`, which is not found here",
        ),
        ("nomod.yaml:5", "names no module"),
    ] {
        let line = text
            .lines()
            .find(|l| l.contains(file))
            .unwrap_or_else(|| panic!("{file}: {text}"));
        assert!(line.contains(said), "{line}\n{text}");
    }
    assert!(!text.contains("badimport.yaml"), "{text}");
    // `info` says which Python tasks run with, and when it is missing.
    let info = env.json(&["info", "--json"]);
    assert!(
        info["python"].as_str().unwrap().starts_with("python3 ("),
        "{info}"
    );
    let out = env
        .cmd(&["info"])
        .env("DAGCTL_PYTHON", "/nonexistent/py")
        .output()
        .unwrap();
    assert!(
        common::out_text(&out).contains("/nonexistent/py not found (DAGCTL_PYTHON)"),
        "{}",
        common::out_text(&out)
    );
    // An import that fails in the callable's module is said at run time, with the module.
    let out = env.cmd(&["trigger", "badimport"]).output().unwrap();
    let text = common::out_text(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("ModuleNotFoundError: No module named 'not_a_real_module'"),
        "{text}"
    );
}

const SAMPLE: &str = r#"
def some_number():
    return 7

def build_numbers_list():
    return [1, 2, 3]

def double(number: int):
    return 2 * number

def multiply(a: int, b: int) -> int:
    return a * b

def double_with_label(number, label=False):
    return f"{number} doubled is {2 * number}" if label else 2 * number

def stats(numbers):
    return {"count": len(numbers), "sum": sum(numbers)}
"#;

/// dag-factory's TaskFlow example's forms: `decorator: airflow.decorators.task` with the
/// function's arguments as keys, `+task` for a task's result (an upstream), static and
/// dynamic `expand` with `partial`, and `multiple_outputs`.
const TASKFLOW: &str = r#"taskflow:
  default_args:
    start_date: 2026-01-01
  schedule: "0 3 * * *"
  tasks:
    some_number:
      decorator: airflow.sdk.definitions.decorators.task
      python_callable: sample.some_number
    numbers_list:
      decorator: airflow.sdk.definitions.decorators.task
      python_callable_name: build_numbers_list
      python_callable_file: $CONFIG_ROOT_DIR/sample.py
    double_number_from_arg:
      decorator: airflow.decorators.task
      python_callable: sample.double
      number: 2
    double_number_from_task:
      decorator: airflow.sdk.task
      python_callable: sample.double
      number: +some_number
    double_static:
      decorator: airflow.decorators.task
      python_callable: sample.double
      expand:
        number: [1, 3, 5]
    multiply:
      decorator: airflow.decorators.task
      python_callable: sample.multiply
      expand:
        a: +numbers_list
        b: +numbers_list
    labelled:
      decorator: airflow.decorators.task
      python_callable: sample.double_with_label
      expand:
        number: +numbers_list
      partial:
        label: true
    stats:
      decorator: airflow.decorators.task
      python_callable: sample.stats
      numbers: +numbers_list
      multiple_outputs: true
    doubled_count:
      decorator: airflow.decorators.task
      python_callable: sample.double
      number: "+stats['count']"
"#;

#[test]
fn taskflow_functions_take_their_arguments_and_upstream_results() {
    let env = Env::new(&[]);
    std::fs::write(env.dags().join("sample.py"), SAMPLE).unwrap();
    std::fs::write(env.dags().join("taskflow.yml"), TASKFLOW).unwrap();
    env.cmd(&["validate"]).assert().success();
    env.cmd(&["trigger", "taskflow"]).assert().success();
    let run = &env.runs()[0];
    let id = run["run_id"].as_str().unwrap();
    let get = |task: &str, key: &str| env.json(&["xcom", "get", id, task, "--key", key]);
    let ret = |task: &str| get(task, "return_value");
    assert_eq!(ret("double_number_from_arg"), Value::from(4));
    assert_eq!(ret("double_number_from_task"), Value::from(14));
    assert_eq!(ret("double_static[2]"), Value::from(10));
    // Airflow's cross product of two expanded arguments: 3 × 3 instances.
    assert_eq!(ret("multiply[8]"), Value::from(9));
    assert_eq!(ret("labelled[1]"), Value::from("2 doubled is 4"));
    assert_eq!(get("stats", "count"), Value::from(3));
    assert_eq!(get("stats", "sum"), Value::from(6));
    // `+task['key']`: one of a task's XComs.
    assert_eq!(ret("doubled_count"), Value::from(6));
    // `+task` made the task an upstream.
    let shown = env.json(&["dags", "show", "taskflow", "--json"]);
    let task = shown["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["task_id"] == "double_number_from_task")
        .unwrap();
    assert_eq!(task["upstream"], serde_json::json!(["some_number"]));
    assert_eq!(task["operator"], "python");
}

/// dagctl killed with SIGKILL while a callable runs: the Python process dies with it (never a
/// second copy beside the try that replaces it), and `runs resume` runs the task again to its
/// end.
#[test]
fn a_callable_dies_with_a_killed_dagctl_and_runs_again_on_resume() {
    let env = Env::new(&[]);
    let marks = env.dir.path().join("marks");
    std::fs::create_dir_all(&marks).unwrap();
    std::fs::write(
        env.dags().join("slow.py"),
        r#"
import os, time

def work(marks):
    first = not os.path.exists(os.path.join(marks, "pid"))
    with open(os.path.join(marks, "pid"), "a") as f:
        f.write(f"{os.getpid()}\n")
    if first:
        time.sleep(60)
    return "done"
"#,
    )
    .unwrap();
    std::fs::write(
        env.dags().join("crash.yaml"),
        format!(
            "dag_id: crash\ntasks:\n  work:\n    operator: PythonOperator\n    python_callable: slow.work\n    op_kwargs: {{marks: {}}}\n",
            marks.display()
        ),
    )
    .unwrap();
    let mut child = env.process(&["trigger", "crash"]).spawn().unwrap();
    let pid_file = marks.join("pid");
    let started = std::time::Instant::now();
    while !pid_file.exists() {
        assert!(
            started.elapsed().as_secs() < 30,
            "the callable never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let first: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let gone = std::time::Instant::now();
    while std::path::Path::new(&format!("/proc/{first}")).exists() {
        assert!(
            gone.elapsed().as_secs() < 10,
            "Python {first} outlived its dagctl"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    env.cmd(&["runs", "resume"]).assert().success();
    let run = &env.runs()[0];
    assert_eq!(run["state"], "success");
    let id = run["run_id"].as_str().unwrap();
    assert_eq!(env.json(&["xcom", "get", id, "work"]), Value::from("done"));
    let pids = std::fs::read_to_string(&pid_file).unwrap();
    assert_eq!(
        pids.lines().count(),
        2,
        "one more run of the callable: {pids}"
    );
}

/// `BranchPythonOperator`, `ShortCircuitOperator` and their TaskFlow forms (`@task.branch`,
/// `@task.short_circuit`): the callable's return value picks the branch, or skips what follows.
#[test]
fn branch_and_short_circuit_callables_decide_what_runs() {
    let env = Env::new(&[]);
    std::fs::write(
        env.dags().join("choose.py"),
        "def pick():\n    return 'b'\n\ndef pick_list():\n    return ['c']\n\ndef falsy():\n    return 0\n\ndef truthy():\n    return 'yes'\n",
    )
    .unwrap();
    std::fs::write(
        env.dags().join("branchy.yaml"),
        r#"dag_id: branchy
tasks:
  pick:
    operator: airflow.operators.python.BranchPythonOperator
    python_callable: choose.pick
  a: {operator: noop, dependencies: [pick]}
  b: {operator: noop, dependencies: [pick]}
  tf_branch:
    decorator: airflow.decorators.task.branch
    python_callable: choose.pick_list
  c: {operator: noop, dependencies: [tf_branch]}
  d: {operator: noop, dependencies: [tf_branch]}
  gate:
    operator: ShortCircuitOperator
    python_callable: choose.falsy
  after_gate: {operator: noop, dependencies: [gate]}
  open_gate:
    decorator: airflow.sdk.task.short_circuit
    python_callable: choose.truthy
  after_open: {operator: noop, dependencies: [open_gate]}
"#,
    )
    .unwrap();
    env.cmd(&["trigger", "branchy"]).assert().success();
    let run = &env.runs()[0];
    let id = run["run_id"].as_str().unwrap();
    let shown = env.json(&["runs", "show", id, "--json"]);
    let state = |t: &str| {
        common::task_instance(&shown, t)["state"]
            .as_str()
            .unwrap()
            .to_string()
    };
    for (task, want) in [
        ("pick", "success"),
        ("a", "skipped"),
        ("b", "success"),
        ("tf_branch", "success"),
        ("c", "success"),
        ("d", "skipped"),
        ("gate", "success"),
        ("after_gate", "skipped"),
        ("open_gate", "success"),
        ("after_open", "success"),
    ] {
        assert_eq!(state(task), want, "{task}");
    }
    assert_eq!(env.json(&["xcom", "get", id, "pick"]), Value::from("b"));
    assert_eq!(
        env.json(&["xcom", "get", id, "open_gate"]),
        Value::from("yes")
    );
}

/// Callbacks given as Python callables — a string `module.function` and dag-factory's
/// `{callback: module.function, <keyword arguments>}` — are called as Airflow calls them:
/// the context (with the exception that failed the task), then the keyword arguments.
#[test]
fn python_callbacks_get_airflows_context_and_their_arguments() {
    let env = Env::new(&[]);
    let out = env.dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(
        env.dags().join("hooks.py"),
        r#"
import json, os

def task_failed(context, marker, level="low"):
    with open(marker, "w") as f:
        json.dump({
            "task": context["ti"].task_id,
            "exception": str(context["exception"]),
            "ds": context["ds"],
            "level": level,
        }, f)

def run_failed(context):
    path = os.path.join(context["dag_run"].conf["out"], "run.json")
    with open(path, "w") as f:
        json.dump({"run_id": context["run_id"], "dag_id": context["dag"].dag_id}, f)
"#,
    )
    .unwrap();
    let marker = out.join("task.json");
    std::fs::write(
        env.dags().join("cb.yaml"),
        format!(
            r#"dag_id: cb
on_failure_callback: hooks.run_failed
tasks:
  bad:
    operator: command
    bash_command: exit 3
    on_failure_callback:
      callback: hooks.task_failed
      marker: {}
      level: high
"#,
            marker.display()
        ),
    )
    .unwrap();
    env.cmd(&["validate"]).assert().success();
    let conf = format!(r#"{{"out": "{}"}}"#, out.display());
    env.cmd(&["trigger", "cb", "--conf", &conf, "--run-id", "r1"])
        .assert()
        .code(1);
    let task: Value = serde_json::from_slice(&std::fs::read(&marker).unwrap()).unwrap();
    assert_eq!(task["task"], "bad");
    assert_eq!(task["level"], "high");
    assert!(
        task["exception"]
            .as_str()
            .unwrap()
            .contains("exited with status 3"),
        "{task}"
    );
    let run: Value = serde_json::from_slice(&std::fs::read(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(run, serde_json::json!({"run_id": "r1", "dag_id": "cb"}));
}

/// `python:` in `default_args` (or on the task) picks the interpreter; a missing one there is
/// said by `validate`.
#[test]
fn the_python_of_default_args_runs_the_callables() {
    let env = Env::new(&[]);
    let python = std::fs::canonicalize("/usr/bin/python3")
        .or_else(|_| std::fs::canonicalize(which("python3")))
        .unwrap();
    std::fs::write(
        env.dags().join("which.py"),
        "import sys\n\ndef exe():\n    return sys.executable\n",
    )
    .unwrap();
    std::fs::write(
        env.dags().join("chosen.yaml"),
        format!(
            "dag_id: chosen\ndefault_args:\n  python: {}\ntasks:\n  t:\n    operator: PythonOperator\n    python_callable: which.exe\n",
            python.display()
        ),
    )
    .unwrap();
    env.cmd(&["trigger", "chosen"]).assert().success();
    let id = env.runs()[0]["run_id"].as_str().unwrap().to_string();
    let exe = env.json(&["xcom", "get", &id, "t"]);
    assert_eq!(
        std::fs::canonicalize(exe.as_str().unwrap()).unwrap(),
        python
    );
    std::fs::write(
        env.dags().join("missing.yaml"),
        "dag_id: missing\ndefault_args:\n  python: /nonexistent/python9\ntasks:\n  t:\n    operator: PythonOperator\n    python_callable: which.exe\n",
    )
    .unwrap();
    let out = env.cmd(&["validate"]).output().unwrap();
    let text = common::out_text(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("missing.yaml:6")
            && text.contains("`/nonexistent/python9`, which is not found"),
        "{text}"
    );
}

/// `program` found in `PATH`.
fn which(program: &str) -> std::path::PathBuf {
    std::env::split_paths(&std::env::var("PATH").unwrap())
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .unwrap()
}

/// `templates_dict` reaches the callable rendered, in its context; a return value that is not
/// JSON fails the try saying what to return.
#[test]
fn templates_dict_is_rendered_and_a_non_json_result_is_refused() {
    let env = Env::new(&[]);
    std::fs::write(
        env.dags().join("td.py"),
        "def show(templates_dict, **context):\n    return templates_dict\n\ndef a_set():\n    return {1, 2}\n",
    )
    .unwrap();
    std::fs::write(
        env.dags().join("td.yaml"),
        "dag_id: td\ntasks:\n  show:\n    operator: PythonOperator\n    python_callable: td.show\n    templates_dict: {day: '{{ ds }}', run: '{{ run_id }}'}\n  bad:\n    operator: PythonOperator\n    python_callable: td.a_set\n",
    )
    .unwrap();
    let out = env
        .cmd(&[
            "trigger",
            "td",
            "--run-id",
            "r1",
            "--logical-date",
            "2026-03-04",
        ])
        .output()
        .unwrap();
    let text = common::out_text(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert_eq!(
        env.json(&["xcom", "get", "r1", "show"]),
        serde_json::json!({"day": "2026-03-04", "run": "r1"})
    );
    assert!(
        text.contains("the callable returned a set, which is not JSON"),
        "{text}"
    );
}
