//! Airflow operator names as dag-factory files write them, mapped onto dagctl's operators.

use crate::operator::OperatorRegistry;
use crate::suggest::quoted_list;

/// What an `operator:` value stands for.
pub(crate) enum OperatorName {
    /// A registered dagctl operator.
    Known(String),
    /// A construct dagctl does not run, with what to use instead.
    Unsupported { message: String, hint: String },
    /// No operator of that name.
    Unknown,
}

/// Resolves an `operator:` value: a registered name, or an Airflow class name (short or fully
/// qualified) that maps onto one.
pub(crate) fn resolve(name: &str, registry: &OperatorRegistry) -> OperatorName {
    if registry.get(name).is_some() {
        return OperatorName::Known(name.to_string());
    }
    if let Some(op) = task_decorator(name)
        && registry.get(op).is_some()
    {
        return OperatorName::Known(op.to_string());
    }
    let short = name.rsplit('.').next().unwrap_or(name);
    let mapped = match short {
        "BashOperator" => Some("command"),
        "PythonOperator" => Some("python"),
        "BranchPythonOperator" => Some("python_branch"),
        "ShortCircuitOperator" => Some("python_short_circuit"),
        "EmptyOperator" | "DummyOperator" => Some("noop"),
        "ExternalTaskSensor" => Some("external_dag_sensor"),
        "HttpOperator" | "SimpleHttpOperator" => Some("http"),
        _ => None,
    };
    if let Some(target) = mapped {
        if registry.get(target).is_some() {
            return OperatorName::Known(target.to_string());
        }
        return OperatorName::Unknown;
    }
    if short.contains("Python") || short == "ShortCircuitOperator" {
        return OperatorName::Unsupported {
            message: format!("operator `{name}` runs Python callables, which dagctl does not do"),
            hint: python_hint(),
        };
    }
    let airflowish =
        name.starts_with("airflow.") || short.ends_with("Operator") || short.ends_with("Sensor");
    if airflowish {
        return OperatorName::Unsupported {
            message: format!("Airflow operator `{name}` is not supported here"),
            hint: format!(
                "use one of the dagctl operators: {}; a `command` task (or `BashOperator` with \
                 `bash_command`) runs any program",
                quoted_list(registry.names())
            ),
        };
    }
    OperatorName::Unknown
}

/// The operator that runs a `decorator:` value of Airflow's TaskFlow: `@task` (`python`),
/// `@task.branch` (`python_branch`), `@task.short_circuit` (`python_short_circuit`).
pub(crate) fn task_decorator(name: &str) -> Option<&'static str> {
    let (base, kind) = match name.rsplit_once(".task.") {
        Some((base, kind)) => (base, kind),
        None => (name.strip_suffix(".task")?, ""),
    };
    if !matches!(
        base,
        "airflow.decorators" | "airflow.sdk" | "airflow.sdk.definitions.decorators"
    ) {
        return None;
    }
    match kind {
        "" => Some("python"),
        "branch" => Some("python_branch"),
        "short_circuit" => Some("python_short_circuit"),
        _ => None,
    }
}

/// What to do instead of a Python callable.
pub(crate) fn python_hint() -> String {
    "run the function with `operator: PythonOperator` and `python_callable: module.function` \
     (a file `module.py` beside the DAG), or move it into a script run by a `command` task, \
     for example `bash_command: python3 scripts/job.py {{ ds }}`"
        .to_string()
}

/// The dagctl operator a dag-factory `callback:` callable stands for, with the renames of its
/// keyword arguments (to `""`: an argument with no equivalent, refused).
pub(crate) fn callback_operator(
    callable: &str,
) -> Option<(String, &'static [(&'static str, &'static str)])> {
    const SLACK: &[(&str, &str)] = &[
        ("slack_conn_id", "conn_id"),
        ("slack_webhook_conn_id", "conn_id"),
        ("channel", ""),
        ("username", ""),
        ("icon_url", ""),
        ("icon_emoji", ""),
    ];
    if let Some(op) = callable.strip_prefix("dagctl.") {
        return Some((op.rsplit('.').next().unwrap_or(op).to_string(), &[]));
    }
    let short = callable.rsplit('.').next().unwrap_or(callable);
    match short {
        "send_slack_notification"
        | "SlackNotifier"
        | "send_slack_webhook_notification"
        | "SlackWebhookNotifier" => Some(("notify".to_string(), SLACK)),
        _ => None,
    }
}
