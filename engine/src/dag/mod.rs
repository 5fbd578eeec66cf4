//! The validated form of a DAG: what the executor and scheduler work from.
//!
//! A [`Dag`] can only be built by the loader (from YAML) or by [`crate::DagBuilder`] (in code),
//! both of which validate it, so a `Dag` value always has known operators, existing
//! dependencies and no cycle.

pub mod bag;
pub mod builder;
pub mod graph;
pub mod ignore;
pub mod mapping;
pub mod pools;
mod scan;
pub mod svg;

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::graph::DagGraph;
use crate::schedule::Schedule;
use crate::trigger_rule::TriggerRule;
use crate::yaml::Pos;

/// The name of the pool every task uses unless it names another.
pub const DEFAULT_POOL: &str = "default_pool";

/// A validated DAG. Only the loader ([`crate::spec`]) and [`crate::DagBuilder`] make one, so
/// every `Dag` has passed validation: its fields are read through accessors.
#[derive(Debug, Clone)]
pub struct Dag {
    /// Unique id (`dag_id`).
    pub(crate) id: String,
    /// Free text shown by `dagctl dags list`.
    pub(crate) description: Option<String>,
    /// When runs are created on their own.
    pub(crate) schedule: Schedule,
    /// The zone the schedule is read in (`timezone:`, UTC by default).
    pub(crate) timezone: chrono_tz::Tz,
    /// The first logical date the scheduler considers.
    pub(crate) start_date: Option<DateTime<Utc>>,
    /// The last logical date the scheduler considers.
    pub(crate) end_date: Option<DateTime<Utc>>,
    /// Whether the scheduler creates runs for every missed interval (`true`) or only the latest.
    pub(crate) catchup: bool,
    /// Whether the DAG starts paused the first time a store sees it
    /// (`is_paused_upon_creation`).
    pub(crate) paused_upon_creation: bool,
    /// At most this many runs of the DAG at once.
    pub(crate) max_active_runs: u32,
    /// At most this many running tasks per run.
    pub(crate) max_active_tasks: u32,
    /// A run still unfinished this long after it started fails, its running tries stopped
    /// (`dagrun_timeout`).
    pub(crate) dagrun_timeout: Option<Duration>,
    /// Documentation in Markdown (`doc_md`), shown by `dagctl dags show` and the web view.
    pub(crate) doc_md: Option<String>,
    /// Parameters with their defaults (`params`), overridable per run.
    pub(crate) params: serde_json::Map<String, serde_json::Value>,
    /// Free labels.
    pub(crate) tags: Vec<String>,
    /// The tasks, in the order they were written.
    pub(crate) tasks: Vec<Task>,
    /// Dependencies between tasks (indexes into `tasks`).
    pub(crate) graph: DagGraph,
    /// Run when a run of the DAG fails.
    pub(crate) on_failure_callback: Vec<Callback>,
    /// Run when a run of the DAG succeeds.
    pub(crate) on_success_callback: Vec<Callback>,
    /// Where the DAG was defined (empty for DAGs built in code).
    pub(crate) source: Source,
}

/// Where a DAG or task was defined.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Source {
    /// The file, empty for DAGs built in code.
    pub file: PathBuf,
    /// The position of its id in the file.
    pub pos: Pos,
}

/// One task of a DAG.
#[derive(Debug, Clone)]
pub struct Task {
    /// Unique id within the DAG (`task_id`).
    pub id: String,
    /// The registered operator that does the work.
    pub operator: String,
    /// The operator's own arguments, as written (templates are rendered at run time).
    pub args: serde_json::Value,
    /// Direct upstream task ids, deduplicated, in the order written.
    pub upstream: Vec<String>,
    /// Retries, timeouts, trigger rule and pool.
    pub policy: TaskPolicy,
    /// The task group the task belongs to (dag-factory `task_group_name`), if any.
    pub group: Option<String>,
    /// Datasets the task updates when it succeeds (`outlets`).
    pub outlets: Vec<String>,
    /// Datasets the task reads (`inlets`, lineage): shown with the task.
    pub inlets: Vec<String>,
    /// Its documentation (`doc_md` or `doc`), shown with the task.
    pub doc: Option<String>,
    /// Dynamic task mapping (`expand`): the task runs as one instance per item.
    pub mapping: Option<mapping::Mapping>,
    /// Where the task was defined.
    pub pos: Pos,
}

