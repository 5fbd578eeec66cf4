//! Operators that belong to the engine itself: `noop`, `short_circuit` and `branch`.

use async_trait::async_trait;
use serde::Deserialize;

use crate::context::{TaskContext, TaskError, TaskOutcome};
use crate::operator::{ArgsError, Operator, OperatorRegistry, parse_args};

/// Registers the engine's own operators into `registry`.
pub fn register_builtin(registry: &mut OperatorRegistry) {
    registry.register(Noop);
    registry.register(ShortCircuit);
    registry.register(Branch);
}

/// Does nothing and succeeds: a join point or placeholder (Airflow's `EmptyOperator`).
#[derive(Debug, Clone, Copy)]
pub struct Noop;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoArgs {}

#[async_trait]
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

    async fn execute(&self, _ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
        Ok(TaskOutcome::Success(None))
    }
}

/// Skips downstream work when a templated condition is false ("no new data, nothing to
/// train"), like Airflow's `ShortCircuitOperator`.
#[derive(Debug, Clone, Copy)]
pub struct ShortCircuit;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShortCircuitArgs {
    /// A templated value; false, 0, empty, `none`, `no` and `off` are false.
    condition: serde_json::Value,
    /// Skip every downstream task whatever its trigger rule (default), or only the direct
    /// downstream tasks.
    #[serde(default = "yes")]
    ignore_downstream_trigger_rules: bool,
}

fn yes() -> bool {
    true
}

/// Python-like truthiness of a rendered value.
pub fn truthy(v: &serde_json::Value) -> bool {
    use serde_json::Value as J;
    match v {
        J::Null => false,
        J::Bool(b) => *b,
        J::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        J::String(s) => !matches!(
            s.trim().to_ascii_lowercase().as_str(),
            "" | "false" | "0" | "none" | "null" | "no" | "off" | "[]" | "{}"
        ),
        J::Array(a) => !a.is_empty(),
        J::Object(o) => !o.is_empty(),
    }
}

#[async_trait]
impl Operator for ShortCircuit {
    fn name(&self) -> &str {
        "short_circuit"
    }

    fn summary(&self) -> &str {
        "skips everything downstream when `condition` renders false"
    }

    fn check_args(&self, args: &serde_json::Value) -> Result<(), ArgsError> {
        parse_args::<ShortCircuitArgs>(args).map(drop)
    }

    async fn execute(&self, ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
        let a: ShortCircuitArgs = ctx.args()?;
        if truthy(&a.condition) {
            ctx.log(format!(
                "condition is true ({}): downstream tasks run",
                a.condition
            ));
            Ok(TaskOutcome::Success(Some(a.condition)))
        } else {
            ctx.log(format!(
                "condition is false ({}): skipping downstream tasks",
                a.condition
            ));
            Ok(TaskOutcome::ShortCircuit {
                skip_all_downstream: a.ignore_downstream_trigger_rules,
            })
        }
    }
}

/// Chooses which direct downstream tasks run; the others are skipped (Airflow's
/// `BranchPythonOperator`, with a template instead of a callable).
#[derive(Debug, Clone, Copy)]
pub struct Branch;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BranchArgs {
    /// Task id(s) to follow: a string (one id, or several separated by commas), or a list.
    /// An empty value follows none.
    branch: serde_json::Value,
}

#[async_trait]
impl Operator for Branch {
    fn name(&self) -> &str {
        "branch"
    }

    fn summary(&self) -> &str {
        "runs only the downstream task ids `branch` renders to; skips the others"
    }

    fn check_args(&self, args: &serde_json::Value) -> Result<(), ArgsError> {
        let a: BranchArgs = parse_args(args)?;
        match a.branch {
            serde_json::Value::String(_) | serde_json::Value::Array(_) => Ok(()),
            _ => Err(ArgsError::at(
                "branch",
                "expected a task id, a comma-separated list or a list of task ids",
            )),
        }
    }

    async fn execute(&self, ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
        let a: BranchArgs = ctx.args()?;
        let chosen: Vec<String> = match &a.branch {
            serde_json::Value::Array(items) => items
                .iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                .collect(),
            serde_json::Value::String(s) => s
                .split(',')
                .map(|p| {
                    p.trim()
                        .trim_matches(['[', ']', '"', '\''])
                        .trim()
                        .to_string()
                })
                .filter(|p| !p.is_empty())
                .collect(),
            other => vec![other.to_string()],
        };
        if let Some(bad) = chosen.iter().find(|c| !ctx.downstream.contains(c)) {
            return Err(TaskError::fatal(format!(
                "branch chose `{bad}`, which is not a direct downstream task of `{}`; \
                 choose among: {}",
                ctx.task_id,
                ctx.downstream.join(", ")
            )));
        }
        ctx.log(format!("following branch: {}", chosen.join(", ")));
        Ok(TaskOutcome::Branch(chosen))
    }
}

#[cfg(test)]
mod tests {
    use super::truthy;
    use serde_json::json;

    #[test]
    fn truthiness_reads_like_python() {
        for v in [
            json!(false),
            json!(0),
            json!(""),
            json!("False"),
            json!("none"),
            json!(null),
            json!([]),
        ] {
            assert!(!truthy(&v), "{v}");
        }
        for v in [
            json!(true),
            json!(1),
            json!("yes"),
            json!("prepared/2026"),
            json!([0]),
        ] {
            assert!(truthy(&v), "{v}");
        }
    }
}
