//! # dagctl
//!
//! An Airflow-style DAG engine: DAGs as YAML files, a CLI (`dagctl`), and this library to embed
//! the engine in your own program. This crate is a facade over [`dagctl_engine`] (the generic
//! engine) and [`dagctl_operators`] (the shipped operators).
//!
//! ```no_run
//! # async fn demo() -> Result<(), dagctl::engine::EngineError> {
//! // An engine with every shipped operator, the DAG folder, and the default SQLite store.
//! let engine = dagctl::builder().dags_folder("dags").home(".dagctl").build().await?;
//! let outcome = engine
//!     .trigger("01_data_generation_pipeline", dagctl::TriggerOptions::default())
//!     .await?;
//! println!("{}: {}", outcome.run_id, outcome.state);
//! # Ok(()) }
//! ```
//!
//! See `examples/custom_operator.rs` and `examples/build_dag_in_code.rs`.

pub use dagctl_engine as engine;
pub use dagctl_engine::{Dag, DagBuilder, Engine, EngineBuilder, RunOutcome, TriggerOptions};
pub use dagctl_operators as operators;

/// A registry with every operator dagctl ships: the engine's own and those of
/// `dagctl-operators`.
///
/// ```
/// let registry = dagctl::shipped_operators();
/// assert!(registry.get("command").is_some());
/// assert!(registry.get("noop").is_some());
/// ```
pub fn shipped_operators() -> dagctl_engine::OperatorRegistry {
    dagctl_operators::full_registry()
}

/// [`Engine::builder`] with every shipped operator registered, and XCom values too large for
/// the state store kept in the data location (`DAGCTL_DATA_CONN`, `DAGCTL_DATA_URL`, else
/// `$DAGCTL_HOME/data`, as the data operators resolve it without a `DataRoot`).
pub fn builder() -> EngineBuilder {
    let home = std::env::var("DAGCTL_HOME").unwrap_or_else(|_| ".dagctl".into());
    let data = dagctl_operators::storage::default_data_url(std::path::Path::new(&home));
    Engine::builder()
        .registry(shipped_operators())
        .resource(dagctl_engine::SpillTo(std::sync::Arc::new(
            dagctl_operators::xcom_store::DataLocationSpill::new(data),
        )))
}
