//! Callbacks (`on_failure_callback`, `on_success_callback`, `on_retry_callback`): operator
//! invocations checked like tasks, and dag-factory's `{callback: …}` dict form for the
//! callables dagctl has an operator for.

use crate::diagnostic::Kind;
use crate::suggest::quoted_list;
use crate::yaml::{Node, key_text};

use super::LoadEnv;
use super::airflow;
use super::reader::Reader;
use super::task::{operator, report_args_error};

/// A callback: a mapping `{operator: …, <its arguments>}`, or a list of them; `null` for none.
/// Each is checked by its operator at load time, like a task.
pub(crate) fn read_callbacks(
    r: &mut Reader<'_>,
    env: LoadEnv<'_>,
    node: &Node,
    what: &str,
) -> Vec<crate::dag::Callback> {
    let items: Vec<&Node> = match (&node.value, node.is_null()) {
        (_, true) => return Vec::new(),
        (crate::yaml::Value::Seq(items), _) => items.iter().collect(),
        _ => vec![node],
    };
    let mut out = Vec::new();
    for item in items {
        // `pkg.module.function`: a Python callable, called with Airflow's context.
        if let Some(callable) = item.as_scalar().filter(|c| is_import_path(c))
            && env.registry.get(PYTHON).is_some()
        {
            out.extend(python_callback(
                r,
                env,
                item,
                callable,
                serde_json::Map::new(),
                what,
            ));
            continue;
        }
        let Some(entries) = item.as_map() else {
            r.error(
                item.pos,
                Kind::Unsupported,
                format!(
                    "`{what}` must be an operator invocation, found {}",
                    item.kind_name()
                ),
            )
            .hint = Some(
                "name a Python function (`module.function`), or write an operator invocation \
                 such as `{operator: command, bash_command: notify.sh {{ task.task_id }}}`"
                    .into(),
            );
            continue;
        };
        if let Some(cb) = item.get("callback") {
            if let Some(c) = dict_callback(r, env, item, cb, what) {
                out.push(c);
            }
            continue;
        }
        let Some(op_node) = item.get("operator") else {
            r.error(
                item.pos,
                Kind::MissingKey,
                format!("`{what}` has no `operator`"),
            )
            .hint = Some(format!(
                "add `operator:` with one of: {}",
                quoted_list(env.registry.names())
            ));
            continue;
        };
        let name = r.string(op_node, "operator").unwrap_or_default();
        let mut args = serde_json::Value::Object(
            entries
                .iter()
                .filter(|(k, _)| k.as_scalar() != Some("operator"))
                .map(|(k, v)| (key_text(k), v.to_json()))
                .collect(),
        );
        let context = format!(" in `{what}`");
        if let Some(op) = operator(
            r,
            env,
            &name,
            op_node.pos,
            item,
            &mut args,
            what,
            &context,
            &[],
        ) {
            out.push(crate::dag::Callback { operator: op, args });
        }
    }
    out
}

/// The operator that runs Python callbacks.
const PYTHON: &str = "python";

/// Whether `text` reads as `module.function` (letters, digits, `_`, at least one dot).
fn is_import_path(text: &str) -> bool {
    text.contains('.')
        && text.split('.').all(|part| {
            part.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

/// A Python callable as a callback: run by the `python` operator, called as Airflow calls
/// callbacks (`callable(context, **kwargs)`), its module found from the DAG file as a task's.
fn python_callback(
    r: &mut Reader<'_>,
    env: LoadEnv<'_>,
    item: &Node,
    callable: &str,
    kwargs: serde_json::Map<String, serde_json::Value>,
    what: &str,
) -> Option<crate::dag::Callback> {
    let mut map = serde_json::Map::new();
    map.insert("python_callable".into(), callable.into());
    map.insert("op_kwargs".into(), serde_json::Value::Object(kwargs));
    map.insert("callback".into(), true.into());
    super::python::prepare(r, env, item, &mut map);
    super::python::check_interpreter(r, item, &map);
    let mut args = serde_json::Value::Object(map);
    let context = format!(" in `{what}`");
    let op = operator(
        r,
        env,
        PYTHON,
        item.pos,
        item,
        &mut args,
        what,
        &context,
        &[],
    )?;
    Some(crate::dag::Callback { operator: op, args })
}

/// dag-factory's `{callback: <callable>, <its keyword arguments>}`: the callables dagctl has an
/// operator for (Slack notifications onto `notify`, `dagctl.<operator>`), else a Python
/// callable.
fn dict_callback(
    r: &mut Reader<'_>,
    env: LoadEnv<'_>,
    item: &Node,
    cb: &Node,
    what: &str,
) -> Option<crate::dag::Callback> {
    let callable = r.string(cb, "callback")?;
    let Some((operator, renames)) = airflow::callback_operator(&callable) else {
        if is_import_path(&callable) && env.registry.get(PYTHON).is_some() {
            // A Python callable, with the other keys as its keyword arguments.
            let kwargs = item
                .as_map()
                .unwrap_or_default()
                .iter()
                .filter(|(k, _)| k.as_scalar() != Some("callback"))
                .map(|(k, v)| (key_text(k), v.to_json()))
                .collect();
            return python_callback(r, env, item, &callable, kwargs, what);
        }
        r.error(
            cb.pos,
            Kind::Unsupported,
            format!(
                "`callback: {callable}` in `{what}` names neither a Python function (`module.function`) nor a dagctl operator"
            ),
        )
        .hint = Some(
            "name a function of a module beside the DAG (`callback: module.function`), use \
             `callback: dagctl.notify` (or `dagctl.<operator>`) with that operator's arguments, a \
             Slack notifier (`send_slack_notification`), or `{operator: command, bash_command: …}`"
                .into(),
        );
        return None;
    };
    if env.registry.get(&operator).is_none() {
        r.error(
            cb.pos,
            Kind::UnknownOperator,
            format!("`callback: {callable}` names no dagctl operator"),
        )
        .hint = Some(format!("operators: {}", quoted_list(env.registry.names())));
        return None;
    }
    let mut args = serde_json::Map::new();
    for (k, v) in item.as_map().unwrap_or_default() {
        let key = key_text(k);
        if key == "callback" {
            continue;
        }
        match renames.iter().find(|(from, _)| *from == key) {
            Some((_, "")) => {
                r.error(
                    k.pos,
                    Kind::Unsupported,
                    format!("`{key}` of `{callable}` has no dagctl equivalent"),
                )
                .hint =
                    Some("a webhook posts to the channel it was made for: remove the key".into());
            }
            Some((_, to)) => {
                args.insert((*to).to_string(), v.to_json());
            }
            None => {
                args.insert(key, v.to_json());
            }
        }
    }
    let args = serde_json::Value::Object(args);
    if let Some(Err(e)) = env.registry.get(&operator).map(|o| o.check_args(&args)) {
        report_args_error(r, &operator, what, item, cb.pos, e);
        return None;
    }
    Some(crate::dag::Callback { operator, args })
}
