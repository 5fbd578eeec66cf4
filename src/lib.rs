//! # dagctl
//!
//! An Airflow-style DAG engine: DAGs as YAML files, a CLI (`dagctl`), and this library to embed
//! the engine in your own program. This crate is a facade over
//! [`dagctl_engine`] (the generic engine) and [`dagctl_operators`] (the shipped operators).
//!
//! ```
//! let registry = dagctl::registry();
//! assert!(registry.get("command").is_some());
//! assert!(registry.get("noop").is_some());
//! ```

pub use dagctl_engine as engine;
pub use dagctl_operators as operators;

/// A registry with every operator dagctl ships: the engine's own and those of
/// `dagctl-operators`.
pub fn registry() -> dagctl_engine::OperatorRegistry {
    dagctl_operators::full_registry()
}
