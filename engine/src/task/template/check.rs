//! Finding the templates that cannot render before anything runs (`dagctl validate`).
//!
//! A template is rendered with a sample run of its DAG: the context's names and types as a
//! run has them (a previous successful run included), but every value only a run knows —
//! `dag_run.conf`, `params`, Variables, connections, XComs, dataset events, the task's
//! inlets and outlets — is [`Anything`], which has every attribute, method and item. What is
//! reported fails for every run: a syntax error, an unknown filter or test, an unknown name
//! of the context, a method or attribute the value's type does not have. Failures that
//! depend on values (a number expected where a sample stands, an item a list may not have)
//! are not: a false alarm would keep a good DAG from loading.

use std::fmt;
use std::sync::{Arc, LazyLock};

use chrono::{TimeZone, Utc};
use minijinja::value::{Enumerator, Object, ObjectRepr, Value};
use minijinja::{Error, ErrorKind, State};

use super::{Renderer, RunData, compile};
use crate::spec::suggest::closest;

/// Why a template cannot render, and where in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateProblem {
    /// The line within the template (1 for the first).
    pub line: usize,
    /// The column within that line (1 for the first character).
    pub column: usize,
    /// What is wrong.
    pub message: String,
    /// The closest known name, method or filter, when one is close.
    pub hint: Option<String>,
}

impl fmt::Display for TemplateProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A value only a run knows, standing in for it: every attribute, item, method and call
/// gives another, it iterates as one of itself (so loop bodies and `| first` are checked)
/// and prints as nothing.
#[derive(Debug)]
pub(super) struct Anything;

impl Anything {
    pub(super) fn value() -> Value {
        Value::from_object(Anything)
    }

    pub(super) fn is(v: &Value) -> bool {
        v.downcast_object_ref::<Anything>().is_some()
    }
}

impl Object for Anything {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, _key: &Value) -> Option<Value> {
        Some(Anything::value())
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(vec![Anything::value()])
    }

    fn call(self: &Arc<Self>, _state: &mut State<'_, '_>, _args: &[Value]) -> Result<Value, Error> {
        Ok(Anything::value())
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        _method: &str,
        _args: &[Value],
    ) -> Result<Value, Error> {
        Ok(Anything::value())
    }

    fn render(self: &Arc<Self>, _f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Ok(())
    }
}

static CHECKER: LazyLock<Renderer> = LazyLock::new(Renderer::new);

/// The context of a sample run: a manual run on a fixed date, first try.
static SAMPLE: LazyLock<Value> = LazyLock::new(|| {
    let at = Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default();
    let empty = serde_json::Map::new();
    let conf = serde_json::json!({});
    let vars = Default::default();
    let d = RunData {
        dag_id: "dag",
        run_id: "manual__2026-01-01T00:00:00+00:00",
        run_type: "manual",
        task_id: "task",
        try_number: 1,
        logical_date: at,
        data_interval_start: at,
        data_interval_end: at,
        params: &empty,
        conf: &conf,
        variables: &vars,
        xcoms: &[],
        previous_success: Some(super::PreviousRun {
            data_interval_start: at,
            data_interval_end: at,
            start_date: Some(at),
            end_date: Some(at),
        }),
        connections: &[],
        inlets: &[],
        outlets: &[],
    };
    super::context::build(&d, true)
});

/// minijinja's built-in filters and Airflow's, for suggestions.
const FILTERS: &[&str] = &[
    "abs",
    "attr",
    "batch",
    "bool",
    "capitalize",
    "count",
    "d",
    "default",
    "dictsort",
    "e",
    "escape",
    "first",
    "float",
    "format",
    "groupby",
    "indent",
    "int",
    "items",
    "join",
    "last",
    "length",
    "lines",
    "list",
    "lower",
    "map",
    "max",
    "min",
    "pprint",
    "reject",
    "rejectattr",
    "replace",
    "reverse",
    "round",
    "safe",
    "select",
    "selectattr",
    "slice",
    "sort",
    "split",
    "string",
    "sum",
    "title",
    "tojson",
    "trim",
    "unique",
    "upper",
    "urlencode",
    "ds",
    "ds_nodash",
    "ts",
    "ts_nodash",
    "ts_nodash_with_tz",
];

