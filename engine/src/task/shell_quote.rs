//! Templated values in shell commands are data, never code.
//!
//! A template rendered for a shell argument (`bash_command`) does not paste values into the
//! command: each `{{ … }}` first leaves a marker, then the rendered command is read with the
//! shell's quoting rules and every marker is replaced by its value quoted for the place it
//! landed in: unquoted (`echo {{ x }}` → `echo 'a b; rm -rf ~'`), inside double quotes
//! (`"{{ x }}"` → `$`, `` ` ``, `\` and `"` escaped) or inside single quotes (`'{{ x }}'` →
//! `'` closed, escaped, reopened). Values made only of characters no shell treats specially
//! (`2026-01-05`, `manual__2026-01-05T00:00:00+00:00`, `/data/raw`) are left as they are,
//! so commands read the same in logs as they always did.
//!
//! The escape hatch is minijinja's `safe` filter: `{{ var.value.script | safe }}` inserts the
//! value as shell code, for the rare template that builds a command on purpose.

use std::cell::RefCell;

use minijinja::value::Value;
use minijinja::{Error, ErrorKind, Output, State};

/// Separates a marker from the text around it; no command can hold it (bash strings end at
/// NUL), so no template text can forge one.
const MARK: char = '\0';

thread_local! {
    /// The values of the template being rendered on this thread, by marker number; `None`
    /// when no shell template is being rendered.
    static VALUES: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
}

/// The formatter of the shell environment: `safe` values are pasted, others leave a marker.
pub(super) fn formatter(out: &mut Output, _state: &mut State, value: &Value) -> Result<(), Error> {
    let text = value.to_string();
    if value.is_safe() {
        return out.write_str(&text).map_err(Error::from);
    }
    let n = VALUES.with(|v| {
        let mut v = v.borrow_mut();
        let values = v.get_or_insert_with(Vec::new);
        values.push(text);
        values.len() - 1
    });
    write!(out, "{MARK}{n}{MARK}").map_err(Error::from)
}

/// Renders with `render` (which must use the shell environment), then quotes the values.
///
/// # Errors
/// The render's error, or one saying a value holds a NUL character.
pub(super) fn render(render: impl FnOnce() -> Result<String, Error>) -> Result<String, Error> {
    VALUES.with(|v| *v.borrow_mut() = Some(Vec::new()));
    let rendered = render();
    let values = VALUES.with(|v| v.borrow_mut().take()).unwrap_or_default();
    quote(&rendered?, &values)
}

/// Where in a command the reader is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// Words: the top level, `$( … )`, `( … )` and backticks.
    Plain,
    /// `$( … )` (closed by `)`).
    Substitution,
    /// `( … )` inside a substitution (closed by `)` too).
    Parens,
    /// `` ` … ` ``.
    Backticks,
    /// `' … '`.
    Single,
    /// `" … "`.
    Double,
}

fn quote(rendered: &str, values: &[String]) -> Result<String, Error> {
    let bad = |what: &str| Error::new(ErrorKind::InvalidOperation, what.to_string());
    let mut out = String::with_capacity(rendered.len());
    let mut places = vec![Place::Plain];
    let mut chars = rendered.chars().peekable();
    while let Some(c) = chars.next() {
        let place = *places.last().unwrap_or(&Place::Plain);
        if c == MARK {
            let digits: String = chars.by_ref().take_while(|&d| d != MARK).collect();
            let value = digits
                .parse::<usize>()
                .ok()
                .and_then(|n| values.get(n))
                .ok_or_else(|| bad("a NUL character cannot be part of a shell command"))?;
            if value.contains(MARK) {
                return Err(bad("a NUL character cannot be part of a shell command"));
            }
            quoted(&mut out, value, place);
            continue;
        }
        out.push(c);
        match (place, c) {
            (Place::Single, '\'') | (Place::Double, '"') | (Place::Backticks, '`') => {
                places.pop();
            }
            (Place::Single, _) => {}
            (_, '\\') => {
                // The next character is taken literally; a marker never is.
                if let Some(&next) = chars.peek()
                    && next != MARK
                {
                    out.push(next);
                    chars.next();
                }
            }
            (_, '$') if chars.peek() == Some(&'(') => {
                out.push('(');
                chars.next();
                places.push(Place::Substitution);
            }
            (Place::Double, _) => {}
            (_, '\'') => places.push(Place::Single),
            (_, '"') => places.push(Place::Double),
            (_, '`') => places.push(Place::Backticks),
            (_, '(') => places.push(Place::Parens),
            (Place::Substitution | Place::Parens, ')') => {
                places.pop();
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Appends `value` quoted for `place`.
fn quoted(out: &mut String, value: &str, place: Place) {
    match place {
        Place::Single => out.push_str(&value.replace('\'', r"'\''")),
        Place::Double => {
            for c in value.chars() {
                if matches!(c, '\\' | '$' | '`' | '"') {
                    out.push('\\');
                }
                out.push(c);
            }
        }
        // An empty value outside quotes is nothing, as in Airflow (`{{ x | default('') }}`
        // drops out of the command rather than becoming an empty argument).
        _ if value.is_empty() || is_plain_word(value) => out.push_str(value),
        _ => {
            out.push('\'');
            out.push_str(&value.replace('\'', r"'\''"));
            out.push('\'');
        }
    }
}

/// Whether no shell reads anything special into `value` as a word.
fn is_plain_word(value: &str) -> bool {
    !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./:=@%+,-".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(template_out: &str, values: &[&str]) -> String {
        let values: Vec<String> = values.iter().map(|s| s.to_string()).collect();
        quote(template_out, &values).unwrap()
    }

    #[test]
    fn values_are_quoted_for_where_they_land() {
        let evil = "a'b \"c\" $(touch x) `y` \\";
        assert_eq!(q("echo \x000\x00", &["2026-01-05"]), "echo 2026-01-05");
        assert_eq!(
            q("echo \x000\x00", &[evil]),
            r#"echo 'a'\''b "c" $(touch x) `y` \'"#
        );
        assert_eq!(
            q("echo \"x \x000\x00 y\"", &[evil]),
            r#"echo "x a'b \"c\" \$(touch x) \`y\` \\ y""#
        );
        assert_eq!(
            q("echo 'x \x000\x00 y'", &[evil]),
            r#"echo 'x a'\''b "c" $(touch x) `y` \ y'"#
        );
        assert_eq!(q("echo \x000\x00", &[""]), "echo ");
        // Quotes of the command itself are followed, escapes and substitutions included.
        assert_eq!(
            q("echo \"$(cat '\x000\x00')\" \\' \x001\x00", &["a b", "c d"]),
            "echo \"$(cat 'a b')\" \\' 'c d'"
        );
    }
}
