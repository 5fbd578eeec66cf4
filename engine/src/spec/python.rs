//! Python callables on tasks: Airflow's `PythonOperator` with `python_callable`, and
//! dag-factory's `python_callable_file` + `python_callable_name`, kept as arguments of the
//! `python` operator, which runs them in a subprocess of the user's Python. The loader finds
//! the file from the DAG file (`$VARS` expanded, `$CONFIG_ROOT_DIR` the DAG folder when unset;
//! a relative path read from the DAG file's folder) and puts the DAG file's folder and the DAG
//! folder first on the callable's `sys.path`, as Airflow has the DAG folder there.

use std::path::Path;

use crate::dag::mapping::MapSource;
use crate::diagnostic::Kind;
use crate::program::{PYTHON_ENV, program_exists, python_interpreter};
use crate::yaml::{Node, Pos};

use super::airflow::{self, OperatorName};
use super::reader::Reader;
use super::{LoadEnv, mapping};

/// The keys that name a Python callable.
pub(super) const KEYS: &[&str] = &[
    "python_callable",
    "python_callable_name",
    "python_callable_file",
];

/// The operators that run Python callables (a call, a branch, a short circuit).
const OPERATORS: &[&str] = &["python", "python_branch", "python_short_circuit"];

/// Whether the task of `node` runs its Python callable with the `python` operator (else its
/// callable keys are refused): a `PythonOperator`, or a TaskFlow function (`decorator:
/// airflow.decorators.task`).
pub(super) fn runs_python(node: &Node, env: LoadEnv<'_>) -> bool {
    node.get("operator")
        .or_else(|| node.get("decorator"))
        .and_then(Node::as_scalar)
        .is_some_and(|name| {
            matches!(airflow::resolve(name, env.registry), OperatorName::Known(op) if OPERATORS.contains(&op.as_str()))
        })
}

/// Completes the arguments of a `python` task (its interpreter is checked by the caller, once
/// known: [`check_interpreter`]): its callable file found, the folders put
/// first on `sys.path` (unless the task names them), and for a TaskFlow function the
/// arguments written `+task` or `+task['key']` (that task's result, or one of its XComs);
/// returns those tasks, which become upstreams.
pub(super) fn prepare(
    r: &mut Reader<'_>,
    env: LoadEnv<'_>,
    node: &Node,
    args: &mut serde_json::Map<String, serde_json::Value>,
) -> Vec<(String, Pos)> {
    let mut upstream = Vec::new();
    if node.get("operator").is_none() && node.get("decorator").is_some() {
        args.insert("decorated".into(), serde_json::Value::Bool(true));
        let mut xcom_args = serde_json::Map::new();
        for (name, value) in args.iter() {
            if let Some(text) = value.as_str().filter(|t| t.starts_with('+'))
                && let Some(MapSource::Xcom { task_id, key }) = mapping::xcom_reference(text)
            {
                xcom_args.insert(name.clone(), serde_json::json!([task_id, key]));
                let pos = node.get(name).map_or(node.pos, |n| n.pos);
                upstream.push((task_id, pos));
            }
        }
        for name in xcom_args.keys() {
            args.remove(name);
        }
        if !xcom_args.is_empty() {
            args.insert("xcom_args".into(), serde_json::Value::Object(xcom_args));
        }
    }
    let file_folder = r.file.parent().unwrap_or(std::path::Path::new("."));
    let file_folder =
        std::path::absolute(file_folder).unwrap_or_else(|_| file_folder.to_path_buf());
    if let Some(serde_json::Value::String(text)) = args.get("python_callable_file")
        && !text.contains("{{")
    {
        match super::datasets::expand_vars(text, env) {
            Ok(expanded) => {
                let full = file_folder.join(expanded);
                let name = args.get("python_callable_name").and_then(|n| n.as_str());
                check_defined(r, node, &full, name, "python_callable_file");
                args.insert(
                    "python_callable_file".into(),
                    serde_json::Value::String(full.to_string_lossy().into_owned()),
                );
            }
            Err(var) => {
                let pos = node.get("python_callable_file").map_or(node.pos, |n| n.pos);
                r.error(
                    pos,
                    Kind::InvalidValue,
                    format!("`python_callable_file: {text}` names `${var}`, which is not set"),
                )
                .hint = Some(format!(
                    "set {var} in the environment, or write the path from the DAG file's folder"
                ));
            }
        }
    }
    // An import path whose module is a file of the DAG folders: its function must be there
    // (a module found nowhere here may be installed in the interpreter: not checked).
    if let Some((module, name)) = args
        .get("python_callable")
        .and_then(|c| c.as_str())
        .and_then(|c| c.rsplit_once('.'))
        && !module.contains("{{")
    {
        let rel = module.replace('.', "/");
        let mut folders = vec![file_folder.clone()];
        folders.extend(env.root.map(std::path::Path::to_path_buf));
        let found = folders.iter().find_map(|f| {
            [
                f.join(format!("{rel}.py")),
                f.join(&rel).join("__init__.py"),
            ]
            .into_iter()
            .find(|p| p.is_file())
        });
        if let Some(file) = found {
            check_defined(r, node, &file, Some(name), "python_callable");
        }
    }
    if !args.contains_key("python_path") {
        let mut path = vec![file_folder.to_string_lossy().into_owned()];
        if let Some(root) = env.root {
            let root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
            let root = root.to_string_lossy().into_owned();
            if !path.contains(&root) {
                path.push(root);
            }
        }
        args.insert("python_path".into(), serde_json::json!(path));
    }
    upstream
}

