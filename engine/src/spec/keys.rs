//! The keys each level of a DAG file accepts.

/// Keys of a DAG.
pub const DAG: &[&str] = &[
    "dag_id",
    "description",
    "doc_md",
    "schedule",
    "schedule_interval",
    "timezone",
    "start_date",
    "end_date",
    "catchup",
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

/// DAG keys that Airflow or dag-factory files carry but that change nothing in dagctl.
pub const DAG_IGNORED: &[&str] = &[
    "default_view",
    "orientation",
    "is_paused_upon_creation",
    "access_control",
    "render_template_as_native_obj",
    "dagrun_timeout",
    "dagrun_timeout_sec",
    "jinja_environment_kwargs",
    "owner_links",
    "fail_stop",
    "fail_fast",
];

/// Keys that set how a task runs: valid in `default_args` and on every task.
pub const POLICY: &[&str] = &[
    "retries",
    "retry_delay",
    "retry_delay_sec",
    "retry_exponential_backoff",
    "max_retry_delay",
    "execution_timeout",
    "trigger_rule",
    "pool",
    "pool_slots",
    "owner",
    "on_failure_callback",
    "on_success_callback",
    "on_retry_callback",
];

/// Keys of `default_args` besides the policy keys (Airflow lets the dates live there).
pub const DEFAULT_ARGS_EXTRA: &[&str] = &["start_date", "end_date"];

/// Task and default_args keys that Airflow knows but that change nothing in dagctl.
pub const TASK_IGNORED: &[&str] = &[
    "depends_on_past",
    "email",
    "email_on_failure",
    "email_on_retry",
    "wait_for_downstream",
    "queue",
    "priority_weight",
    "weight_rule",
    "sla",
    "do_xcom_push",
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
];

/// Keys of a task group.
pub const GROUP: &[&str] = &[
    "group_name",
    "tooltip",
    "dependencies",
    "parent_group_name",
    "prefix_group_id",
];

/// The union of several key lists.
pub fn all(lists: &[&[&'static str]]) -> Vec<&'static str> {
    lists.iter().flat_map(|l| l.iter().copied()).collect()
}