/// An operator invocation run when something happens (a callback): the operator and its
/// arguments, templated with the context of the task or run that fired it.
#[derive(Debug, Clone, PartialEq)]
pub struct Callback {
    /// The operator (`command`, …).
    pub operator: String,
    /// Its arguments.
    pub args: serde_json::Value,
}

/// How a task is run: everything `default_args` can set.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskPolicy {
    /// How many times a failed try is retried.
    pub retries: u32,
    /// Wait before a retry.
    pub retry_delay: Duration,
    /// Double the wait at every retry.
    pub retry_exponential_backoff: bool,
    /// Cap on the wait between retries.
    pub max_retry_delay: Option<Duration>,
    /// A try running longer is cancelled and fails.
    pub execution_timeout: Option<Duration>,
    /// At most this many instances of the task run at once across the DAG's runs
    /// (`max_active_tis_per_dag`).
    pub max_active_tis_per_dag: Option<u32>,
    /// When the task runs given its upstreams' states.
    pub trigger_rule: TriggerRule,
    /// The pool whose slots the task occupies while it runs.
    pub pool: String,
    /// How many slots of the pool the task takes.
    pub pool_slots: u32,
    /// The owner shown in listings.
    pub owner: String,
    /// Run when the task fails for good.
    pub(crate) on_failure_callback: Vec<Callback>,
    /// Run when the task succeeds.
    pub(crate) on_success_callback: Vec<Callback>,
    /// Run when a try fails and a retry follows.
    pub on_retry_callback: Vec<Callback>,
    /// The Python a Python task runs with (`python:` on the task or in `default_args`); none:
    /// `DAGCTL_PYTHON`, else `python3`.
    pub python: Option<String>,
}

impl TaskPolicy {
    /// The tries a task instance has before any clear: its retries and the first try.
    pub fn max_tries(&self) -> u32 {
        self.retries.saturating_add(1)
    }
}

impl Default for TaskPolicy {
    fn default() -> Self {
        TaskPolicy {
            retries: 0,
            retry_delay: Duration::from_secs(300),
            retry_exponential_backoff: false,
            max_retry_delay: None,
            execution_timeout: None,
            max_active_tis_per_dag: None,
            trigger_rule: TriggerRule::AllSuccess,
            pool: DEFAULT_POOL.to_string(),
            pool_slots: 1,
            owner: "airflow".to_string(),
            on_failure_callback: Vec::new(),
            on_success_callback: Vec::new(),
            on_retry_callback: Vec::new(),
            python: None,
        }
    }
}

impl Dag {
    /// Its id (`dag_id`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Free text shown by `dagctl dags list`.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// When runs are created on their own.
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// The zone the schedule is read in.
    pub fn timezone(&self) -> chrono_tz::Tz {
        self.timezone
    }

    /// The first logical date the scheduler considers.
    pub fn start_date(&self) -> Option<DateTime<Utc>> {
        self.start_date
    }

    /// The last logical date the scheduler considers.
    pub fn end_date(&self) -> Option<DateTime<Utc>> {
        self.end_date
    }

    /// Whether the scheduler creates runs for every missed interval.
    pub fn catchup(&self) -> bool {
        self.catchup
    }

    /// At most this many runs of the DAG at once.
    pub fn max_active_runs(&self) -> u32 {
        self.max_active_runs
    }

    /// At most this many running tasks per run.
    pub fn max_active_tasks(&self) -> u32 {
        self.max_active_tasks
    }

    /// How long a run may take before it fails (`dagrun_timeout`).
    pub fn dagrun_timeout(&self) -> Option<Duration> {
        self.dagrun_timeout
    }

    /// Its documentation in Markdown (`doc_md`).
    pub fn doc_md(&self) -> Option<&str> {
        self.doc_md.as_deref()
    }

    /// Parameters with their defaults, overridable per run.
    pub fn params(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.params
    }

    /// Free labels.
    pub fn tags(&self) -> &[String] {
        &self.tags
    }

    /// The tasks, in the order they were written.
    pub fn tasks(&self) -> &[Task] {
        &self.tasks
    }

    /// Dependencies between tasks (indexes into [`Dag::tasks`]).
    pub fn graph(&self) -> &DagGraph {
        &self.graph
    }

    /// Run when a run of the DAG fails.
    pub fn on_failure_callback(&self) -> &[Callback] {
        &self.on_failure_callback
    }

