//! Templates of a task's arguments checked when its DAG loads: one that cannot render for
//! any run (see [`crate::template::check`]) is an error at its file, line and column, not a
//! failure at 3 am.

use super::diagnostic::Kind;
use super::reader::Reader;
use super::yaml::{Node, PathSegment, Pos};

/// Checks every templated string of `args` (`shell`: the arguments that are shell commands;
/// `late`: those whose value a mapped task gets at run time, not checked here); reports each
/// problem where it is written. `false` when one was found.
pub(super) fn check(
    r: &mut Reader<'_>,
    node: &Node,
    args: &serde_json::Value,
    shell: &[&str],
    subject: &str,
    late: &[&str],
) -> bool {
    let mut ok = true;
    let mut path = Vec::new();
    visit(args, &mut path, &mut |path, text| {
        if matches!(path.first(), Some(PathSegment::Key(k)) if late.contains(&k.as_str())) {
            return;
        }
        let is_shell = matches!(path, [PathSegment::Key(k)] if shell.contains(&k.as_str()));
        let Err(problem) = crate::template::check(text, is_shell) else {
            return;
        };
        ok = false;
        let at = node.descend(path);
        let pos = place(at, problem.line, problem.column);
        let argument = dotted(path);
        let who = if subject.is_empty() {
            String::new()
        } else {
            format!(" of {subject}")
        };
        r.error(
            pos,
            Kind::Template,
            format!(
                "the template of `{argument}`{who} cannot render (line {} column {} of it): {}",
                problem.line, problem.column, problem.message
            ),
        )
        .hint = problem.hint;
    });
    ok
}

/// Where in the file a template's line and column are: exact for a one-line value (after
/// its opening quote) and for a block scalar (whose node starts at its first character).
fn place(at: &Node, line: usize, column: usize) -> Pos {
    let Some(text) = at.as_scalar() else {
        return at.pos;
    };
    let quoted = matches!(at.value, super::yaml::Value::Scalar { plain: false, .. });
    if !text.contains('\n') {
        let column = at.pos.column as usize + column - 1 + usize::from(quoted);
        return Pos {
            column: u32::try_from(column).unwrap_or(at.pos.column),
            ..at.pos
        };
    }
    let line = at.pos.line as usize + line - 1;
    let column = at.pos.column as usize + column - 1;
    Pos {
        line: u32::try_from(line).unwrap_or(at.pos.line),
        column: u32::try_from(column).unwrap_or(at.pos.column),
        ..at.pos
    }
}

fn dotted(path: &[PathSegment]) -> String {
    path.iter()
        .map(|s| match s {
            PathSegment::Key(k) => k.clone(),
            PathSegment::Index(i) => i.to_string(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

fn visit(
    v: &serde_json::Value,
    path: &mut Vec<PathSegment>,
    f: &mut impl FnMut(&[PathSegment], &str),
) {
    match v {
        serde_json::Value::String(s) => f(path, s),
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(PathSegment::Index(i));
                visit(item, path, f);
                path.pop();
            }
        }
        serde_json::Value::Object(m) => {
            for (k, item) in m {
                path.push(PathSegment::Key(k.clone()));
                visit(item, path, f);
                path.pop();
            }
        }
        _ => {}
    }
}