/// Reports a callable file that does not exist, or that defines no `name` (read as text:
/// nothing is imported when DAGs load).
fn check_defined(r: &mut Reader<'_>, node: &Node, file: &Path, name: Option<&str>, key: &str) {
    let pos = node.get(key).map_or(node.pos, |n| n.pos);
    let Ok(text) = std::fs::read_to_string(file) else {
        r.error(
            pos,
            Kind::InvalidValue,
            format!("the callable's file `{}` does not exist", file.display()),
        )
        .hint = Some("write its path from the DAG file's folder, or `$CONFIG_ROOT_DIR/…`".into());
        return;
    };
    let Some(name) = name.filter(|n| !n.contains("{{")) else {
        return;
    };
    let defines = text.lines().any(|line| {
        let line = line.trim_start();
        let line = line.strip_prefix("async ").unwrap_or(line);
        let rest = line
            .strip_prefix("def ")
            .or_else(|| line.strip_prefix("class "))
            .unwrap_or(line);
        rest.strip_prefix(name).is_some_and(|after| {
            let after = after.trim_start();
            after.starts_with('(') || after.starts_with(':') || after.starts_with('=')
        })
    });
    if !defines {
        r.error(
            pos,
            Kind::InvalidValue,
            format!("`{}` defines no `{name}`", file.display()),
        )
        .hint = Some(format!(
            "define `def {name}(…)` there, or name the function it defines"
        ));
    }
}

/// Reports a Python that cannot be found: the task's `python:`, else `DAGCTL_PYTHON`, else
/// `python3` on `PATH`.
pub(super) fn check_interpreter(
    r: &mut Reader<'_>,
    node: &Node,
    args: &serde_json::Map<String, serde_json::Value>,
) {
    let named = args.get("python").and_then(|p| p.as_str());
    if named.is_some_and(|p| p.contains("{{")) {
        return;
    }
    let python = python_interpreter(named);
    if program_exists(&python, None) {
        return;
    }
    let pos = node
        .get("python")
        .or_else(|| node.get("operator"))
        .or_else(|| node.get("decorator"))
        .map_or(node.pos, |n| n.pos);
    r.error(
        pos,
        Kind::InvalidValue,
        format!("the task runs Python `{python}`, which is not found here"),
    )
    .hint = Some(format!(
        "install Python, or set `python:` on the task (or {PYTHON_ENV}) to an interpreter"
    ));
}
