//! Tasks: the [`operator::Operator`] trait and its registry, the [`context::TaskContext`] a
//! try runs with (narrow capabilities: Variables, XCom, records, triggering runs), sandboxed
//! templating, trigger rules, sensors and the engine's own control-flow operators.

pub mod builtin;
pub mod context;
pub mod operator;
pub mod program;
pub mod sensor;
mod shell_quote;
pub mod template;
pub mod trigger;
pub mod trigger_rule;
pub mod xcom_spill;