/// Renders `template` with a sample run; `shell` for a shell command's argument.
///
/// # Errors
/// The [`TemplateProblem`] that makes every run fail.
pub fn check(template: &str, shell: bool) -> Result<(), TemplateProblem> {
    if !super::is_template(template) {
        return Ok(());
    }
    let r = &*CHECKER;
    let ctx = SAMPLE.clone();
    let env = if shell { &r.shell } else { &r.env };
    let result = if shell {
        super::super::shell_quote::render(|| compile::render(env, template, ctx.clone()))
    } else {
        compile::render(env, template, ctx.clone())
    };
    let Err(e) = result else { return Ok(()) };
    let (line, column) = position(template, &e);
    let detail = e
        .detail()
        .map_or_else(|| e.kind().to_string(), str::to_string);
    let (message, hint) = match e.kind() {
        ErrorKind::SyntaxError | ErrorKind::BadEscape => (format!("syntax error: {detail}"), None),
        ErrorKind::UnknownFilter | ErrorKind::UnknownTest => {
            let name = detail
                .split_whitespace()
                .nth(1)
                .unwrap_or_default()
                .to_string();
            (
                detail,
                closest(&name, FILTERS.iter().copied()).map(|c| format!("did you mean `{c}`?")),
            )
        }
        ErrorKind::UnknownFunction => (detail, None),
        ErrorKind::UnknownMethod => {
            // The message names the closest method already.
            (detail, None)
        }
        // Only a name of the context, or an attribute of a value it holds, that is not
        // there; an item or a filter's result missing may be there on a run.
        ErrorKind::UndefinedError => match r.first_undefined(template, &ctx) {
            Some(name) => {
                let hint = suggest_name(&ctx, &name);
                (format!("`{name}` is undefined"), hint)
            }
            None => return Ok(()),
        },
        // The rest depends on values a run has (a number where a sample stands …).
        _ => return Ok(()),
    };
    Err(TemplateProblem {
        line,
        column,
        message,
        hint,
    })
}

/// The closest known name to an undefined `a.b.c`: among the context's names, or the
/// attributes of what `a.b` is.
fn suggest_name(ctx: &Value, dotted: &str) -> Option<String> {
    let parts: Vec<&str> = dotted.split('.').collect();
    let (last, parents) = parts.split_last()?;
    let mut parent = ctx.clone();
    for p in parents {
        parent = parent.get_attr(p).ok()?;
    }
    let names: Vec<String> = if let Some(attrs) = super::time::attributes_of(&parent) {
        attrs.into_iter().map(str::to_string).collect()
    } else {
        parent
            .try_iter()
            .ok()?
            .filter_map(|k| k.as_str().map(str::to_string))
            .collect()
    };
    closest(last, names.iter().map(String::as_str)).map(|c| format!("did you mean `{c}`?"))
}

/// The 1-based line and column of an error within the template.
fn position(template: &str, e: &Error) -> (usize, usize) {
    match e.range() {
        Some(range) => {
            let before = &template[..range.start.min(template.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            (line, column)
        }
        None => (e.line().unwrap_or(1), 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_fails_every_run_is_found_with_its_place() {
        for ok in [
            "{{ ds }} {{ logical_date.strftime('%Y') }} {{ dag_run.conf.get('k', 1) }}",
            "{{ dag_run.conf.anything.at_all() }} {{ params.n + 1 }} {{ var.value.x | upper }}",
            "{{ ti.xcom_pull(task_ids='a')['rows'] | length }} {{ macros.ds_add(ds, params.days) }}",
            "{% for k, v in dag_run.conf.items() %}{{ k }}{% endfor %}",
            "plain text",
            // Values a run has (an item, a filter's pick, the previous run's dates).
            "{{ ti.xcom_pull(task_ids='a') | first }} {{ params.ids | max }} {{ outlets[0] }}",
            "{{ dag_run.conf.get('files', []) | first }} {{ (params.xs | list)[0] }}",
            "{{ params | dictsort | first }} {{ triggering_asset_events.values() | first }}",
            "{{ prev_data_interval_start_success.strftime('%Y') }} {{ conn.db.host }}",
            "{{ prev_start_date_success | ds }} {% for f in params.files %}{{ f.upper() }}{% endfor %}",
        ] {
            assert_eq!(check(ok, false), Ok(()), "{ok}");
        }
        let p = check("echo {{ ds }}\n{{ logical_date.strftme('%Y') }}", true).unwrap_err();
        assert_eq!((p.line, p.column), (2, 16), "{p:?}");
        assert_eq!(
            p.message,
            "datetime has no method named strftme (did you mean `strftime`?)"
        );
        let p = check("{{ ds | ds_nodsh }}", false).unwrap_err();
        assert_eq!(p.hint.as_deref(), Some("did you mean `ds_nodash`?"));
        let p = check("{{ logical_dat }}", false).unwrap_err();
        assert_eq!(p.hint.as_deref(), Some("did you mean `logical_date`?"));
        let p = check("{{ logical_date.yeer }}", false).unwrap_err();
        assert_eq!(p.hint.as_deref(), Some("did you mean `year`?"));
        let p = check("{{ ds.uper() }}", false).unwrap_err();
        assert!(p.message.contains("did you mean `upper`"), "{p:?}");
        assert!(
            check("{% if %}", false)
                .unwrap_err()
                .message
                .starts_with("syntax error")
        );
    }
}
