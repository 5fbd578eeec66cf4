//! Tries in a process of their own, to tell a task that kills its process from a process
//! killed from outside.
//!
//! When the process running a try dies (`kill -9`, a machine lost, the OOM killer), the try
//! is orphaned: its task runs again without using a retry, since nothing says the task was at
//! fault. Its next try then runs *isolated*: in a child process that runs that try alone and
//! dies with its driver. If that child dies by a signal while its driver lives, the task
//! killed its own process (or ran it out of memory): the try fails, as Airflow fails a task
//! whose process exits with `-9`, and the task's retries bound how often it happens. A driver
//! killed from outside kills its child with it, which is an orphan again, never a failure:
//! deaths from outside never use up a task's tries.
//!
//! The child is started as `program args… DAG RUN TASK TRY` (the `dagctl` binary: `dagctl
//! tasks run-isolated`) and calls [`super::Executor::run_isolated_try`]. It writes its log as
//! lines `L <text>`, then one line `O <outcome>` (the outcome as a worker records it), on
//! stdout; its stdin is a pipe its driver never writes to, so the child sees its driver gone
//! when it reads the end of it.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use crate::context::{LogBuffer, Pending, TaskError, TaskOutcome};
use crate::store::RunKey;

use super::sharing::{decode, encode};
use super::tries::execute_try;
use super::{Executor, RunError};

/// How often the child sends the log lines its try wrote.
const LOG_EVERY: Duration = Duration::from_millis(200);

/// How to start a process that runs one try alone (see the module's documentation): the
/// program is run as `program args… DAG RUN TASK TRY`, with `env` added to the environment
/// it inherits, and must call [`super::Executor::run_isolated_try`] (through
/// [`crate::Engine::run_isolated_try`]) with those four values, writing what it returns to
/// stdout. Without one, an engine cannot tell the two kinds of deaths apart and a task
/// orphaned three times fails instead.
#[derive(Debug, Clone)]
pub struct Isolation {
    /// The program (for the CLI, the `dagctl` binary itself).
    pub program: PathBuf,
    /// The arguments before the try's four.
    pub args: Vec<OsString>,
    /// Variables added to the environment it inherits (the CLI passes its home, DAG folder
    /// and store URL this way: a store URL may hold a password, which arguments would show
    /// to every user of the machine).
    pub env: Vec<(OsString, OsString)>,
}

/// The try of `task` in `run` (try `try_number`), run in a child process; its log lines go
/// to `log`. A child killed by a signal fails the try (its task killed it); one that cannot
/// be started or ends without an outcome fails it as retryable.
pub(super) async fn run_isolated(
    iso: &Isolation,
    run: &RunKey,
    task: &str,
    try_number: u32,
    log: &LogBuffer,
) -> (Result<TaskOutcome, TaskError>, Pending, Duration) {
    let start = tokio::time::Instant::now();
    let failed = |message: String| (Err(TaskError::retryable(message)), Pending::default());
    let mut cmd = tokio::process::Command::new(&iso.program);
    cmd.args(&iso.args)
        .args([&run.dag_id, &run.run_id, task])
        .arg(try_number.to_string())
        .envs(iso.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // The try is cut (timeout, cancellation, its driver stopping): so is its process.
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let (r, p) = failed(format!(
                "cannot start the process that runs this try alone ({}): {e}",
                iso.program.display()
            ));
            return (r, p, start.elapsed());
        }
    };
    // Held open for the child's life: its end tells the child this driver is gone.
    let _stdin = child.stdin.take();
    // Read beside stdout (a full pipe would stall the child); its last line says why a
    // child that failed did.
    let stderr = child.stderr.take().map(|mut e| {
        tokio::spawn(async move {
            let mut text = String::new();
            let _ = e.read_to_string(&mut text).await;
            text
        })
    });
    let mut outcome = None;
    if let Some(stdout) = child.stdout.take() {
        let mut lines = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(text) = line.strip_prefix("L ") {
                log.line(text);
            } else if let Some(json) = line.strip_prefix("O ") {
                outcome = serde_json::from_str::<serde_json::Value>(json).ok();
            }
        }
    }
    let errors = match stderr {
        Some(h) => h.await.unwrap_or_default(),
        None => String::new(),
    };
    let status = child.wait().await;
    let (result, pending) = match (status, outcome) {
        (Ok(s), Some(outcome)) if s.success() => {
            let (result, pending, _) = decode(&outcome);
            (result, pending)
        }
        (Ok(s), _) => failed(ended(s, &errors)),
        (Err(e), _) => failed(format!("the process that ran this try alone was lost: {e}")),
    };
    (result, pending, start.elapsed())
}

