//! Finding DAG files: a DAG folder and the folders below it, as Airflow scans its DAG folder.
//!
//! Every `*.yaml` / `*.yml` file is a DAG file except `pools.yaml`, the folder defaults
//! (`defaults.yml`, `defaults.yaml`) and what `.airflowignore` files leave out; folders whose
//! name starts with `.` and symbolic links to folders are not entered. Below the folder itself,
//! as in Airflow's safe mode, only files that mention `operator` or `dag_id` are DAG files. Each file comes with
//! the folder defaults that apply to it, closest first.

use std::path::{Path, PathBuf};

use crate::diagnostic::{Diagnostic, Diagnostics, Kind};
use crate::ignore::Ignore;
use crate::pools::POOLS_FILE;
use crate::spec::Defaults;
use crate::spec::defaults::DEFAULTS_FILES;
use crate::yaml::Pos;

/// A DAG file found, with where it was found.
#[derive(Debug)]
pub(crate) struct Found {
    /// The file.
    pub file: PathBuf,
    /// The DAG folder it was found in (the file's own folder when it was named directly).
    pub root: PathBuf,
    /// The folder defaults that apply to it, closest first.
    pub defaults: Vec<Defaults>,
}

/// Every DAG file of `root` and its subfolders, in path order; `next_source` numbers the
/// defaults files read (see [`crate::yaml::Pos::source`]).
pub(crate) fn scan_folder(
    root: &Path,
    next_source: &mut u16,
    diags: &mut Diagnostics,
) -> Vec<Found> {
    let mut out = Vec::new();
    // (folder, its path from the root, the ignore rules above it, the defaults above it)
    let mut stack: Vec<(PathBuf, String, Ignore, Vec<Defaults>)> = vec![(
        root.to_path_buf(),
        String::new(),
        Ignore::default(),
        Vec::new(),
    )];
    while let Some((dir, rel, above, inherited)) = stack.pop() {
        let ignore = above.with_folder(&dir, &rel);
        let mut chain = inherited;
        let (defaults, problems) = Defaults::load_folder(&dir, *next_source);
        diags.0.extend(problems.0);
        if let Some(d) = defaults {
            *next_source = next_source.saturating_add(1);
            chain.insert(0, d);
        }
        let mut entries: Vec<(PathBuf, String, bool)> = match std::fs::read_dir(&dir) {
            Ok(rd) => rd
                .filter_map(Result::ok)
                .filter_map(|e| {
                    let name = e.file_name().to_str()?.to_string();
                    let kind = e.file_type().ok()?;
                    // A link to a file is read; a link to a folder is not followed (loops).
                    let is_dir = kind.is_dir();
                    let is_file = kind.is_file() || (kind.is_symlink() && e.path().is_file());
                    (is_dir || is_file).then(|| (e.path(), name, is_dir))
                })
                .collect(),
            Err(e) => {
                diags.push(Diagnostic::new(
                    &dir,
                    Pos::default(),
                    Kind::Io,
                    format!("cannot list the DAG folder: {e}"),
                ));
                continue;
            }
        };
        entries.sort();
        let mut subfolders = Vec::new();
        for (path, name, is_dir) in entries {
            let child_rel = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            if ignore.ignores(&child_rel, is_dir) {
                continue;
            }
            if is_dir {
                if !name.starts_with('.') {
                    subfolders.push((path, child_rel));
                }
                continue;
            }
            let yaml = matches!(
                Path::new(&name).extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml")
            );
            if yaml
                && name != POOLS_FILE
                && !DEFAULTS_FILES.contains(&name.as_str())
                && (rel.is_empty() || looks_like_dags(&path))
            {
                out.push(Found {
                    file: path,
                    root: root.to_path_buf(),
                    defaults: chain.clone(),
                });
            }
        }
        // Reversed onto the stack, so folders are visited in name order.
        for (path, child_rel) in subfolders.into_iter().rev() {
            stack.push((path, child_rel, ignore.clone(), chain.clone()));
        }
    }
    out.sort_by(|a, b| a.file.cmp(&b.file));
    out
}

/// Airflow's "safe mode" for files below the DAG folder: a YAML file there is a DAG file only
/// if it mentions `operator` or `dag_id` (every DAG with a task does), so supporting files
/// such as expectation suites or dataset configs are not read as broken DAGs. An unreadable
/// file is kept, so that its problem is reported.
fn looks_like_dags(path: &Path) -> bool {
    std::fs::read_to_string(path).map_or(true, |t| t.contains("operator") || t.contains("dag_id"))
}

/// A DAG file named directly: the defaults of its own folder apply.
pub(crate) fn single_file(file: &Path, next_source: &mut u16, diags: &mut Diagnostics) -> Found {
    let folder = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let (defaults, problems) = Defaults::load_folder(&folder, *next_source);
    diags.0.extend(problems.0);
    if defaults.is_some() {
        *next_source = next_source.saturating_add(1);
    }
    Found {
        file: file.to_path_buf(),
        root: folder,
        defaults: defaults.into_iter().collect(),
    }
}
