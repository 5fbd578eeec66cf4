//! The `python` operator: a Python callable, run in a subprocess of the user's Python.
//!
//! Airflow's `PythonOperator` (and dag-factory's `python_callable_file` +
//! `python_callable_name`) map onto it. dagctl embeds no interpreter: each try starts the
//! user's Python (`python:` on the task, else `DAGCTL_PYTHON`, else `python3` on `PATH`) with
//! a small runner dagctl ships (`python/runner.py`; no `airflow` package needed), which
//! imports the callable with the DAG's folder first on `sys.path`, passes `op_args`,
//! `op_kwargs` and Airflow's context as Airflow passes it (only the names the function
//! accepts, or all of them to `**kwargs`), and reports the return value, which becomes the
//! task's XCom. The process is handled as a `command` task's: its prints go to the try's log
//! (masked), a timeout or a cancellation kills its process group, it dies with its worker; an
//! exception fails the try with the traceback in the log and its last line as the error.
//!
//! The same operator in two more [`Mode`]s: `python_branch` (`BranchPythonOperator`,
//! `@task.branch`: the returned task ids run, the other direct downstream tasks are skipped)
//! and `python_short_circuit` (`ShortCircuitOperator`, `@task.short_circuit`: a false value
//! skips what follows).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use dagctl_engine::{
    ArgsError, ArgsProblem, Operator, TaskContext, TaskError, TaskOutcome, parse_args,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::process::{self, Launch};
use dagctl_engine::builtin::follow_branch;
use dagctl_engine::program::{PYTHON_ENV, program_exists, python_interpreter};

/// The runner each try starts (`python -c RUNNER REQUEST RESULT`).
const RUNNER: &str = include_str!("runner.py");

/// The arguments the operator itself takes (a decorated function's own arguments are the
/// others).
const OWN: &[&str] = &[
    "python_callable",
    "python_callable_file",
    "python_callable_name",
    "op_args",
    "op_kwargs",
    "templates_dict",
    "show_return_value_in_logs",
    "multiple_outputs",
    "ignore_downstream_trigger_rules",
    "python",
    "python_path",
    "env",
    "params",
    "callback",
    "decorated",
    "xcom_args",
];

/// Arguments of the `python` operator.
#[derive(Debug, Clone, Deserialize)]
pub struct PythonArgs {
    /// The callable as an import path, `package.module.function`.
    #[serde(default)]
    pub python_callable: Option<String>,
    /// dag-factory's form: the file that defines the callable...
    #[serde(default)]
    pub python_callable_file: Option<String>,
    /// ...and its name there.
    #[serde(default)]
    pub python_callable_name: Option<String>,
    /// Positional arguments (templated).
    #[serde(default)]
    pub op_args: Vec<Value>,
    /// Keyword arguments (templated); they override context names.
    #[serde(default)]
    pub op_kwargs: Map<String, Value>,
    /// Passed in the context as `templates_dict` (templated).
    #[serde(default)]
    pub templates_dict: Option<Map<String, Value>>,
    /// Whether the return value is printed in the log (`true`, as Airflow).
    #[serde(default = "default_true")]
    pub show_return_value_in_logs: bool,
    /// The Python interpreter (a path, or a name looked up in `PATH`).
    #[serde(default)]
    pub python: Option<String>,
    /// Folders put first on `sys.path` (the loader adds the DAG file's folder and the DAG
    /// folder).
    #[serde(default)]
    pub python_path: Vec<String>,
    /// Extra environment variables.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// A dict returned is also pushed key by key, each key an XCom of its own.
    #[serde(default)]
    pub multiple_outputs: bool,
    /// A short circuit skips every downstream task whatever its trigger rule (`true`, as
    /// Airflow), else only the direct ones, the others following their trigger rules.
    #[serde(default = "default_true")]
    pub ignore_downstream_trigger_rules: bool,
    /// The task is a TaskFlow function (`decorator: airflow.decorators.task`): every other
    /// key is one of its arguments (set by the loader).
    #[serde(default)]
    pub decorated: bool,
    /// Arguments that take an upstream task's XCom (`number: +some_number`, `value:
    /// +collect['key1']`), by argument: (task, key) (set by the loader).
    #[serde(default)]
    pub xcom_args: BTreeMap<String, (String, String)>,
    /// The task's own params (Airflow's operator `params`): over the DAG's, under the run's
    /// conf.
    #[serde(default)]
    pub params: Map<String, Value>,
    /// The callable is a callback (`on_failure_callback: module.function`): called with
    /// Airflow's context as its one positional argument, then `op_kwargs` (set by the loader).
    #[serde(default)]
    pub callback: bool,
    /// A decorated function's arguments (any other key).
    #[serde(flatten)]
    pub kwargs: Map<String, Value>,
}

