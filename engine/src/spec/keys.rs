//! The keys each level of a DAG file accepts.

/// Keys of a DAG.
pub const DAG: &[&str] = &[
    "dag_id",
    "description",
    "doc_md",
    "schedule",
    "schedule_interval",
    "timetable",
    "timezone",
    "start_date",
    "end_date",
    "catchup",
    "is_paused_upon_creation",
    "dagrun_timeout",
    "dagrun_timeout_sec",
    "max_active_runs",
    "max_active_tasks",
    "concurrency",
    "default_args",
    "params",
    "tags",
    "tasks",
    "task_groups",
    "on_failure_callback",
    "on_success_callback",
];

/// An Airflow key dagctl reads but does nothing with: accepted when the value asks for what
/// dagctl does anyway (or the key only affects Airflow's UI), refused otherwise, so that no
/// key loads without its effect.
#[derive(Debug, Clone, Copy)]
pub struct Inert {
    /// The key.
    pub key: &'static str,
    /// `Some(b)`: only the boolean `b` is accepted (and null). `None`: the value does not
    /// matter — the key is accepted when `hint` is empty (it only affects Airflow's UI) and
    /// refused with `hint` otherwise.
    pub accepts: Option<bool>,
    /// What to do instead, when the value is refused.
    pub hint: &'static str,
}

const fn inert(key: &'static str, accepts: Option<bool>, hint: &'static str) -> Inert {
    Inert { key, accepts, hint }
}

/// DAG keys that Airflow or dag-factory files carry and that need nothing from dagctl.
pub const DAG_INERT: &[Inert] = &[
    inert("default_view", None, ""),
    inert("orientation", None, ""),
    inert("owner_links", None, ""),
    inert("dag_display_name", None, ""),
    // dagctl's operators take text: a command renders the same either way.
    inert("render_template_as_native_obj", None, ""),
    inert(
        "fail_stop",
        Some(false),
        "dagctl lets running tasks finish when one fails; remove the key",
    ),
    inert(
        "fail_fast",
        Some(false),
        "dagctl lets running tasks finish when one fails; remove the key",
    ),
    inert(
        "user_defined_macros",
        None,
        "dagctl templates take no Python macros: compute the value in a `command` task and \
         use it with `ti.xcom_pull`, or keep it in a Variable (`var.value.name`)",
    ),
    inert(
        "user_defined_filters",
        None,
        "dagctl templates take no Python filters: use the built-in ones",
    ),
    inert(
        "access_control",
        None,
        "dagctl has no per-DAG roles; protect actions with DAGCTL_WEB_TOKEN",
    ),
    inert(
        "jinja_environment_kwargs",
        None,
        "dagctl's template environment is fixed (strict undefined, sandboxed); remove the key",
    ),
];

/// Keys that set how a task runs: valid in `default_args` and on every task.
pub const POLICY: &[&str] = &[
    "retries",
    "retry_delay",
    "retry_delay_sec",
    "retry_exponential_backoff",
    "max_retry_delay",
    "execution_timeout",
    "execution_timeout_secs",
    "max_active_tis_per_dag",
    "trigger_rule",
    "pool",
    "pool_slots",
    "owner",
    "on_failure_callback",
    "on_success_callback",
    "on_retry_callback",
    "python",
];

/// Keys of `default_args` besides the policy keys (Airflow lets the dates live there).
pub const DEFAULT_ARGS_EXTRA: &[&str] = &["start_date", "end_date"];

/// Task and default_args keys that Airflow knows and dagctl does not act on.
pub const TASK_INERT: &[Inert] = &[
    inert(
        "depends_on_past",
        Some(false),
        "dagctl does not make a task wait for its previous run; chain the runs with \
         `max_active_runs: 1` or an `external_dag_sensor`",
    ),
    inert(
        "wait_for_downstream",
        Some(false),
        "dagctl does not make a task wait for its previous run; use `max_active_runs: 1`",
    ),
    inert(
        "email_on_failure",
        Some(false),
        "dagctl sends no email itself: add an `on_failure_callback` with the `notify` operator",
    ),
    inert(
        "email_on_retry",
        Some(false),
        "dagctl sends no email itself: add an `on_retry_callback` with the `notify` operator",
    ),
    inert(
        "email",
        None,
        "dagctl sends no email itself: add an `on_failure_callback` with the `notify` operator",
    ),
    inert(
        "queue",
        None,
        "dagctl has no executor queues: limit where and how much runs with `pool`",
    ),
    inert(
        "priority_weight",
        None,
        "dagctl runs ready tasks in order of their run and position; remove the key",
    ),
    inert(
        "weight_rule",
        None,
        "dagctl runs ready tasks in order of their run and position; remove the key",
    ),
    inert(
        "sla",
        None,
        "SLAs are gone in Airflow 3 and dagctl: use `execution_timeout` or the DAG's `dagrun_timeout`",
    ),
    inert(
        "sla_secs",
        None,
        "SLAs are gone in Airflow 3 and dagctl: use `execution_timeout` or the DAG's `dagrun_timeout`",
    ),
    inert(
        "do_xcom_push",
        Some(true),
        "dagctl operators always push their result; remove the key",
    ),
    inert(
        "executor_config",
        None,
        "dagctl runs tasks as local processes: size them with `pool` and `pool_slots`",
    ),
];

/// Task keys the engine reads itself (besides the policy keys); all others are the operator's.
pub const TASK: &[&str] = &[
    "task_id",
    "operator",
    "dependencies",
    "task_group_name",
    "doc_md",
    "doc",
    "outlets",
    "inlets",
];

/// Keys of a task group.
pub const GROUP: &[&str] = &[
    "group_name",
    "tooltip",
    "dependencies",
    "parent_group_name",
    "prefix_group_id",
    "default_args",
];

/// The union of several key lists.
pub fn all(lists: &[&[&'static str]]) -> Vec<&'static str> {
    lists.iter().flat_map(|l| l.iter().copied()).collect()
}
