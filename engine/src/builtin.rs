//! Operators that belong to the engine itself.

use serde::Deserialize;

use crate::operator::{ArgsError, Operator, OperatorRegistry, parse_args};

/// Registers the engine's own operators into `registry`.
pub fn register_builtin(registry: &mut OperatorRegistry) {
    registry.register(Noop);
}

/// Does nothing and succeeds: a join point or placeholder (Airflow's `EmptyOperator`).
#[derive(Debug, Clone, Copy)]
pub struct Noop;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoArgs {}

impl Operator for Noop {
    fn name(&self) -> &str {
        "noop"
    }

    fn summary(&self) -> &str {
        "does nothing and succeeds (Airflow's EmptyOperator)"
    }

    fn check_args(&self, args: &serde_json::Value) -> Result<(), ArgsError> {
        parse_args::<NoArgs>(args).map(drop)
    }
}