fn default_true() -> bool {
    true
}

/// What the runner imports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Callable {
    /// A module imported from `sys.path`, then a name in it.
    Module {
        /// The module (`package.module`).
        module: String,
        /// The callable's name in it.
        name: String,
    },
    /// A file loaded as a module, then a name in it.
    File {
        /// The file.
        file: String,
        /// The callable's name in it.
        name: String,
    },
}

impl PythonArgs {
    /// Reads and checks the arguments.
    ///
    /// # Errors
    /// Unknown or mistyped arguments, no callable or two, an import path without a module.
    pub fn from_json(args: &Value) -> Result<PythonArgs, ArgsError> {
        let a: PythonArgs = parse_args(args)?;
        if !a.decorated
            && let Some(name) = a.kwargs.keys().next()
        {
            let mut e = ArgsError::at(name, "");
            e.problem = ArgsProblem::Unknown {
                name: name.clone(),
                expected: OWN[..OWN.len() - 3]
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
            };
            return Err(e);
        }
        a.callable()?;
        Ok(a)
    }

    /// The callable the arguments name.
    ///
    /// # Errors
    /// None named, both forms, or a path without a module.
    pub fn callable(&self) -> Result<Callable, ArgsError> {
        match (
            &self.python_callable,
            &self.python_callable_file,
            &self.python_callable_name,
        ) {
            (Some(path), None, None) => {
                let (module, name) = path.rsplit_once('.').ok_or_else(|| {
                    ArgsError::at(
                        "python_callable",
                        format!(
                            "`{path}` names no module: write `module.function` (a file \
                             `module.py` in the DAG folder), or give `python_callable_file` \
                             and `python_callable_name`"
                        ),
                    )
                })?;
                Ok(Callable::Module {
                    module: module.to_string(),
                    name: name.to_string(),
                })
            }
            (None, Some(file), Some(name)) => Ok(Callable::File {
                file: file.clone(),
                name: name.clone(),
            }),
            (None, Some(_), None) => Err(ArgsError {
                path: vec![],
                problem: ArgsProblem::Missing {
                    name: "python_callable_name".into(),
                },
            }),
            (None, None, Some(_)) => Err(ArgsError {
                path: vec![],
                problem: ArgsProblem::Missing {
                    name: "python_callable_file".into(),
                },
            }),
            (None, None, None) => Err(ArgsError {
                path: vec![],
                problem: ArgsProblem::Missing {
                    name: "python_callable".into(),
                },
            }),
            (Some(_), _, _) => Err(ArgsError::at(
                "python_callable",
                "give either `python_callable` or `python_callable_file` with \
                 `python_callable_name`, not both",
            )),
        }
    }

    /// The interpreter: the task's `python`, else `DAGCTL_PYTHON`, else `python3`.
    pub fn interpreter(&self) -> String {
        python_interpreter(self.python.as_deref())
    }
}

/// Runs a Python callable in a subprocess; see the module docs. Its [`Mode`] says what the
/// return value decides.
#[derive(Debug, Clone, Copy, Default)]
pub struct Python {
    mode: Mode,
}

/// What a Python callable's return value decides.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Mode {
    /// Nothing: it is the task's XCom (`python`, Airflow's `PythonOperator` and `@task`).
    #[default]
    Call,
    /// The direct downstream task id(s) to follow, the others skipped (`python_branch`,
    /// Airflow's `BranchPythonOperator` and `@task.branch`).
    Branch,
    /// Whether downstream tasks run: a false value skips them (`python_short_circuit`,
    /// Airflow's `ShortCircuitOperator` and `@task.short_circuit`).
    ShortCircuit,
}

