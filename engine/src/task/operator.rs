//! The `Operator` trait — the one extension point for work — and the registry of operators.
//!
//! An operator checks its arguments when a DAG is loaded, so that a missing or mistyped
//! argument is a validation error with a location rather than a failure at run time.
//! The usual way is a typed `Args` struct with `#[serde(deny_unknown_fields)]` read with
//! [`parse_args`].

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use serde::de::DeserializeOwned;

use crate::context::{TaskContext, TaskError, TaskOutcome};
use crate::yaml::PathSegment;

/// A kind of work a task can do.
///
/// Implement it with `#[async_trait::async_trait]` (re-exported as
/// [`crate::async_trait`]) and register it with [`OperatorRegistry::register`].
#[async_trait]
pub trait Operator: Send + Sync + 'static {
    /// The name DAG files use in `operator:`.
    fn name(&self) -> &str;

    /// One line saying what the operator does (for `dagctl operators`).
    fn summary(&self) -> &str;

    /// Checks the task's arguments (every task key that is not an engine key) at load time.
    ///
    /// # Errors
    /// An [`ArgsError`] pointing at the offending argument.
    fn check_args(&self, args: &serde_json::Value) -> Result<(), ArgsError>;

    /// The arguments that name files (an expectation suite, …). A relative path written in
    /// one of them is read from the folder of the DAG file that holds it, as Airflow reads
    /// templates from the DAG's folder, so a DAG works whatever folder dagctl runs in; the
    /// loader rewrites it before [`Operator::check_args`] sees it. None by default.
    fn path_args(&self) -> &'static [&'static str] {
        &[]
    }

    /// The arguments that are shell commands (`bash_command`): a value a template inserts
    /// into one is quoted for the shell, so a run id or a `--conf` value is data, never
    /// code; `{{ value | safe }}` inserts it as shell code on purpose. None by default.
    fn shell_args(&self) -> &'static [&'static str] {
        &[]
    }

    /// Does the work of one try. Arguments in `ctx.args` are rendered already.
    ///
    /// # Errors
    /// A [`TaskError`], retryable or fatal.
    async fn execute(&self, ctx: &TaskContext) -> Result<TaskOutcome, TaskError>;
}

/// What is wrong with an operator's arguments, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgsError {
    /// The path of the offending value within the arguments (empty: the task itself).
    pub path: Vec<PathSegment>,
    /// What is wrong.
    pub problem: ArgsProblem,
}

/// The kinds of argument problems.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ArgsProblem {
    /// An argument the operator does not take; `expected` lists those it does.
    Unknown {
        /// The unknown argument.
        name: String,
        /// The arguments the operator takes at this level.
        expected: Vec<String>,
    },
    /// A required argument is missing.
    Missing {
        /// The missing argument.
        name: String,
    },
    /// An argument has the wrong type or value.
    Invalid {
        /// What is wrong, in words.
        message: String,
    },
}

impl ArgsError {
    /// An invalid-value error at `path` (a list of argument names and indexes).
    pub fn invalid(path: Vec<PathSegment>, message: impl Into<String>) -> Self {
        ArgsError {
            path,
            problem: ArgsProblem::Invalid {
                message: message.into(),
            },
        }
    }

    /// An invalid-value error at a top-level argument.
    pub fn at(arg: &str, message: impl Into<String>) -> Self {
        Self::invalid(vec![PathSegment::Key(arg.to_string())], message)
    }

    /// The same problem one level down, under argument `arg` (a nested settings mapping
    /// checked on its own).
    pub fn under(mut self, arg: &str) -> Self {
        self.path.insert(0, PathSegment::Key(arg.to_string()));
        self
    }
}

impl fmt::Display for ArgsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.problem {
            ArgsProblem::Unknown { name, .. } => write!(f, "unknown argument `{name}`"),
            ArgsProblem::Missing { name } => write!(f, "missing argument `{name}`"),
            ArgsProblem::Invalid { message } => f.write_str(message),
        }
    }
}

impl std::error::Error for ArgsError {}

