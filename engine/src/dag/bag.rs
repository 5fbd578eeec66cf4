//! A [`DagBag`]: the DAGs of a folder (or of chosen files), with every problem found.
//!
//! DAG files are the `*.yaml` / `*.yml` files of the folder and its subfolders, except
//! `pools.yaml`, folder defaults (`defaults.yml`) and what `.airflowignore` leaves out (see
//! [`crate::ignore`]); supporting files in subfolders (expectation suites) are listed there.
//! Pools come from `pools.yaml` in the DAG folder.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::scan;
use crate::dag::Dag;
use crate::diagnostic::{Diagnostic, Diagnostics, Kind};
use crate::operator::OperatorRegistry;
use crate::pools::Pools;
use crate::spec::load_file;
use crate::yaml::Pos;

/// The DAGs loaded from a set of files, and the diagnostics of all of them.
#[derive(Debug, Default)]
pub struct DagBag {
    dags: BTreeMap<String, Dag>,
    diagnostics: Diagnostics,
    files: Vec<PathBuf>,
    pools: Pools,
}

impl DagBag {
    /// Loads every DAG file of `folder`.
    pub fn load_folder(folder: &Path, registry: &OperatorRegistry) -> DagBag {
        Self::load_paths(&[folder.to_path_buf()], registry)
    }

    /// Loads the DAG files of `folder`; tasks may also use the pools of `extra` (those set
    /// with `dagctl pools set`), which override `pools.yaml`.
    pub fn load_folder_with_pools(
        folder: &Path,
        registry: &OperatorRegistry,
        extra: &Pools,
    ) -> DagBag {
        Self::load(&[folder.to_path_buf()], registry, extra)
    }

    /// Loads DAG files and folders. Pools come from `pools.yaml` beside each file.
    /// A DAG id defined twice is an error at its second definition; the first one is kept.
    pub fn load_paths(paths: &[PathBuf], registry: &OperatorRegistry) -> DagBag {
        Self::load(paths, registry, &Pools::default())
    }

    /// Loads DAG files and folders, with the pools of `extra` besides those of `pools.yaml`.
    pub fn load_paths_with_pools(
        paths: &[PathBuf],
        registry: &OperatorRegistry,
        extra: &Pools,
    ) -> DagBag {
        Self::load(paths, registry, extra)
    }

    fn load(paths: &[PathBuf], registry: &OperatorRegistry, extra: &Pools) -> DagBag {
        let mut bag = DagBag::default();
        let mut files = Vec::new();
        let mut next_source = 1u16;
        for path in paths {
            if path.is_dir() {
                files.extend(scan::scan_folder(
                    path,
                    &mut next_source,
                    &mut bag.diagnostics,
                ));
            } else if path.exists() {
                files.push(scan::single_file(
                    path,
                    &mut next_source,
                    &mut bag.diagnostics,
                ));
            } else {
                bag.diagnostics.push(
                    Diagnostic::new(path, Pos::default(), Kind::Io, "no such file or folder")
                        .hint("set the DAG folder with --dags-folder or DAGCTL_DAGS_FOLDER"),
                );
            }
        }
        let mut pools_by_dir: BTreeMap<PathBuf, Pools> = BTreeMap::new();
        let mut defined: BTreeMap<String, (PathBuf, Pos)> = BTreeMap::new();
        for found in files {
            let file = found.file;
            let dir = found.root;
            let pools = pools_by_dir.entry(dir.clone()).or_insert_with(|| {
                let (mut pools, diags) = Pools::load_folder(&dir);
                bag.diagnostics.0.extend(diags.0);
                // Pools set with `dagctl pools set` win over the file.
                for (name, pool) in extra.iter() {
                    pools.set(name, pool.clone());
                }
                pools
            });
            let env = crate::spec::LoadEnv {
                defaults: &found.defaults,
                root: Some(&dir),
                ..pools.env(registry)
            };
            let load = load_file(&file, env);
            bag.diagnostics.0.extend(load.diagnostics.0);
            let mut rejected = Vec::new();
            for (id, pos) in load.defined {
                match defined.get(&id) {
                    Some((first_file, first_pos)) => {
                        bag.diagnostics.push(
                            Diagnostic::new(
                                &file,
                                pos,
                                Kind::DuplicateDag,
                                format!("DAG id `{id}` is already defined"),
                            )
                            .hint(format!(
                                "first defined at {}:{}; DAG ids must be unique across the DAG \
                                 folder",
                                first_file.display(),
                                first_pos.line
                            )),
                        );
                        rejected.push(pos);
                    }
                    None => {
                        defined.insert(id, (file.clone(), pos));
                    }
                }
            }
            for dag in load.dags {
                if !rejected.contains(&dag.source.pos) {
                    bag.dags.insert(dag.id.clone(), dag);
                }
            }
            bag.files.push(file);
        }
        // A defaults file's problem is found by every DAG file below it: report it once.
        let mut seen = std::collections::HashSet::new();
        bag.diagnostics
            .0
            .retain(|d| seen.insert((d.file.clone(), d.pos, d.kind, d.message.clone())));
        bag.check_dag_references(&defined);
        bag.pools = match pools_by_dir.into_values().next() {
            Some(p) => p,
            None => {
                let mut p = Pools::default();
                for (name, pool) in extra.iter() {
                    p.set(name, pool.clone());
                }
                p
            }
        };
        bag
    }

    /// `trigger_dag` tasks must name a DAG that exists (when the name is not a template).
    /// A DAG that names an unknown one is left out, like any DAG with an error.
    fn check_dag_references(&mut self, defined: &BTreeMap<String, (PathBuf, Pos)>) {
        let mut bad = Vec::new();
        for dag in self.dags.values() {
            for task in dag.tasks.iter().filter(|t| t.operator == "trigger_dag") {
                let Some(target) = task.args.get("dag_id").and_then(|v| v.as_str()) else {
                    continue;
                };
                if target.contains("{{") || defined.contains_key(target) {
                    continue;
                }
                let hint = crate::suggest::hint_with(
                    target,
                    defined.keys().map(String::as_str),
                    "`dagctl dags list` lists the DAGs",
                );
                self.diagnostics.push(
                    Diagnostic::new(
                        &dag.source.file,
                        task.pos,
                        Kind::UnknownDag,
                        format!(
                            "task `{}` of DAG `{}` triggers DAG `{target}`, which is not defined",
                            task.id, dag.id
                        ),
                    )
                    .hint(hint),
                );
                bad.push(dag.id.clone());
            }
        }
        for id in bad {
            self.dags.remove(&id);
        }
    }

    /// The DAG with this id.
    pub fn get(&self, id: &str) -> Option<&Dag> {
        self.dags.get(id)
    }

    /// The DAGs, sorted by id.
    pub fn dags(&self) -> impl Iterator<Item = &Dag> {
        self.dags.values()
    }

    /// Every error and warning found, in the order found.
    pub fn diagnostics(&self) -> &Diagnostics {
        &self.diagnostics
    }

    /// The files read.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// The pools of the (first) folder read, with the extra ones.
    pub fn pools(&self) -> &Pools {
        &self.pools
    }

    /// Takes the DAGs out of the bag.
    pub fn into_dags(self) -> BTreeMap<String, Dag> {
        self.dags
    }
}