impl Python {
    /// The operator of `mode`.
    pub const fn new(mode: Mode) -> Python {
        Python { mode }
    }

    /// The try's outcome once the callable returned `value` (`truthy` as Python reads it).
    fn outcome(
        &self,
        ctx: &TaskContext,
        a: &PythonArgs,
        value: Value,
        truthy: bool,
    ) -> Result<TaskOutcome, TaskError> {
        match self.mode {
            Mode::Call => Ok(TaskOutcome::Success((!value.is_null()).then_some(value))),
            Mode::Branch => {
                let chosen = match &value {
                    Value::Null => Vec::new(),
                    Value::String(id) => vec![id.clone()],
                    Value::Array(ids) => ids
                        .iter()
                        .map(|v| v.as_str().map(str::to_string).ok_or(v))
                        .collect::<Result<_, _>>()
                        .map_err(|v| {
                            TaskError::fatal(format!(
                                "the branch callable returned {v} among its task ids: return a \
                                 task id or a list of them"
                            ))
                        })?,
                    other => {
                        return Err(TaskError::fatal(format!(
                            "the branch callable returned {other}: return a task id or a list \
                             of them"
                        )));
                    }
                };
                if !value.is_null() {
                    ctx.xcom_push("return_value", value);
                }
                follow_branch(ctx, chosen)
            }
            Mode::ShortCircuit if truthy => {
                ctx.log(format!(
                    "the condition is true ({value}): downstream tasks run"
                ));
                Ok(TaskOutcome::Success(Some(value)))
            }
            Mode::ShortCircuit => {
                ctx.log(format!(
                    "the condition is false ({value}): skipping downstream tasks"
                ));
                Ok(TaskOutcome::ShortCircuit {
                    skip_all_downstream: a.ignore_downstream_trigger_rules,
                })
            }
        }
    }
}

