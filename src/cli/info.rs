//! `dagctl info`: what this dagctl would use — version, home, DAG folder, state store, data
//! location, Fernet key source, operators — without a secret (Airflow's `airflow info`).

use std::process::ExitCode;

use clap::Args;
use dagctl::engine::Store;
use dagctl::engine::secrets::keyring::{KEY_ENV, KEY_FILE};
use dagctl::engine::store::redact_url;

use super::{Global, print_json};

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Print JSON instead of lines.
    #[arg(long)]
    json: bool,
}

/// Where the Fernet keys come from, in words (never a key).
fn key_source(store_url: &str) -> String {
    if let Ok(keys) = std::env::var(KEY_ENV) {
        let n = keys.split(',').filter(|k| !k.trim().is_empty()).count();
        return format!("{KEY_ENV} ({n} key(s))");
    }
    match super::sqlite_path(store_url) {
        Some(path) => {
            let file = path
                .parent()
                .unwrap_or(std::path::Path::new("."))
                .join(KEY_FILE);
            if file.exists() {
                format!("key file {}", file.display())
            } else {
                format!("none yet: {} is made on the first secret", file.display())
            }
        }
        None => format!("none: secrets are refused until {KEY_ENV} is set"),
    }
}

pub async fn run(g: &Global, a: InfoArgs) -> anyhow::Result<ExitCode> {
    let url = g.store_url();
    let store = match g.store().await {
        Ok(store) => store.variables().await.map(|_| "reachable".to_string()),
        Err(e) => Ok(format!("unreachable: {e}")),
    }
    .unwrap_or_else(|e| format!("unreadable: {e}"));
    let (dags, problems) = match g.engine().await {
        Ok(engine) => (
            engine.dags().len().to_string(),
            engine.diagnostics().error_count(),
        ),
        Err(_) => ("?".to_string(), 0),
    };
    let data = match dagctl::operators::storage::default_conn() {
        Some(conn) => format!("connection `{conn}` (DAGCTL_DATA_CONN)"),
        None => redact_url(&g.data_url()),
    };
    let cwd = |p: &std::path::Path| {
        std::path::absolute(p)
            .unwrap_or_else(|_| p.to_path_buf())
            .display()
            .to_string()
    };
    let fields = [
        ("version", env!("CARGO_PKG_VERSION").to_string()),
        ("home", cwd(&g.home)),
        ("dags_folder", cwd(&g.dags_folder)),
        (
            "dags",
            format!("{dags} loaded, {problems} file problem(s) (`dagctl validate`)"),
        ),
        ("store", redact_url(&url)),
        ("store_status", store.clone()),
        ("data", data),
        ("fernet_key", key_source(&url)),
        (
            "operators",
            dagctl::shipped_operators().names().count().to_string(),
        ),
        ("python", python()),
        (
            "platform",
            format!(
                "{} {}, {} CPU(s)",
                std::env::consts::OS,
                std::env::consts::ARCH,
                std::thread::available_parallelism().map_or(1, |n| n.get())
            ),
        ),
    ];
    if a.json {
        let map: serde_json::Map<String, serde_json::Value> = fields
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.clone())))
            .collect();
        print_json(&serde_json::Value::Object(map))?;
    } else {
        for (k, v) in &fields {
            println!("{k:<13} {v}");
        }
    }
    Ok(if store == "reachable" {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The Python that Python tasks run with when they name none, and whether it is there.
fn python() -> String {
    use dagctl::engine::program::{PYTHON_ENV, program_exists, python_interpreter};
    let python = python_interpreter(None);
    let from = if std::env::var_os(PYTHON_ENV).is_some_and(|v| !v.is_empty()) {
        PYTHON_ENV.to_string()
    } else {
        format!("the default; set {PYTHON_ENV} or `python:` on a task for another")
    };
    if program_exists(&python, None) {
        format!("{python} ({from})")
    } else {
        format!("{python} not found ({from}): Python tasks cannot run")
    }
}
