//! # dagctl-engine
//!
//! The generic engine of dagctl, an Airflow-style DAG engine: it reads DAGs from YAML files,
//! validates them with located, actionable diagnostics, and models them as graphs. It knows
//! nothing of Parquet or machine learning; operators that do such work live in
//! `dagctl-operators` and plug in through the [`Operator`] trait.
//!
//! ## Layout
//! | folder | owns |
//! |---|---|
//! | [`spec`] | YAML text ([`yaml`], budgets against YAML bombs) → checked DAG specs (single-DAG and dag-factory forms), durations, every problem as a located [`Diagnostic`] |
//! | [`dag`] | the validated model ([`Dag`], [`Task`], [`TaskPolicy`]), its petgraph [`graph`] (order, cycle paths, closures, text tree, DOT), [`DagBuilder`], the [`DagBag`] of a folder, [`pools`] |
//! | [`schedule`] | cron expressions and presets, [`timetable`]s: data intervals, logical dates, catchup, time zones |
//! | [`run`] | the run lifecycle: new runs and run ids, the [`run::Driver`] behind trigger, backfill, resume and the scheduler, the [`executor`] of one run, [`scheduler`], worker liveness, clear/mark/cancel/pause |
//! | [`task`] | the [`Operator`] trait and [`OperatorRegistry`], [`TaskContext`], templating, [`trigger_rule`]s, [`sensor`]s, the built-in operators |
//! | [`secrets`] | Fernet keys sealing Variables and connections at rest ([`secrets::Keyring`]), the [`secrets::Masker`] that turns secret values into `***` in logs, errors and output |
//! | [`store`] | the [`Store`] trait, SQLite/PostgreSQL and in-memory stores, migrations |
//! | [`engine`], [`events`] | [`Engine`] and its builder (the embedding API), the stream of state changes |
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

pub mod dag;
pub mod engine;
pub mod events;
pub mod markup;
pub mod run;
pub mod schedule;
pub mod secrets;
pub mod spec;
pub mod state;
pub mod store;
pub mod task;

// The modules by their short names, as they were before the folders: `dagctl_engine::graph`
// is `dagctl_engine::dag::graph`, and so on.
pub use dag::{bag as dagbag, builder as dag_builder, graph, ignore, pools};
pub use run::{clock, executor, scheduler, worker};
pub use schedule::timetable;
pub use spec::{diagnostic, duration, suggest, yaml};
pub use task::{
    builtin, context, operator, program, sensor, template, trigger, trigger_rule, xcom_spill,
};

pub use async_trait::async_trait;
pub use context::{LogBuffer, Resources, TaskContext, TaskError, TaskOutcome};
pub use dag::{DEFAULT_POOL, Dag, Source, Task, TaskPolicy};
pub use dag_builder::DagBuilder;
pub use dagbag::DagBag;
pub use diagnostic::{Diagnostic, Diagnostics, Kind, Severity};
pub use engine::{CleanOutcome, Engine, EngineBuilder, EngineError, TriggerOptions};
pub use events::Event;
pub use executor::{Executor, ExecutorConfig, RunError, RunOutcome, TaskSummary};
pub use graph::DagGraph;
pub use operator::{ArgsError, ArgsProblem, Operator, OperatorRegistry, parse_args};
pub use pools::{Pool, Pools};
pub use schedule::Schedule;
pub use state::{RunState, RunType, TaskState};
pub use store::{
    Expect, MemoryStore, Record, RecordStore, RecordWrite, SqlStore, Store, StoreError,
};
pub use timetable::{DataInterval, Timetable};
pub use trigger::TriggerRequest;
pub use trigger_rule::{Decision, TriggerRule, UpstreamStates};
pub use xcom_spill::{SpillTo, XcomSpill};
