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

use std::process::{ExitStatus, Stdio};

use async_trait::async_trait;
use dagctl_engine::{
    ArgsError, ArgsProblem, Operator, TaskContext, TaskError, TaskOutcome, parse_args,
};
use serde::{Deserialize, Deserializer};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

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

/// Kills the child's process group when dropped (timeout, cancellation, or after exit, to
/// reap anything it left in the background).
struct GroupGuard(Option<u32>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pid) = self.0
            && let Ok(pid) = i32::try_from(pid)
        {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// Streams a pipe into the try's log, line by line; returns the last non-empty line.
/// The longest line a log keeps whole: a longer one is cut there, saying by how much, so one
/// endless line can neither exhaust memory nor the store.
const MAX_LINE: usize = 64 * 1024;

async fn pump<R: AsyncRead + Unpin>(ctx: &TaskContext, pipe: R) -> Option<String> {
    let mut reader = BufReader::new(pipe);
    let mut line: Vec<u8> = Vec::new();
    let mut cut = 0usize;
    let mut last = None;
    let mut emit = |line: &[u8], cut: usize| {
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end_matches(['\n', '\r']);
        if cut > 0 {
            ctx.log(format!("{text} … [{cut} more bytes of this line not kept]"));
        } else {
            ctx.log(text);
        }
        if !text.trim().is_empty() {
            last = Some(text.to_string());
        }
    };
    loop {
        let (consumed, ended) = match reader.fill_buf().await {
            Err(_) => break,
            Ok([]) => break,
            Ok(buf) => {
                let (chunk, ended) = match buf.iter().position(|b| *b == b'\n') {
                    Some(i) => (&buf[..i], true),
                    None => (buf, false),
                };
                let room = MAX_LINE.saturating_sub(line.len());
                line.extend_from_slice(&chunk[..chunk.len().min(room)]);
                cut += chunk.len().saturating_sub(room);
                (chunk.len() + usize::from(ended), ended)
            }
        };
        reader.consume(consumed);
        if ended {
            emit(&line, cut);
            line.clear();
            cut = 0;
        }
    }
    if !line.is_empty() || cut > 0 {
        emit(&line, cut);
    }
    last
}

fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(sig)) => format!("was killed by signal {sig}"),
        _ => "ended abnormally".to_string(),
    }
}

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
        let (program, args, shown): (&str, Vec<&str>, String) = match (&a.program, &a.bash_command)
        {
            (Some(program), _) => (
                program,
                a.args.iter().map(String::as_str).collect(),
                program.clone(),
            ),
            (None, Some(script)) => ("bash", vec!["-c", script], "bash".to_string()),
            (None, None) => return Err(TaskError::fatal("no program or bash_command")),
        };
        // Through the wrapper a missing program would only be an exit code: say it plainly.
        if death_signal_wrapper().is_some() && !program_exists(program, a.env.get("PATH")) {
            return Err(TaskError::fatal(format!(
                "cannot start `{shown}`: not found (is it installed and in PATH?)"
            )));
        }
        let mut cmd = match death_signal_wrapper() {
            // The process dies with its worker: a worker killed with SIGKILL leaves no try
            // running behind it, so the try that replaces it never runs beside it.
            Some(setpriv) => {
                let mut c = tokio::process::Command::new(setpriv);
                c.args(["--pdeathsig", "KILL", "--", program]).args(&args);
                c
            }
            None => {
                let mut c = tokio::process::Command::new(program);
                c.args(&args);
                c
            }
        };
        if !a.append_env {
            cmd.env_clear();
        }
        cmd.env("DAGCTL_DAG_ID", &ctx.dag_id)
            .env("DAGCTL_TASK_ID", &ctx.task_id)
            .env("DAGCTL_RUN_ID", &ctx.run_id)
            .env("DAGCTL_TRY_NUMBER", ctx.try_number.to_string())
            .env("DAGCTL_DS", ctx.logical_date.format("%Y-%m-%d").to_string())
            .env("DAGCTL_LOGICAL_DATE", ctx.logical_date.to_rfc3339())
            .envs(&a.env);
        if let Some(cwd) = &a.cwd {
            cmd.current_dir(cwd);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| {
            let msg = format!("cannot start `{shown}`: {e}");
            if e.kind() == std::io::ErrorKind::NotFound {
                TaskError::fatal(format!("{msg} (is it installed and in PATH?)"))
            } else {
                TaskError::retryable(msg)
            }
        })?;
        let group = GroupGuard(child.id());
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let out = async {
            match stdout {
                Some(p) => pump(ctx, p).await,
                None => None,
            }
        };
        let err = async {
            if let Some(p) = stderr {
                pump(ctx, p).await;
            }
        };
        // Pipes are read while waiting (a chatty child never blocks on a full pipe). Once the
        // child exits, its group is killed so that background leftovers close the pipes too;
        // if this future is dropped (timeout), the guard kills the group as well.
        let wait = async move {
            let status = tokio::select! {
                status = child.wait() => status.map_err(|e| TaskError::retryable(format!("waiting for the process: {e}"))),
                _ = ctx.cancel.cancelled() => Err(TaskError::retryable("cancelled")),
            };
            drop(group);
            status
        };
        let (status, last, ()) = tokio::join!(wait, out, err);
        let status = status?;
        if status.success() {
            Ok(TaskOutcome::Success(last.map(serde_json::Value::String)))
        } else {
            Err(TaskError::retryable(format!(
                "`{shown}` {}",
                describe(status)
            )))
        }
    }
}

/// Whether `program` names an executable file, itself or in `PATH` (the task's, else
/// dagctl's).
fn program_exists(program: &str, path: Option<&String>) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let runnable = |p: &std::path::Path| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        return runnable(std::path::Path::new(program));
    }
    let path = path
        .cloned()
        .or_else(|| std::env::var("PATH").ok())
        .unwrap_or_default();
    std::env::split_paths(&path).any(|dir| runnable(&dir.join(program)))
}

/// `setpriv` (util-linux), which sets the parent-death signal of the process it starts; none
/// where it is missing.
fn death_signal_wrapper() -> Option<&'static std::path::Path> {
    static FOUND: std::sync::OnceLock<Option<std::path::PathBuf>> = std::sync::OnceLock::new();
    FOUND
        .get_or_init(|| {
            ["/usr/bin/setpriv", "/bin/setpriv", "/usr/sbin/setpriv"]
                .iter()
                .map(std::path::PathBuf::from)
                .find(|p| p.is_file())
        })
        .as_deref()
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
