//! Templating of operator arguments with minijinja, sandboxed, as Airflow renders them.
//!
//! Every string inside a task's arguments is rendered with Airflow 3's context
//! ([`context`]): `ds`, `ts`, `logical_date` and the other dates as pendulum date-times
//! ([`time`]), `dag_run`, `ti`, `params`, `var`, `macros` ([`macros`]) …; Python's methods on
//! strings, lists and dicts ([`pycompat`]); Airflow's filters ([`filters`]); and Python's
//! meaning of `+`, `-`, `%` and `==` on those values ([`compile`], [`ops`]).
//!
//! The environment has no loader (no `include`/`import` of files), no function that reaches
//! the filesystem, the network or processes, and a fuel limit against runaway loops. An
//! undefined name is an error that names it, rather than an empty string.

mod check;
mod compile;
mod connections;
mod context;
mod enums;
mod filters;
mod json;
mod macros;
mod ops;
mod percent;
mod pycompat;
mod time;

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use minijinja::value::Value;
use minijinja::{Environment, ErrorKind, UndefinedBehavior};

pub use check::{TemplateProblem, check};

/// A serializable value as a template value (maps keep their order, as Python's dicts).
fn serde<T: serde::Serialize + ?Sized>(value: &T) -> Value {
    Value::from(minijinja::value::Serde(value))
}

/// The data templates can see, for one try.
#[derive(Debug, Clone)]
pub struct RunData<'a> {
    /// The DAG.
    pub dag_id: &'a str,
    /// The run.
    pub run_id: &'a str,
    /// `manual`, `scheduled`, …
    pub run_type: &'a str,
    /// The task.
    pub task_id: &'a str,
    /// The try number.
    pub try_number: u32,
    /// The logical date.
    pub logical_date: DateTime<Utc>,
    /// Start of the data interval.
    pub data_interval_start: DateTime<Utc>,
    /// End of the data interval.
    pub data_interval_end: DateTime<Utc>,
    /// Params (DAG defaults with the run's overrides).
    pub params: &'a serde_json::Map<String, serde_json::Value>,
    /// `dag_run.conf`.
    pub conf: &'a serde_json::Value,
    /// Variables, raw (loaded only when a template mentions `var`).
    pub variables: &'a BTreeMap<String, String>,
    /// XComs of the run as (task, key, value) (loaded only when a template pulls one).
    pub xcoms: &'a [(String, String, serde_json::Value)],
    /// The DAG's latest successful run before this one (loaded only when a template reads
    /// `prev_…_success`).
    pub previous_success: Option<PreviousRun>,
    /// The connections (loaded only when a template mentions `conn.`).
    pub connections: &'a [crate::store::Connection],
    /// The task's inlets (dataset URIs).
    pub inlets: &'a [String],
    /// The task's outlets (dataset URIs).
    pub outlets: &'a [String],
}

/// The dates of a DAG's previous successful run (`prev_data_interval_start_success` …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreviousRun {
    /// Its data interval's start.
    pub data_interval_start: DateTime<Utc>,
    /// Its data interval's end.
    pub data_interval_end: DateTime<Utc>,
    /// When it started.
    pub start_date: Option<DateTime<Utc>>,
    /// When it ended.
    pub end_date: Option<DateTime<Utc>>,
}

/// Why an argument could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// The argument's path (`bash_command`, `args.1`, `env.TARGET`).
    pub argument: String,
    /// The template text.
    pub template: String,
    /// The line within the template, when known.
    pub line: Option<usize>,
    /// The undefined name, when that is the problem (`var.value.missing`).
    pub undefined: Option<String>,
    /// The engine's message.
    pub message: String,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot render argument `{}`", self.argument)?;
        if let Some(line) = self.line {
            write!(f, " (line {line})")?;
        }
        match &self.undefined {
            Some(name) => write!(f, ": `{name}` is undefined")?,
            None => write!(f, ": {}", self.message)?,
        }
        write!(f, "; template: {}", self.template)
    }
}

impl std::error::Error for TemplateError {}

/// Which inputs the templates of some arguments need, so that only those are loaded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    /// Some string holds a template.
    pub any: bool,
    /// A template mentions `var`.
    pub variables: bool,
    /// A template pulls an XCom.
    pub xcom: bool,
    /// A template reads the previous successful run (`prev_…_success`).
    pub previous: bool,
    /// A template reads a connection (`conn.NAME`).
    pub connections: bool,
}

/// Scans arguments for templates.
pub fn needs(args: &serde_json::Value) -> Needs {
    let mut n = Needs::default();
    visit_strings(args, &mut |s| {
        if is_template(s) {
            n.any = true;
            n.variables |= s.contains("var.") || s.contains("var[");
            n.xcom |= s.contains("xcom_pull");
            n.previous |= s.contains("prev_");
            n.connections |= s.contains("conn.") || s.contains("conn[");
        }
    });
    n
}

fn visit_strings(v: &serde_json::Value, f: &mut impl FnMut(&str)) {
    match v {
        serde_json::Value::String(s) => f(s),
        serde_json::Value::Array(items) => items.iter().for_each(|i| visit_strings(i, f)),
        serde_json::Value::Object(m) => m.values().for_each(|i| visit_strings(i, f)),
        _ => {}
    }
}

fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%") || s.contains("{#")
}

/// Renders templates: one sandboxed environment, shared.
pub struct Renderer {
    env: Environment<'static>,
    /// The same, for shell arguments: values are quoted (see [`super::shell_quote`]).
    shell: Environment<'static>,
}

impl Default for Renderer {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Renderer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Renderer")
    }
}

