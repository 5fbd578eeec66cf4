//! The `command` operator: runs an external program (or a `bash_command` through bash).
//!
//! Airflow's `BashOperator` maps onto it unchanged (`bash_command`, `env`, `cwd`,
//! `append_env`). Unlike Airflow, `append_env` defaults to `true`: the task inherits the
//! worker's environment plus `env`, so `PATH` is kept; set it to `false` for Airflow's
//! behaviour (only `env`).
//!
//! Values templated into `bash_command` are shell-quoted for the place they land (bare, inside
//! double or single quotes), so a run id or a `--conf` value is one word of data, never code;
//! `{{ value | safe }}` inserts a value unquoted when it is meant to be shell syntax.

use std::collections::BTreeMap;

use async_trait::async_trait;
use dagctl_engine::{
    ArgsError, ArgsProblem, Operator, TaskContext, TaskError, TaskOutcome, parse_args,
};
use serde::{Deserialize, Deserializer};

use crate::process::{self, Launch};

/// Arguments of the `command` operator.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandArgs {
    /// The program to run (looked up in `PATH`); exclusive with `bash_command`.
    #[serde(default)]
    pub program: Option<String>,
    /// Arguments passed to `program`, each templated.
    #[serde(default, deserialize_with = "strings")]
    pub args: Vec<String>,
    /// A shell command run with `bash -c` (Airflow's `BashOperator`); exclusive with `program`.
    #[serde(default)]
    pub bash_command: Option<String>,
    /// Extra environment variables (values templated).
    #[serde(default, deserialize_with = "string_map")]
    pub env: BTreeMap<String, String>,
    /// Whether the task inherits the worker's environment (default `true`).
    #[serde(default = "default_true")]
    pub append_env: bool,
    /// Working directory.
    #[serde(default)]
    pub cwd: Option<String>,
}

fn default_true() -> bool {
    true
}

/// A scalar read as text: YAML `PORT: 5432` is the string `"5432"` in an environment.
fn scalar_text<E: serde::de::Error>(v: serde_json::Value) -> Result<String, E> {
    use serde_json::Value as J;
    match v {
        J::String(s) => Ok(s),
        J::Number(n) => Ok(n.to_string()),
        J::Bool(b) => Ok(b.to_string()),
        J::Null => Err(E::custom(
            "expected a string, number or boolean, found null",
        )),
        J::Array(_) => Err(E::custom(
            "expected a string, number or boolean, found a list",
        )),
        J::Object(_) => Err(E::custom(
            "expected a string, number or boolean, found a mapping",
        )),
    }
}

fn strings<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Vec::<serde_json::Value>::deserialize(d)?
        .into_iter()
        .map(scalar_text)
        .collect()
}

fn string_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    BTreeMap::<String, serde_json::Value>::deserialize(d)?
        .into_iter()
        .map(|(k, v)| scalar_text(v).map(|v| (k, v)))
        .collect()
}

impl CommandArgs {
    /// Reads and checks the arguments.
    ///
    /// # Errors
    /// Unknown or mistyped arguments, or not exactly one of `program` and `bash_command`.
    pub fn from_json(args: &serde_json::Value) -> Result<CommandArgs, ArgsError> {
        let a: CommandArgs = parse_args(args)?;
        match (&a.program, &a.bash_command) {
            (None, None) => Err(ArgsError {
                path: vec![],
                problem: ArgsProblem::Missing {
                    name: "program` or `bash_command".into(),
                },
            }),
            (Some(_), Some(_)) => Err(ArgsError::at(
                "bash_command",
                "give either `program` (with `args`) or `bash_command`, not both",
            )),
            (None, Some(_)) if !a.args.is_empty() => Err(ArgsError::at(
                "args",
                "`args` goes with `program`; put the arguments inside `bash_command`",
            )),
            (Some(p), None) if p.trim().is_empty() => {
                Err(ArgsError::at("program", "`program` is empty"))
            }
            _ => Ok(a),
        }
    }
}

/// Runs an external program; non-zero exit fails the task.
///
/// The child runs in its own process group, with `DAGCTL_DAG_ID`, `DAGCTL_TASK_ID`,
/// `DAGCTL_RUN_ID`, `DAGCTL_TRY_NUMBER`, `DAGCTL_DS` and `DAGCTL_LOGICAL_DATE` in its
/// environment. Its stdout and stderr go line by line into the try's log; the last line of
/// stdout becomes the XCom `return_value`, as with Airflow's `BashOperator`. When the try
/// times out or is cancelled, the whole process group is killed.
#[derive(Debug, Clone, Copy, Default)]
pub struct Command;

#[async_trait]
impl Operator for Command {
    fn name(&self) -> &str {
        "command"
    }

    fn summary(&self) -> &str {
        "runs a program (`program` + `args`) or a `bash_command`; non-zero exit fails the task"
    }

    fn check_args(&self, args: &serde_json::Value) -> Result<(), ArgsError> {
        CommandArgs::from_json(args).map(drop)
    }

    fn shell_args(&self) -> &'static [&'static str] {
        &["bash_command"]
    }

    async fn execute(&self, ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
        let a = CommandArgs::from_json(&ctx.args)
            .map_err(|e| TaskError::fatal(format!("bad arguments after rendering: {e}")))?;
        let (program, args): (&str, Vec<String>) = match (&a.program, &a.bash_command) {
            (Some(program), _) => (program, a.args.clone()),
            (None, Some(script)) => ("bash", vec!["-c".to_string(), script.clone()]),
            (None, None) => return Err(TaskError::fatal("no program or bash_command")),
        };
        let ended = process::run(
            ctx,
            Launch {
                program,
                args: &args,
                shown: program,
                env: &a.env,
                append_env: a.append_env,
                cwd: a.cwd.as_deref(),
            },
        )
        .await?;
        if ended.status.success() {
            Ok(TaskOutcome::Success(
                ended.last_line.map(serde_json::Value::String),
            ))
        } else {
            Err(TaskError::retryable(format!(
                "`{program}` {}",
                process::describe(ended.status)
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accepts_both_forms_and_scalar_env() {
        let a = CommandArgs::from_json(&json!({"program": "echo", "args": ["a", 1],
                                               "env": {"PORT": 5432}}))
        .unwrap();
        assert_eq!(a.args, ["a", "1"]);
        assert_eq!(a.env["PORT"], "5432");
        assert!(a.append_env);
        CommandArgs::from_json(&json!({"bash_command": "echo hi", "append_env": false})).unwrap();
    }

    #[test]
    fn needs_exactly_one_of_program_and_bash_command() {
        let e = CommandArgs::from_json(&json!({})).unwrap_err();
        assert!(matches!(e.problem, ArgsProblem::Missing { .. }));
        let e = CommandArgs::from_json(&json!({"program": "a", "bash_command": "b"})).unwrap_err();
        assert!(e.to_string().contains("not both"));
    }
}
