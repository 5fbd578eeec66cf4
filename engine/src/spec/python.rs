//! Python callables on tasks: Airflow's `PythonOperator` with `python_callable`, and
//! dag-factory's `python_callable_file` + `python_callable_name`, kept as arguments of the
//! `python` operator, which runs them in a subprocess of the user's Python. The loader finds
//! the file from the DAG file (`$VARS` expanded, `$CONFIG_ROOT_DIR` the DAG folder when unset;
//! a relative path read from the DAG file's folder) and puts the DAG file's folder and the DAG
//! folder first on the callable's `sys.path`, as Airflow has the DAG folder there.

use crate::diagnostic::Kind;
use crate::yaml::Node;

use super::LoadEnv;
use super::airflow::{self, OperatorName};
use super::reader::Reader;

/// The keys that name a Python callable.
pub(super) const KEYS: &[&str] = &[
    "python_callable",
    "python_callable_name",
    "python_callable_file",
];

/// The operator that runs Python callables.
const OPERATOR: &str = "python";

/// Whether the task of `node` runs its Python callable with the `python` operator (else its
/// callable keys are refused).
pub(super) fn runs_python(node: &Node, env: LoadEnv<'_>) -> bool {
    node.get("operator")
        .and_then(Node::as_scalar)
        .is_some_and(|name| {
            matches!(airflow::resolve(name, env.registry), OperatorName::Known(op) if op == OPERATOR)
        })
}

/// Completes the arguments of a `python` task: its callable file found, and the folders put
/// first on `sys.path` (unless the task names them).
pub(super) fn prepare(
    r: &mut Reader<'_>,
    env: LoadEnv<'_>,
    node: &Node,
    args: &mut serde_json::Map<String, serde_json::Value>,
) {
    let file_folder = r.file.parent().unwrap_or(std::path::Path::new("."));
    let file_folder =
        std::path::absolute(file_folder).unwrap_or_else(|_| file_folder.to_path_buf());
    if let Some(serde_json::Value::String(text)) = args.get("python_callable_file")
        && !text.contains("{{")
    {
        match super::datasets::expand_vars(text, env) {
            Ok(expanded) => {
                let full = file_folder.join(expanded);
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
}