impl Renderer {
    /// A sandboxed environment: no loader, strict undefined, bounded work.
    pub fn new() -> Self {
        let sandboxed = || {
            let mut env = Environment::new();
            env.set_undefined_behavior(UndefinedBehavior::Strict);
            env.set_fuel(Some(200_000));
            env.set_recursion_limit(64);
            env.set_unknown_method_callback(pycompat::unknown_method);
            ops::register(&mut env);
            filters::register(&mut env);
            env.add_global("macros", macros::macros());
            env
        };
        let mut shell = sandboxed();
        shell.set_formatter(super::shell_quote::formatter);
        Renderer {
            env: sandboxed(),
            shell,
        }
    }

    /// The template context for one try.
    pub fn context(&self, d: &RunData<'_>) -> Value {
        context::build(d, false)
    }

    /// Renders the names of a mapped task's instances (`map_index_template`): the run's
    /// context (`d`, built once for all of them), with `task` holding each instance's
    /// arguments (`{{ task.bash_command }}`) and its id, and `ti.map_index` its index.
    ///
    /// # Errors
    /// The first instance whose name cannot be rendered, with the [`TemplateError`].
    pub fn render_map_indexes(
        &self,
        template: &str,
        d: &RunData<'_>,
        instances: &[(String, serde_json::Value)],
    ) -> Result<Vec<String>, (usize, TemplateError)> {
        let base = self.context(d);
        let xcom_pull = base
            .get_attr("ti")
            .and_then(|ti| ti.get_attr("xcom_pull"))
            .unwrap_or_default();
        let path = ["map_index_template".to_string()];
        let mut names = Vec::with_capacity(instances.len());
        for (i, (id, args)) in instances.iter().enumerate() {
            let mut task = args.clone();
            if let serde_json::Value::Object(m) = &mut task {
                m.insert("task_id".into(), serde_json::Value::String(id.clone()));
            }
            let ctx = minijinja::context! {
                task => Value::from(minijinja::value::Serde(&task)),
                ti => minijinja::context! {
                    task_id => id,
                    dag_id => d.dag_id,
                    run_id => d.run_id,
                    try_number => d.try_number,
                    map_index => i,
                    xcom_pull => xcom_pull.clone(),
                },
                ..base.clone()
            };
            names.push(
                self.render_str(template, &ctx, &path, false)
                    .map_err(|e| (i, e))?,
            );
        }
        Ok(names)
    }

    /// Renders every string of `args` that holds a template; other values are kept. The
    /// top-level arguments named in `shell` are shell commands: the values their templates
    /// insert are quoted as data ([`crate::Operator::shell_args`]).
    ///
    /// # Errors
    /// The first [`TemplateError`], naming the argument, the template, the line and the
    /// undefined name if that is the cause.
    pub fn render_args(
        &self,
        args: &serde_json::Value,
        ctx: &Value,
        shell: &[&str],
    ) -> Result<serde_json::Value, TemplateError> {
        self.render_value(args, ctx, &mut Vec::new(), shell)
    }

    fn render_value(
        &self,
        v: &serde_json::Value,
        ctx: &Value,
        path: &mut Vec<String>,
        shell: &[&str],
    ) -> Result<serde_json::Value, TemplateError> {
        use serde_json::Value as J;
        Ok(match v {
            J::String(s) if is_template(s) => {
                let is_shell = matches!(path.as_slice(), [arg] if shell.contains(&arg.as_str()));
                J::String(self.render_str(s, ctx, path, is_shell)?)
            }
            J::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    path.push(i.to_string());
                    out.push(self.render_value(item, ctx, path, shell)?);
                    path.pop();
                }
                J::Array(out)
            }
            J::Object(m) => {
                let mut out = serde_json::Map::with_capacity(m.len());
                for (k, item) in m {
                    path.push(k.clone());
                    out.insert(k.clone(), self.render_value(item, ctx, path, shell)?);
                    path.pop();
                }
                J::Object(out)
            }
            other => other.clone(),
        })
    }

    /// Renders one template string.
    fn render_str(
        &self,
        s: &str,
        ctx: &Value,
        path: &[String],
        is_shell: bool,
    ) -> Result<String, TemplateError> {
        let rendered = if is_shell {
            super::shell_quote::render(|| compile::render(&self.shell, s, ctx.clone()))
        } else {
            compile::render(&self.env, s, ctx.clone())
        };
        rendered.map_err(|e| {
            let undefined = (e.kind() == ErrorKind::UndefinedError)
                .then(|| self.first_undefined(s, ctx))
                .flatten();
            TemplateError {
                argument: path.join("."),
                template: s.to_string(),
                line: e.line(),
                undefined,
                message: e
                    .detail()
                    .map_or_else(|| e.kind().to_string(), str::to_string),
            }
        })
    }

    /// The first dotted name a template uses that the context cannot resolve.
    fn first_undefined(&self, source: &str, ctx: &Value) -> Option<String> {
        let tmpl = self.env.template_from_str(source).ok()?;
        let mut names: Vec<String> = tmpl.undeclared_variables(true).into_iter().collect();
        names.sort();
        names.into_iter().find(|name| {
            let mut cur = ctx.clone();
            for part in name.split('.') {
                match cur.get_attr(part) {
                    Ok(v) if !v.is_undefined() => cur = v,
                    // `logical_date.in_timezone(…)` reads as a name too: a method is there.
                    _ if time::methods_of(&cur).is_some_and(|m| m.contains(&part)) => {
                        return false;
                    }
                    _ => return true,
                }
            }
            false
        })
    }
}

#[cfg(test)]
mod tests;
