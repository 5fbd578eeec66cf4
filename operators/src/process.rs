//! A task's child process, as the `command` and `python` operators run it: its own process
//! group, killed with the try (timeout, cancellation) and with its worker (a parent-death
//! signal where `setpriv` exists), its stdout and stderr streamed line by line into the try's
//! log.

use std::collections::BTreeMap;
use std::process::{ExitStatus, Stdio};

use dagctl_engine::program::program_exists;
use dagctl_engine::{TaskContext, TaskError};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

/// The longest line a log keeps whole: a longer one is cut there, saying by how much, so one
/// endless line can neither exhaust memory nor the store.
const MAX_LINE: usize = 64 * 1024;

/// What to start.
pub(crate) struct Launch<'a> {
    /// The program (a path, or a name looked up in `PATH`).
    pub program: &'a str,
    /// Its arguments.
    pub args: &'a [String],
    /// How errors name it.
    pub shown: &'a str,
    /// Extra environment variables.
    pub env: &'a BTreeMap<String, String>,
    /// Whether the child inherits the worker's environment.
    pub append_env: bool,
    /// Its working directory.
    pub cwd: Option<&'a str>,
}

/// How a child ended.
pub(crate) struct Ended {
    /// Its exit status.
    pub status: ExitStatus,
    /// The last non-empty line it printed on stdout.
    pub last_line: Option<String>,
}

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

/// Starts `launch` for the try of `ctx` and waits for it, its output in the try's log.
///
/// # Errors
/// The program cannot start (not found: fatal; else retryable), or the try was cancelled.
pub(crate) async fn run(ctx: &TaskContext, launch: Launch<'_>) -> Result<Ended, TaskError> {
    let Launch {
        program,
        args,
        shown,
        env,
        append_env,
        cwd,
    } = launch;
    // Through the wrapper a missing program would only be an exit code: say it plainly.
    if death_signal_wrapper().is_some() && !program_exists(program, env.get("PATH")) {
        return Err(TaskError::fatal(format!(
            "cannot start `{shown}`: not found (is it installed and in PATH?)"
        )));
    }
    let mut cmd = match death_signal_wrapper() {
        // The process dies with its worker: a worker killed with SIGKILL leaves no try
        // running behind it, so the try that replaces it never runs beside it.
        Some(setpriv) => {
            let mut c = tokio::process::Command::new(setpriv);
            c.args(["--pdeathsig", "KILL", "--", program]).args(args);
            c
        }
        None => {
            let mut c = tokio::process::Command::new(program);
            c.args(args);
            c
        }
    };
    if !append_env {
        cmd.env_clear();
    }
    cmd.env("DAGCTL_DAG_ID", &ctx.dag_id)
        .env("DAGCTL_TASK_ID", &ctx.task_id)
        .env("DAGCTL_RUN_ID", &ctx.run_id)
        .env("DAGCTL_TRY_NUMBER", ctx.try_number.to_string())
        .env("DAGCTL_DS", ctx.logical_date.format("%Y-%m-%d").to_string())
        .env("DAGCTL_LOGICAL_DATE", ctx.logical_date.to_rfc3339())
        .envs(env);
    if let Some(cwd) = cwd {
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
    // child exits, its group is killed so that background leftovers close the pipes too; if
    // this future is dropped (timeout), the guard kills the group as well.
    let wait = async move {
        let status = tokio::select! {
            status = child.wait() => status.map_err(|e| TaskError::retryable(format!("waiting for the process: {e}"))),
            _ = ctx.cancel.cancelled() => Err(TaskError::retryable("cancelled")),
        };
        drop(group);
        status
    };
    let (status, last_line, ()) = tokio::join!(wait, out, err);
    Ok(Ended {
        status: status?,
        last_line,
    })
}

/// Streams a pipe into the try's log, line by line; returns the last non-empty line.
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

/// How a child ended, in words.
pub(crate) fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(sig)) => format!("was killed by signal {sig}"),
        _ => "ended abnormally".to_string(),
    }
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
