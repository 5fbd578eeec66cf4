//! Templates render as Airflow renders them: every expression of `tests/corpus/templates.yaml`
//! rendered by Apache Airflow itself (`tests/python/airflow_render.py`, in the virtualenv
//! `scripts/airflow-venv.sh` makes) and by `dagctl tasks render`, on the same DAG, logical
//! date, run id, conf and params, must print the same text — or fail in both.

use crate::common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::Env;
use serde_json::Value;

/// Expressions dagctl knowingly renders otherwise, with why.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[(
    "list_append",
    "template values are immutable in minijinja: `l.append(x)` is refused with a hint (`l + [x]`)",
)];

/// The corpus: (id, expression), in file order.
fn corpus() -> Vec<(String, String)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus/templates.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    let mut entries = Vec::new();
    let mut id = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("- id: ") {
            id = Some(rest.trim().to_string());
        } else if let Some(rest) = line.trim_start().strip_prefix("expr: ") {
            let expr: String = serde_json::from_str(rest)
                .unwrap_or_else(|e| panic!("{path}: `expr: {rest}`: {e}"));
            entries.push((id.take().expect("an `expr` follows its `id`"), expr));
        }
    }
    entries
}

/// The Python of the virtualenv with Airflow (`DAGCTL_TEST_AIRFLOW_PYTHON`).
fn airflow_python() -> Option<String> {
    match std::env::var("DAGCTL_TEST_AIRFLOW_PYTHON") {
        Ok(p) => Some(p),
        Err(_) => {
            assert!(
                std::env::var("CI").is_err(),
                "CI must run this test: set DAGCTL_TEST_AIRFLOW_PYTHON (scripts/test.sh does)"
            );
            eprintln!("skipped: DAGCTL_TEST_AIRFLOW_PYTHON is not set (scripts/test.sh sets it)");
            None
        }
    }
}

/// What Airflow renders, by id: `Ok(text)` or `Err(error)`. Kept under `target/` by the
/// corpus's and the renderer's content, so that an unchanged corpus is rendered once.
fn airflow_outputs(python: &str) -> BTreeMap<String, Result<String, String>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let corpus = root.join("tests/corpus/templates.yaml");
    let script = root.join("tests/python/airflow_render.py");
    let mut key = std::fs::read(&corpus).unwrap();
    key.extend(std::fs::read(&script).unwrap());
    let hash = key.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    });
    let cache = root.join(format!("target/airflow-templates/{hash:016x}.json"));
    if !cache.exists() {
        std::fs::create_dir_all(cache.parent().unwrap()).unwrap();
        let partial = cache.with_extension("part");
        let out = std::process::Command::new(python)
            .arg(&script)
            .arg(&corpus)
            .arg(&partial)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "Airflow could not render the corpus: {}",
            common::out_text(&out)
        );
        std::fs::rename(&partial, &cache).unwrap();
    }
    let doc: Value = serde_json::from_slice(&std::fs::read(&cache).unwrap()).unwrap();
    doc["outputs"]
        .as_object()
        .expect("outputs by id")
        .iter()
        .map(|(id, r)| {
            let result = if r["ok"] == Value::Bool(true) {
                Ok(r["text"].as_str().unwrap().to_string())
            } else {
                Err(r["error"].as_str().unwrap_or_default().to_string())
            };
            (id.clone(), result)
        })
        .collect()
}

/// The DAG Airflow rendered with: one task `t` whose argument is the expression.
fn dag_file(expr: &str) -> String {
    format!(
        "tpl:\n  schedule: \"@daily\"\n  start_date: 2026-01-01\n  catchup: false\n  params: {{x: px, num: 7}}\n  tasks:\n    - task_id: t\n      operator: command\n      program: echo\n      args: [{}]\n",
        serde_json::to_string(expr).unwrap()
    )
}

/// What `dagctl tasks render` gives for the expression.
fn dagctl_render(env: &Env, expr: &str) -> Result<String, String> {
    std::fs::write(env.dags().join("tpl.yaml"), dag_file(expr)).unwrap();
    let out = env
        .process(&[
            "tasks",
            "render",
            "tpl",
            "t",
            "--json",
            "--logical-date",
            "2026-03-15T00:00:00+00:00",
            "--run-id",
            "manual__2026-03-15T00:00:00+00:00",
            "--conf",
            r#"{"k": "vk", "n": 3}"#,
        ])
        .output()
        .unwrap();
    if !out.status.success() {
        return Err(common::out_text(&out));
    }
    let args: Value = serde_json::from_slice(&out.stdout).unwrap();
    Ok(args["args"][0].as_str().unwrap().to_string())
}