/// Reads operator arguments into a typed struct, turning serde's errors into [`ArgsError`]s
/// that point at the offending argument.
///
/// # Errors
/// The first problem serde finds: an unknown field (with the expected ones), a missing field,
/// or a value of the wrong type.
pub fn parse_args<A: DeserializeOwned>(args: &serde_json::Value) -> Result<A, ArgsError> {
    serde_path_to_error::deserialize(args).map_err(|err| {
        let mut path: Vec<PathSegment> = err
            .path()
            .iter()
            .filter_map(|seg| match seg {
                serde_path_to_error::Segment::Map { key } => Some(PathSegment::Key(key.clone())),
                serde_path_to_error::Segment::Seq { index } => Some(PathSegment::Index(*index)),
                _ => None,
            })
            .collect();
        let message = err.inner().to_string();
        let problem = if let Some(rest) = message.strip_prefix("unknown field `") {
            let name = rest.split('`').next().unwrap_or_default().to_string();
            let expected = rest
                .split_once("expected")
                .map(|(_, list)| {
                    list.split('`')
                        .skip(1)
                        .step_by(2)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            // serde_path_to_error records the unknown key itself as the last segment.
            if !matches!(path.last(), Some(PathSegment::Key(k)) if *k == name) {
                path.push(PathSegment::Key(name.clone()));
            }
            ArgsProblem::Unknown { name, expected }
        } else if let Some(rest) = message.strip_prefix("missing field `") {
            ArgsProblem::Missing {
                name: rest.split('`').next().unwrap_or_default().to_string(),
            }
        } else {
            ArgsProblem::Invalid {
                message: readable_serde_message(&message),
            }
        };
        ArgsError { path, problem }
    })
}

/// Turns serde's "invalid type: string \"x\", expected a sequence" into
/// "expected a sequence, found string \"x\"".
fn readable_serde_message(message: &str) -> String {
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = message.strip_prefix(prefix)
            && let Some((found, expected)) = rest.rsplit_once(", expected ")
        {
            return format!("expected {expected}, found {found}");
        }
    }
    message.to_string()
}

/// The operators an engine knows, by name.
#[derive(Clone, Default)]
pub struct OperatorRegistry {
    operators: BTreeMap<String, Arc<dyn Operator>>,
}

impl fmt::Debug for OperatorRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.operators.keys()).finish()
    }
}

impl OperatorRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// A registry with the engine's own operators (`noop`).
    pub fn with_builtins() -> Self {
        let mut r = Self::new();
        crate::builtin::register_builtin(&mut r);
        r
    }

    /// Adds an operator, replacing one of the same name.
    pub fn register(&mut self, op: impl Operator) -> &mut Self {
        self.operators.insert(op.name().to_string(), Arc::new(op));
        self
    }

    /// The operator with this name.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Operator>> {
        self.operators.get(name)
    }

    /// The registered names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.operators.keys().map(String::as_str)
    }

    /// The registered operators, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn Operator>> {
        self.operators.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Args {
        program: String,
        #[serde(default)]
        args: Vec<String>,
        #[serde(default)]
        env: BTreeMap<String, String>,
    }

    #[test]
    fn unknown_fields_name_the_key_and_the_expected_ones() {
        let err = parse_args::<Args>(&serde_json::json!({"program": "x", "agrs": []})).unwrap_err();
        assert_eq!(err.path, vec![PathSegment::Key("agrs".into())]);
        match err.problem {
            ArgsProblem::Unknown { name, expected } => {
                assert_eq!(name, "agrs");
                assert_eq!(expected, ["program", "args", "env"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn missing_and_mistyped_fields() {
        let err = parse_args::<Args>(&serde_json::json!({})).unwrap_err();
        assert_eq!(
            err.problem,
            ArgsProblem::Missing {
                name: "program".into()
            }
        );
        let err = parse_args::<Args>(&serde_json::json!({"program": "x", "env": {"A": [1]}}))
            .unwrap_err();
        assert_eq!(
            err.path,
            vec![PathSegment::Key("env".into()), PathSegment::Key("A".into())]
        );
        assert_eq!(err.to_string(), "expected a string, found sequence");
    }
}