    /// Run when a run of the DAG succeeds.
    pub fn on_success_callback(&self) -> &[Callback] {
        &self.on_success_callback
    }

    /// Where the DAG was defined (empty for DAGs built in code).
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// The DAG's schedule bounded by its dates: data intervals and due runs.
    pub fn timetable(&self) -> crate::timetable::Timetable<'_> {
        crate::timetable::Timetable {
            schedule: &self.schedule,
            timezone: self.timezone,
            start_date: self.start_date,
            end_date: self.end_date,
            catchup: self.catchup,
        }
    }

    /// The task with this id.
    pub fn task(&self, id: &str) -> Option<&Task> {
        self.graph.index_of(id).map(|i| &self.tasks[i])
    }

    /// The tasks in a topological order: every task after all of its upstreams.
    pub fn topological_order(&self) -> impl Iterator<Item = &Task> {
        self.graph
            .topological_order()
            .iter()
            .map(|&i| &self.tasks[i])
    }
}

impl Task {
    /// A fresh task instance of this task for a new run (state `none`, no try yet).
    pub fn new_instance(&self) -> crate::store::TaskInstance {
        crate::store::TaskInstance {
            task_id: self.id.clone(),
            state: crate::state::TaskState::None,
            try_number: 0,
            max_tries: self.policy.max_tries(),
            pool: self.policy.pool.clone(),
            pool_slots: self.policy.pool_slots,
            next_attempt_at: None,
            start_date: None,
            end_date: None,
            mapped_args: None,
            rendered_map_index: None,
        }
    }
}

/// Whether `id` is a valid DAG or task id: ASCII letters, digits, `_`, `-` and `.`, at most 250
/// characters, as in Airflow.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 250
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

impl Dag {
    /// The DAG as JSON (for `--json` output and, later, its serialized form in the store).
    pub fn to_json(&self) -> serde_json::Value {
        use crate::duration::format_duration;
        let tasks: Vec<serde_json::Value> = self
            .topological_order()
            .map(|t| {
                let p = &t.policy;
                let mut json = serde_json::json!({
                    "task_id": t.id,
                    "operator": t.operator,
                    "upstream": t.upstream,
                    "group": t.group,
                    "outlets": t.outlets,
                    "inlets": t.inlets,
                    "doc_md": t.doc,
                    "args": t.args,
                    "retries": p.retries,
                    "retry_delay": format_duration(p.retry_delay),
                    "retry_exponential_backoff": p.retry_exponential_backoff,
                    "max_retry_delay": p.max_retry_delay.map(format_duration),
                    "execution_timeout": p.execution_timeout.map(format_duration),
                    "max_active_tis_per_dag": p.max_active_tis_per_dag,
                    "trigger_rule": p.trigger_rule.as_str(),
                    "pool": p.pool,
                    "pool_slots": p.pool_slots,
                    "owner": p.owner,
                    "on_failure_callback": callbacks_json(&p.on_failure_callback),
                    "on_success_callback": callbacks_json(&p.on_success_callback),
                    "on_retry_callback": callbacks_json(&p.on_retry_callback),
                });
                if let Some(m) = &t.mapping {
                    json["mapping"] = m.to_json();
                }
                json
            })
            .collect();
        serde_json::json!({
            "dag_id": self.id,
            "description": self.description,
            "schedule": self.schedule.to_string(),
            "timezone": self.timezone.name(),
            "start_date": self.start_date.map(|d| d.to_rfc3339()),
            "end_date": self.end_date.map(|d| d.to_rfc3339()),
            "catchup": self.catchup,
            "max_active_runs": self.max_active_runs,
            "max_active_tasks": self.max_active_tasks,
            "dagrun_timeout": self.dagrun_timeout.map(format_duration),
            "doc_md": self.doc_md,
            "params": self.params,
            "tags": self.tags,
            "file": self.source.file.display().to_string(),
            "on_failure_callback": callbacks_json(&self.on_failure_callback),
            "on_success_callback": callbacks_json(&self.on_success_callback),
            "tasks": tasks,
        })
    }
}

/// Callbacks as JSON: `[{operator, args}]`.
fn callbacks_json(callbacks: &[Callback]) -> serde_json::Value {
    callbacks
        .iter()
        .map(|c| serde_json::json!({"operator": c.operator, "args": c.args}))
        .collect()
}
