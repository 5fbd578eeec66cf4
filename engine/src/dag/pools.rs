//! Pools: named limits on how many tasks (across all DAGs) run at once.
//!
//! Pools are defined in `pools.yaml` in the DAG folder, as a mapping of name → slots or
//! name → `{slots: N, description: …}`, optionally under a top-level `pools:` key.
//! `default_pool` (128 slots) always exists and is used by tasks that name no pool.

use std::collections::BTreeMap;
use std::path::Path;

use crate::dag::DEFAULT_POOL;
use crate::diagnostic::{Diagnostic, Diagnostics, Kind};
use crate::spec::LoadEnv;
use crate::yaml::{self, Budget, Pos, key_text};

/// The file name pools are read from, in the DAG folder.
pub const POOLS_FILE: &str = "pools.yaml";

/// Slots of `default_pool` unless `pools.yaml` says otherwise.
pub const DEFAULT_POOL_SLOTS: u32 = 128;

/// A pool: a number of slots shared by the tasks that name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    /// How many slots the pool has.
    pub slots: u32,
    /// Free text.
    pub description: Option<String>,
}

/// The known pools, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pools(BTreeMap<String, Pool>);

impl Default for Pools {
    fn default() -> Self {
        let mut m = BTreeMap::new();
        m.insert(
            DEFAULT_POOL.to_string(),
            Pool {
                slots: DEFAULT_POOL_SLOTS,
                description: Some("the pool of tasks that name none".into()),
            },
        );
        Pools(m)
    }
}

impl Pools {
    /// The pool with this name.
    pub fn get(&self, name: &str) -> Option<&Pool> {
        self.0.get(name)
    }

    /// Pool names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// Pools with their definitions, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Pool)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Whether `name` was declared (`pools.yaml`, `dagctl pools set`), not only the implicit
    /// `default_pool` every deployment has.
    pub fn declared(&self, name: &str) -> bool {
        self.0.get(name).is_some_and(|p| {
            name != DEFAULT_POOL || Pools::default().0.get(DEFAULT_POOL) != Some(p)
        })
    }

    /// Adds or replaces a pool.
    pub fn set(&mut self, name: impl Into<String>, pool: Pool) {
        self.0.insert(name.into(), pool);
    }

    /// The default pools plus those of `folder/pools.yaml` if the file exists.
    pub fn load_folder(folder: &Path) -> (Pools, Diagnostics) {
        let path = folder.join(POOLS_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Pools::load_str(&text, &path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                (Pools::default(), Diagnostics::default())
            }
            Err(e) => {
                let mut d = Diagnostics::default();
                d.push(Diagnostic::new(
                    &path,
                    Pos::default(),
                    Kind::Io,
                    format!("cannot read the pools file: {e}"),
                ));
                (Pools::default(), d)
            }
        }
    }

    /// Reads pools from the text of a pools file.
    pub fn load_str(text: &str, file: &Path) -> (Pools, Diagnostics) {
        let mut pools = Pools::default();
        let mut diags = Diagnostics::default();
        let docs = match yaml::parse(text, Budget::default()) {
            Ok(d) => d,
            Err(e) => {
                diags.push(Diagnostic::new(file, e.pos, Kind::YamlSyntax, e.message));
                return (pools, diags);
            }
        };
        let Some(root) = docs.first().filter(|d| !d.is_null()) else {
            return (pools, diags);
        };
        let root = root.get("pools").unwrap_or(root);
        let Some(entries) = root.as_map() else {
            diags.push(
                Diagnostic::new(
                    file,
                    root.pos,
                    Kind::InvalidValue,
                    "pools must be a mapping of name → slots",
                )
                .hint("write `my_pool: 4` or `my_pool: {slots: 4, description: …}`"),
            );
            return (pools, diags);
        };
        for (k, v) in entries {
            let name = key_text(k);
            let (slots_node, description) = match v.get("slots") {
                Some(s) => (
                    s,
                    v.get("description")
                        .and_then(|d| d.as_scalar())
                        .map(str::to_string),
                ),
                None => (v, None),
            };
            match slots_node.as_scalar().and_then(|t| t.parse::<u32>().ok()) {
                Some(slots) if slots > 0 => pools.set(name, Pool { slots, description }),
                _ => diags.push(
                    Diagnostic::new(
                        file,
                        slots_node.pos,
                        Kind::InvalidValue,
                        format!("pool `{name}` needs a number of slots ≥ 1"),
                    )
                    .hint(format!("write `{name}: 4`")),
                ),
            }
        }
        (pools, diags)
    }
}

/// Keeps [`LoadEnv`] construction in one place for callers that hold owned values.
impl Pools {
    /// A [`LoadEnv`] over these pools and `registry`.
    pub fn env<'a>(&'a self, registry: &'a crate::OperatorRegistry) -> LoadEnv<'a> {
        LoadEnv {
            registry,
            pools: self,
            defaults: &[],
            root: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_pools_a_user_wrote_are_declared() {
        let implicit = Pools::default();
        assert!(
            !implicit.declared(DEFAULT_POOL),
            "the implicit default pool"
        );
        assert!(!implicit.declared("gpu"), "an unknown pool");
        let (pools, diags) = Pools::load_str("gpu: 2\n", Path::new("pools.yaml"));
        assert!(diags.is_empty(), "{diags:?}");
        assert!(pools.declared("gpu"));
        assert!(!pools.declared(DEFAULT_POOL));
        let (pools, _) = Pools::load_str("default_pool: 64\n", Path::new("pools.yaml"));
        assert!(
            pools.declared(DEFAULT_POOL),
            "a default pool the user sized"
        );
    }
}