/// Why a child ended without an outcome, in words.
fn ended(status: std::process::ExitStatus, errors: &str) -> String {
    use std::os::unix::process::ExitStatusExt;
    let why = errors.trim().lines().last().unwrap_or_default();
    match status.signal() {
        Some(sig) => format!(
            "the process that ran this try alone was killed by signal {sig}{} while its \
             driver lived: the task killed it or ran it out of memory (it ran alone because \
             an earlier try's process died under it)",
            match sig {
                9 => " (SIGKILL)",
                6 => " (SIGABRT)",
                11 => " (SIGSEGV)",
                _ => "",
            }
        ),
        None => format!(
            "the process that ran this try alone exited with code {} without an outcome{}",
            status.code().unwrap_or(-1),
            if why.is_empty() {
                String::new()
            } else {
                format!(": {why}")
            }
        ),
    }
}

impl Executor {
    /// Makes this engine run a task's try in a process of its own after an earlier try of
    /// the task was orphaned (see [`Isolation`]). Set once; a second call is ignored.
    pub fn isolate_with(&self, isolation: Isolation) {
        let _ = self.isolation.set(isolation);
    }

    /// The child's side of an isolated try: runs try `try_number` of `task_id` in run
    /// `run_id` of `dag_id` (claimed `running` by its driver, which records its end) and
    /// writes its log lines and then its outcome to `out`, in the form its driver reads.
    /// Returns early, with nothing written past the log, if stdin ends (its driver is gone;
    /// the try is cut as its driver's death cuts any try).
    ///
    /// # Errors
    /// The DAG, run or task instance is unknown, the store fails, or `out` cannot be written.
    pub async fn run_isolated_try(
        &self,
        dag_id: &str,
        run_id: &str,
        task_id: &str,
        try_number: u32,
        out: &mut (dyn Write + Send),
    ) -> Result<(), RunError> {
        let key = RunKey {
            dag_id: dag_id.to_string(),
            run_id: run_id.to_string(),
        };
        let not_found = || RunError::NotFound {
            dag_id: dag_id.to_string(),
            run_id: run_id.to_string(),
        };
        let dag = self.runs.dag(dag_id).map_err(|_| not_found())?;
        let run = self.store.run(&key).await?.ok_or_else(not_found)?;
        let tis = self.store.task_instances(&key).await?;
        let ti = tis.iter().find(|t| t.task_id == task_id);
        let idx = dag
            .graph
            .index_of(crate::dag::mapping::task_of_instance(task_id));
        let (Some(ti), Some(idx)) = (ti, idx) else {
            return Err(RunError::NoTaskInstance {
                dag_id: dag_id.to_string(),
                run_id: run_id.to_string(),
                task_id: task_id.to_string(),
            });
        };
        let task = &dag.tasks[idx];
        let args = crate::dag::mapping::instance_args(&task.args, ti.mapped_args.as_ref());
        let masker = Arc::new(self.masker().await.with_conf(&run.conf));
        let log = LogBuffer::masked(Arc::clone(&masker));
        let ctx = self.context(
            &dag,
            &run,
            Some((idx, task_id)),
            try_number,
            ti.max_tries,
            ti.start_date,
            args,
            log.clone(),
        );
        let operator = self.registry.get(&task.operator).cloned();
        let body = execute_try(
            operator,
            &self.renderer,
            ctx,
            run.run_type.as_str(),
            task.policy.execution_timeout,
            &masker,
        );
        tokio::pin!(body);
        // A thread of its own, not the runtime's blocking pool: a read of stdin cannot be
        // cancelled, and the runtime would wait for it when this process ends.
        let (gone, driver_gone) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let mut stdin = std::io::stdin().lock();
            let mut buf = [0u8; 64];
            while matches!(std::io::Read::read(&mut stdin, &mut buf), Ok(n) if n > 0) {}
            let _ = gone.send(());
        });
        tokio::pin!(driver_gone);
        let mut every = tokio::time::interval(LOG_EVERY);
        let io = RunError::Output;
        let (result, pending, duration) = loop {
            tokio::select! {
                done = &mut body => break done,
                _ = &mut driver_gone => return Ok(()),
                _ = every.tick() => {
                    if let Some((_, text)) = log.take() {
                        write_log(out, &text).map_err(io)?;
                    }
                }
            }
        };
        if let Some((_, text)) = log.finish() {
            write_log(out, &text).map_err(io)?;
        }
        let outcome = encode(&result, &pending, duration);
        writeln!(out, "O {outcome}")
            .and_then(|()| out.flush())
            .map_err(io)
    }
}

/// Log text as the child sends it: one `L ` line per line.
fn write_log(out: &mut (dyn Write + Send), text: &str) -> std::io::Result<()> {
    for line in text.lines() {
        writeln!(out, "L {line}")?;
    }
    out.flush()
}
