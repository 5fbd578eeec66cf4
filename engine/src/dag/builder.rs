//! Building a DAG in code, validated exactly like a DAG file.
//!
//! ```
//! use dagctl_engine::{DagBuilder, OperatorRegistry};
//! use serde_json::json;
//!
//! let dag = DagBuilder::new("in_code")
//!     .schedule("@daily")
//!     .default_arg("retries", json!(2))
//!     .task("start", "noop", json!({}))
//!     .task_after("end", "noop", json!({}), &["start"])
//!     .build(&OperatorRegistry::with_builtins())
//!     .unwrap();
//! assert_eq!(dag.task("end").unwrap().upstream, ["start"]);
//! assert_eq!(dag.task("end").unwrap().policy.retries, 2);
//! ```

use std::path::Path;

use serde_json::{Map, Value, json};

use crate::dag::Dag;
use crate::diagnostic::Diagnostics;
use crate::operator::OperatorRegistry;
use crate::pools::Pools;
use crate::spec::load_str;

/// Builds a [`Dag`] from code. Every key a DAG file accepts can be set with [`DagBuilder::key`];
/// the result goes through the same validation as a file.
#[derive(Debug, Clone)]
pub struct DagBuilder {
    id: String,
    keys: Map<String, Value>,
    default_args: Map<String, Value>,
    tasks: Map<String, Value>,
    pools: Pools,
}

impl DagBuilder {
    /// A DAG with this id and no task yet.
    pub fn new(id: impl Into<String>) -> Self {
        DagBuilder {
            id: id.into(),
            keys: Map::new(),
            default_args: Map::new(),
            tasks: Map::new(),
            pools: Pools::default(),
        }
    }

    /// Sets a DAG key (`description`, `start_date`, `max_active_tasks`, `params`, …).
    pub fn key(mut self, key: &str, value: Value) -> Self {
        self.keys.insert(key.to_string(), value);
        self
    }

    /// Sets the schedule (cron, preset or `"None"`).
    pub fn schedule(self, schedule: &str) -> Self {
        self.key("schedule", json!(schedule))
    }

    /// Sets a `default_args` key (`retries`, `retry_delay`, `pool`, …).
    pub fn default_arg(mut self, key: &str, value: Value) -> Self {
        self.default_args.insert(key.to_string(), value);
        self
    }

    /// Adds a task with its operator's arguments (and any task key, like `retries`).
    pub fn task(self, id: &str, operator: &str, args: Value) -> Self {
        self.task_after(id, operator, args, &[])
    }

    /// Adds a task that depends on `upstream`.
    pub fn task_after(mut self, id: &str, operator: &str, args: Value, upstream: &[&str]) -> Self {
        let mut task = match args {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        task.insert("operator".into(), json!(operator));
        if !upstream.is_empty() {
            task.insert("dependencies".into(), json!(upstream));
        }
        self.tasks.insert(id.to_string(), Value::Object(task));
        self
    }

    /// Pools tasks may use, besides `default_pool`.
    pub fn pools(mut self, pools: Pools) -> Self {
        self.pools = pools;
        self
    }

    /// Validates and builds the DAG.
    ///
    /// # Errors
    /// Every problem, as for a file (positions refer to the generated JSON text).
    pub fn build(self, registry: &OperatorRegistry) -> Result<Dag, Diagnostics> {
        let mut doc = self.keys;
        doc.insert("dag_id".into(), json!(self.id));
        if !self.default_args.is_empty() {
            doc.insert("default_args".into(), Value::Object(self.default_args));
        }
        doc.insert("tasks".into(), Value::Object(self.tasks));
        // JSON is YAML: the same loader validates code-built DAGs and files alike.
        let text = serde_json::to_string_pretty(&Value::Object(doc)).unwrap_or_default();
        let source = format!("<code:{}>", self.id);
        let mut load = load_str(&text, Path::new(&source), self.pools.env(registry));
        if load.diagnostics.has_errors() || load.dags.is_empty() {
            return Err(load.diagnostics);
        }
        Ok(load.dags.remove(0))
    }
}
