//! # dagctl-engine
//!
//! The generic engine of dagctl, an Airflow-style DAG engine: it reads DAGs from YAML files,
//! validates them with located, actionable diagnostics, and models them as graphs. It knows
//! nothing of Parquet or machine learning; operators that do such work live in
//! `dagctl-operators` and plug in through the [`Operator`] trait.
//!
//! ## Layout
//! | module | owns |
//! |---|---|
//! | [`yaml`] | YAML text → a tree of nodes that keep their line and column; budgets against YAML bombs |
//! | [`spec`] | DAG files (single-DAG and dag-factory forms) → validated [`Dag`]s, every problem as a [`Diagnostic`] |
//! | [`dag`] | the validated model: [`Dag`], [`Task`], [`TaskPolicy`] |
//! | [`graph`] | dependencies as a petgraph graph: topological order, cycle paths, closures, text tree, DOT |
//! | [`schedule`] | cron expressions and presets |
//! | [`scheduler`] | the scheduler loop, due runs, backfills |
//! | [`sensor`] | sensors: poke, reschedule (deferral that frees the slot), timeout, soft_fail |
//! | [`timetable`] | data intervals, logical dates, due runs, catchup, time zones |
//! | [`trigger_rule`] | the trigger rules of Airflow |
//! | [`duration`] | `30s`, `1h30m`, `2d` |
//! | [`operator`] | the [`Operator`] trait and the [`OperatorRegistry`] |
//! | [`pools`] | pools from `pools.yaml` |
//! | [`dagbag`] | a folder of DAG files → [`DagBag`] |
//! | [`diagnostic`] | [`Diagnostic`]: file, line, column, kind, message, hint |
//!
//! ## Example
//! ```
//! use dagctl_engine::{OperatorRegistry, Pools, spec};
//!
//! let yaml = "
//! dag_id: hello
//! schedule: '@daily'
//! tasks:
//!   start: {operator: noop}
//!   end: {operator: noop, dependencies: [start]}
//! ";
//! let registry = OperatorRegistry::with_builtins();
//! let pools = Pools::default();
//! let load = spec::load_str(yaml, "hello.yaml".as_ref(), pools.env(&registry));
//! assert!(load.diagnostics.is_empty());
//! let dag = &load.dags[0];
//! let order: Vec<&str> = dag.topological_order().map(|t| t.id.as_str()).collect();
//! assert_eq!(order, ["start", "end"]);
//! ```

pub mod builtin;
pub mod clock;
pub mod context;
pub mod dag;
pub mod dag_builder;
pub mod dagbag;
pub mod diagnostic;
pub mod duration;
pub mod engine;
pub mod events;
pub mod executor;
pub mod graph;
pub mod operator;
pub mod pools;
pub mod run;
pub mod schedule;
pub mod scheduler;
pub mod sensor;
pub mod spec;
pub mod state;
pub mod store;
pub mod suggest;
pub mod template;
pub mod timetable;
pub mod trigger_rule;
pub mod worker;
pub mod yaml;

pub use async_trait::async_trait;
pub use context::{LogBuffer, Resources, TaskContext, TaskError, TaskOutcome};
pub use dag::{DEFAULT_POOL, Dag, Source, Task, TaskPolicy};
pub use dag_builder::DagBuilder;
pub use dagbag::DagBag;
pub use diagnostic::{Diagnostic, Diagnostics, Kind, Severity};
pub use engine::{Engine, EngineBuilder, EngineError, TriggerOptions};
pub use events::Event;
pub use executor::{Executor, ExecutorConfig, RunError, RunOutcome, TaskSummary};
pub use graph::DagGraph;
pub use operator::{ArgsError, ArgsProblem, Operator, OperatorRegistry, parse_args};
pub use pools::{Pool, Pools};
pub use schedule::Schedule;
pub use state::{RunState, RunType, TaskState};
pub use store::{Expect, MemoryStore, Record, RecordWrite, SqlStore, Store, StoreError};
pub use timetable::{DataInterval, Timetable};
pub use trigger_rule::{Decision, TriggerRule, UpstreamStates};