/// A folder of its own for a try's request and result files, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> std::io::Result<Scratch> {
        use std::os::unix::fs::DirBuilderExt;
        let dir = std::env::temp_dir().join(format!(
            "dagctl-python-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
        Ok(Scratch(dir))
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What the runner is told: the callable, its arguments, the context and the run's XComs.
fn request(ctx: &TaskContext, a: &PythonArgs, xcoms: Vec<(String, String, Value)>) -> Value {
    let callable = match a.callable() {
        Ok(Callable::Module { module, name }) => json!({"module": module, "name": name}),
        Ok(Callable::File { file, name }) => json!({"file": file, "name": name}),
        Err(_) => Value::Null,
    };
    // The task's params over the DAG's; a value the run's conf gives stays the conf's.
    let mut params = ctx.params.clone();
    for (k, v) in &a.params {
        if ctx.conf.get(k).is_none() {
            params.insert(k.clone(), v.clone());
        }
    }
    // A decorated function's arguments are keyword arguments like `op_kwargs`.
    let mut kwargs = a.kwargs.clone();
    kwargs.extend(a.op_kwargs.clone());
    let mut req = json!({
        "callable": callable,
        "path": a.python_path,
        "op_args": a.op_args,
        "op_kwargs": kwargs,
        "xcom_args": a.xcom_args,
        "multiple_outputs": a.multiple_outputs,
        "show_return_value_in_logs": a.show_return_value_in_logs,
        "context": {
            "dag_id": ctx.dag_id,
            "task_id": ctx.task_id,
            "run_id": ctx.run_id,
            "try_number": ctx.try_number,
            "max_tries": ctx.max_tries,
            "logical_date": ctx.logical_date.to_rfc3339(),
            "data_interval_start": ctx.data_interval_start.to_rfc3339(),
            "data_interval_end": ctx.data_interval_end.to_rfc3339(),
            "params": params,
            "conf": ctx.conf,
        },
        "xcoms": xcoms.into_iter().map(|(t, k, v)| json!([t, k, v])).collect::<Vec<_>>(),
    });
    if let Some(t) = &a.templates_dict {
        req["templates_dict"] = Value::Object(t.clone());
    }
    req
}

#[async_trait]
impl Operator for Python {
    fn name(&self) -> &str {
        match self.mode {
            Mode::Call => "python",
            Mode::Branch => "python_branch",
            Mode::ShortCircuit => "python_short_circuit",
        }
    }

    fn summary(&self) -> &str {
        match self.mode {
            Mode::Call => {
                "runs a Python callable (Airflow's PythonOperator, `@task`) in a subprocess of \
                 your Python; its return value is the XCom"
            }
            Mode::Branch => {
                "runs a Python callable (BranchPythonOperator, `@task.branch`); the downstream \
                 task id(s) it returns run, the others are skipped"
            }
            Mode::ShortCircuit => {
                "runs a Python callable (ShortCircuitOperator, `@task.short_circuit`); a false \
                 value skips everything downstream"
            }
        }
    }

    fn check_args(&self, args: &Value) -> Result<(), ArgsError> {
        PythonArgs::from_json(args).map(drop)
    }

    async fn execute(&self, ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
        let a = PythonArgs::from_json(&ctx.args)
            .map_err(|e| TaskError::fatal(format!("bad arguments after rendering: {e}")))?;
        let python = a.interpreter();
        if !program_exists(&python, a.env.get("PATH")) {
            return Err(TaskError::fatal(format!(
                "cannot start Python `{python}`: not found (set `python:` on the task or in \
                 `default_args`, or {PYTHON_ENV}, to an interpreter)"
            )));
        }
        if let Ok(Callable::File { file, .. }) = a.callable()
            && !Path::new(&file).is_file()
        {
            return Err(TaskError::fatal(format!(
                "python_callable_file `{file}` does not exist"
            )));
        }
        let xcoms = ctx.run_xcoms().await?;
        // A failure callback's context holds the error that fired it.
        let exception = if a.callback {
            ctx.last_error(&ctx.task_id).await.ok().flatten()
        } else {
            None
        };
        let scratch = Scratch::new()
            .map_err(|e| TaskError::retryable(format!("cannot make a temporary folder: {e}")))?;
        let (req_path, result_path) = (scratch.path("request.json"), scratch.path("result.json"));
        let mut req = request(ctx, &a, xcoms);
        if a.callback {
            req["callback"] = Value::Bool(true);
            req["context"]["exception"] = exception.map_or(Value::Null, Value::String);
        }
        let text = serde_json::to_vec(&req)
            .map_err(|e| TaskError::fatal(format!("cannot write the request: {e}")))?;
        std::fs::write(&req_path, text)
            .map_err(|e| TaskError::retryable(format!("cannot write the request: {e}")))?;
        let mut env = a.env.clone();
        env.insert("PYTHONUNBUFFERED".into(), "1".into());
        let args = vec![
            "-c".to_string(),
            RUNNER.to_string(),
            req_path.display().to_string(),
            result_path.display().to_string(),
        ];
        let ended = process::run(
            ctx,
            Launch {
                program: &python,
                args: &args,
                shown: &python,
                env: &env,
                append_env: true,
                cwd: None,
            },
        )
        .await?;
        let result: Option<Value> = std::fs::read(&result_path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        match result {
            Some(r) if ended.status.success() => {
                if let Some(pushed) = r["pushed"].as_array() {
                    for p in pushed {
                        if let (Some(key), Some(value)) = (p[0].as_str(), p.get(1)) {
                            ctx.xcom_push(key, value.clone());
                        }
                    }
                }
                let value = r.get("return_value").cloned().unwrap_or(Value::Null);
                self.outcome(ctx, &a, value, r["truthy"].as_bool().unwrap_or(false))
            }
            Some(r) if r["error"].is_string() => Err(TaskError::retryable(
                r["error"].as_str().unwrap_or_default().to_string(),
            )),
            _ => Err(TaskError::retryable(format!(
                "`{python}` {} before the callable returned",
                process::describe(ended.status)
            ))),
        }
    }
}
