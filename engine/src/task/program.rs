//! The programs tasks start: whether one can be found, and which Python a Python task runs
//! with (one answer for the loader, which reports a missing one, and the operator).

/// The environment variable naming the Python to use when a task names none.
pub const PYTHON_ENV: &str = "DAGCTL_PYTHON";

/// The Python a task runs with: `named` (its `python:`), else `DAGCTL_PYTHON`, else `python3`.
pub fn python_interpreter(named: Option<&str>) -> String {
    named
        .map(str::to_string)
        .or_else(|| std::env::var(PYTHON_ENV).ok().filter(|p| !p.is_empty()))
        .unwrap_or_else(|| "python3".to_string())
}

/// Whether `program` names an executable file, itself (a path) or in `PATH` (`path`, else
/// dagctl's).
pub fn program_exists(program: &str, path: Option<&String>) -> bool {
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