#[test]
fn the_corpus_renders_as_airflow_renders_it() {
    let Some(python) = airflow_python() else {
        return;
    };
    let airflow = airflow_outputs(&python);
    let corpus = corpus();
    assert!(
        corpus.len() >= 80,
        "the corpus has {} expressions",
        corpus.len()
    );
    let env = Env::new(&[]);
    let mut differ = Vec::new();
    let mut same = 0;
    for (id, expr) in &corpus {
        let want = airflow
            .get(id)
            .unwrap_or_else(|| panic!("Airflow's output has no `{id}`"));
        let got = dagctl_render(&env, expr);
        let agree = match (want, &got) {
            (Ok(a), Ok(b)) => a == b,
            (Err(_), Err(_)) => true,
            _ => false,
        };
        if agree {
            same += 1;
        } else {
            differ.push((id.as_str(), expr.as_str(), want.clone(), got));
        }
    }
    eprintln!("{same} of {} render as Airflow renders them", corpus.len());
    let known: Vec<&str> = KNOWN_DIFFERENCES.iter().map(|(id, _)| *id).collect();
    let unexpected: Vec<String> = differ
        .iter()
        .filter(|(id, ..)| !known.contains(id))
        .map(|(id, expr, want, got)| {
            format!("{id}: {expr}\n  Airflow: {want:?}\n  dagctl:  {got:?}")
        })
        .collect();
    assert!(unexpected.is_empty(), "{}", unexpected.join("\n"));
    // A known difference that went away is taken off the list.
    for id in known {
        assert!(
            differ.iter().any(|(d, ..)| *d == id),
            "`{id}` now renders as Airflow does: take it off KNOWN_DIFFERENCES"
        );
    }
}

/// A template that calls an unknown method fails `validate`, at the file, line and column of
/// the call, with the method it probably meant.
#[test]
fn validate_finds_a_template_that_cannot_render() {
    let env = Env::new(&[(
        "t.yaml",
        "t:\n  tasks:\n    - task_id: a\n      operator: BashOperator\n      bash_command: \"echo {{ ds }} {{ logical_date.strftme('%Y') }}\"\n    - task_id: b\n      operator: BashOperator\n      bash_command: |\n        echo {{ ds }}\n        echo {{ ds | ds_nodsh }}\n      dependencies: [a]\n",
    )]);
    let out = env.process(&["validate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", common::out_text(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let file = env.dags().join("t.yaml");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[..3],
        [
            format!(
                "{}:5:51: error: the template of `bash_command` of a cannot render (line 1 column 30 of it): datetime has no method named strftme (did you mean `strftime`?)",
                file.display()
            )
            .as_str(),
            format!(
                "{}:10:22: error: the template of `bash_command` of b cannot render (line 2 column 14 of it): filter ds_nodsh is unknown",
                file.display()
            )
            .as_str(),
            "    hint: did you mean `ds_nodash`?",
        ],
        "{text}"
    );
    // The same DAG with the names right loads.
    std::fs::write(
        &file,
        std::fs::read_to_string(&file)
            .unwrap()
            .replace("strftme", "strftime")
            .replace("ds_nodsh", "ds_nodash"),
    )
    .unwrap();
    env.cmd(&["validate"]).assert().success();
}

/// The context a run reads from the store: the DAG's previous successful run
/// (`prev_data_interval_start_success` …, `None` for the first) and connections (`conn`), a
/// password printed by the command still masked in its log.
#[test]
fn a_run_sees_the_previous_success_and_the_connections() {
    let env = Env::new(&[(
        "prev.yaml",
        "prev:\n  schedule: \"@daily\"\n  start_date: 2026-01-01\n  tasks:\n    - task_id: show\n      operator: command\n      program: echo\n      args: [\"{{ prev_data_interval_start_success }}|{{ prev_start_date_success is none }}|{{ conn.wh.host }}:{{ conn.wh.port }}|{{ conn.wh.login }}|{{ conn.wh.password }}\"]\n",
    )]);
    env.cmd(&[
        "connections",
        "add",
        "wh",
        "--url",
        "s3://ana:hunter2secret@lake.example:9000/bucket",
    ])
    .assert()
    .success();
    let log = |day: &str| {
        let run_id = format!("manual__{day}");
        env.cmd(&[
            "trigger",
            "prev",
            "--logical-date",
            day,
            "--run-id",
            &run_id,
        ])
        .assert()
        .success();
        let out = env
            .cmd(&["tasks", "logs", &run_id, "show"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let first = log("2026-03-14T00:00:00+00:00");
    assert!(
        first.contains("None|True|lake.example:9000|ana|***"),
        "{first}"
    );
    let second = log("2026-03-15T00:00:00+00:00");
    assert!(
        second.contains("2026-03-13 00:00:00+00:00|False|lake.example:9000|ana|***"),
        "{second}"
    );
    assert!(!second.contains("hunter2secret"), "{second}");
}
