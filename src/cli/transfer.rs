//! Files of Variables and connections (`dagctl variables|connections import|export`), in
//! Airflow's JSON shapes: read with errors located in the file, written `0600` when they hold
//! secrets.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{Context, bail};
use clap::Args;
use serde_json::{Map, Value};

/// Where an export goes, and whether it includes secrets.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The file (`-`: standard output).
    pub file: std::path::PathBuf,
    /// Include what holds secrets (the file is then readable by its owner only).
    #[arg(long)]
    pub with_secrets: bool,
}

/// Where an import comes from.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The file (`-`: standard input).
    pub file: std::path::PathBuf,
}

/// The JSON object in `path` (`-`: standard input); an error names the file, line and column.
pub fn read_object(path: &Path) -> anyhow::Result<Map<String, Value>> {
    let text = if path == Path::new("-") {
        std::io::read_to_string(std::io::stdin()).context("cannot read standard input")?
    } else {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?
    };
    let value: Value = serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "{}: line {}, column {}: {e}",
            path.display(),
            e.line(),
            e.column()
        )
    })?;
    match value {
        Value::Object(map) => Ok(map),
        other => bail!(
            "{}: expected a JSON object of name → value, found {}",
            path.display(),
            match other {
                Value::Array(_) => "a list",
                Value::String(_) => "a string",
                _ => "a single value",
            }
        ),
    }
}

/// Writes `value` as JSON to `path` (`-`: standard output); the file is readable by its
/// owner only when it holds secrets.
pub fn write_json(path: &Path, value: &Value, secret: bool) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)? + "\n";
    if path == Path::new("-") {
        std::io::stdout().write_all(text.as_bytes())?;
        return Ok(());
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(if secret { 0o600 } else { 0o644 })
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    if secret {
        // A file that existed keeps its mode on open: narrow it.
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    }
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Says which secrets an export left out, if any.
pub fn say_left_out(what: &str, names: &[String]) {
    if !names.is_empty() {
        eprintln!(
            "left out {} {what} holding secrets: {} (pass --with-secrets to export them)",
            names.len(),
            names.join(", ")
        );
    }
}
