//! A mapped task's keys (Airflow's and dag-factory's `expand`, `partial`,
//! `map_index_template`, and `max_map_length`): what each argument is expanded over.

use crate::dag::mapping::{DEFAULT_MAX_MAP_LENGTH, MapSource, Mapping};
use crate::diagnostic::Kind;
use crate::yaml::{Node, Pos, key_text};

use super::keys;
use super::reader::Reader;

/// The keys of a mapped task besides its arguments.
pub(crate) const KEYS: &[&str] = &["expand", "partial", "map_index_template", "max_map_length"];

/// A task's mapping as read, with the upstream tasks its XCom sources name (they become
/// dependencies, as in Airflow).
pub(crate) struct MappingDraft {
    pub mapping: Mapping,
    /// `(task as written, position)` of every XCom source.
    pub upstream: Vec<(String, Pos)>,
}

/// The entries of `partial`, which count as the task's own (checked: no structural key).
pub(crate) fn partial_entries<'n>(r: &mut Reader<'_>, node: &'n Node) -> &'n [(Node, Node)] {
    let Some(p) = node.get("partial") else {
        return &[];
    };
    if node.get("expand").is_none() {
        r.error(
            p.pos,
            Kind::InvalidValue,
            "`partial` without `expand`: only a mapped task has partial arguments",
        )
        .hint = Some(
            "add `expand:` with the arguments to map, or move these keys onto the task".into(),
        );
    }
    let Some(entries) = r.map(p, "`partial`") else {
        return &[];
    };
    for (k, _) in entries {
        let key = key_text(k);
        if keys::TASK.contains(&key.as_str()) || KEYS.contains(&key.as_str()) {
            r.error(
                k.pos,
                Kind::InvalidValue,
                format!("`{key}` belongs on the task, not in `partial`"),
            )
            .hint = Some(format!("move `{key}` up one level, beside `partial`"));
        } else if node.get(&key).is_some() {
            r.error(
                k.pos,
                Kind::InvalidValue,
                format!("`{key}` is given both in `partial` and on the task"),
            )
            .hint = Some("keep one of them".into());
        }
    }
    entries
}

/// Reads `expand` (and the keys that go with it) of a task whose own arguments are `args`;
/// `None` when the task is not mapped (the keys that need `expand` are then reported).
pub(crate) fn read_mapping(
    r: &mut Reader<'_>,
    node: &Node,
    args: &serde_json::Value,
) -> Option<MappingDraft> {
    let template = node.get("map_index_template");
    let max = node.get("max_map_length");
    let Some(expand) = node.get("expand") else {
        for (n, key) in [(template, "map_index_template"), (max, "max_map_length")] {
            if let Some(n) = n {
                r.error(
                    n.pos,
                    Kind::InvalidValue,
                    format!("`{key}` without `expand`: only a mapped task has map indexes"),
                )
                .hint = Some("add `expand:` or remove the key".into());
            }
        }
        return None;
    };
    let entries = r.map(expand, "`expand`")?;
    if entries.is_empty() {
        r.error(expand.pos, Kind::InvalidValue, "`expand` maps no argument")
            .hint = Some("write `expand: {argument: [value, …]}`".into());
        return None;
    }
    let mut upstream = Vec::new();
    let mut sources = Vec::new();
    for (k, v) in entries {
        let key = key_text(k);
        if keys::TASK.contains(&key.as_str())
            || keys::POLICY.contains(&key.as_str())
            || KEYS.contains(&key.as_str())
        {
            r.error(
                k.pos,
                Kind::InvalidValue,
                format!("`{key}` cannot be mapped: only operator arguments can"),
            )
            .hint = Some(format!("set `{key}` on the task or in `partial`"));
            continue;
        }
        if args.get(&key).is_some() {
            r.error(
                k.pos,
                Kind::InvalidValue,
                format!("`{key}` is both expanded and given in `partial` or on the task"),
            )
            .hint = Some("an argument is either mapped or fixed: keep one of them".into());
            continue;
        }
        match read_source(r, &key, v) {
            Some(source) => {
                if let MapSource::Xcom { task_id, .. } = &source {
                    upstream.push((task_id.clone(), v.pos));
                }
                sources.push((key, source));
            }
            // Reported; a stand-in keeps the operator from saying the argument is missing.
            None => sources.push((key, MapSource::Template("{{ mapped }}".into()))),
        }
    }
    let map_index_template = template.and_then(|n| r.string(n, "map_index_template"));
    let max_map_length = match max {
        Some(n) => r.positive(n, "max_map_length")? as usize,
        None => DEFAULT_MAX_MAP_LENGTH,
    };
    Some(MappingDraft {
        mapping: Mapping {
            expand: sources,
            map_index_template,
            max_map_length,
        },
        upstream,
    })
}

/// What one argument is expanded over: a list (or mapping) written out, an upstream's
/// output (`up.output`, `up.output['key']`, `XComArg(up)`, `+up`), or a template.
fn read_source(r: &mut Reader<'_>, key: &str, v: &Node) -> Option<MapSource> {
    if v.as_seq().is_some() || v.as_map().is_some() {
        let value = v.to_json();
        return crate::dag::mapping::as_list(key, value)
            .ok()
            .map(MapSource::Items);
    }
    let text = v.as_scalar().map(str::trim).unwrap_or_default();
    if let Some(source) = xcom_reference(text) {
        return Some(source);
    }
    if text.contains("{{") {
        return Some(MapSource::Template(text.to_string()));
    }
    r.error(
        v.pos,
        Kind::InvalidValue,
        format!("`expand: {{{key}: …}}` must be a list, an upstream's output or a template"),
    )
    .hint = Some(
        "write a list (`[a, b]`), `<task>.output` (the task's result, a list), or a template \
         rendering a JSON list (`\"{{ var.json.items | tojson }}\"`)"
            .into(),
    );
    None
}

/// `up.output`, `up.output['key']`, `XComArg(up)` (dag-factory's forms for operators) and
/// `+up`, `+up['key']` (its TaskFlow form) as an XCom source.
pub(super) fn xcom_reference(text: &str) -> Option<MapSource> {
    let with_key = |task: &str, rest: &str| -> Option<MapSource> {
        let key = if rest.is_empty() {
            "return_value".to_string()
        } else {
            let inner = rest.strip_prefix('[')?.strip_suffix(']')?;
            let unq = inner
                .strip_prefix('\'')
                .and_then(|s| s.strip_suffix('\''))
                .or_else(|| inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')))?;
            unq.to_string()
        };
        let valid = crate::dag::is_valid_id(task);
        valid.then(|| MapSource::Xcom {
            task_id: task.to_string(),
            key,
        })
    };
    if let Some(at) = text.find(".output") {
        return with_key(&text[..at], &text[at + ".output".len()..]);
    }
    if let Some(inner) = text
        .strip_prefix("XComArg(")
        .or_else(|| text.strip_prefix("XcomArg("))
        .and_then(|s| s.strip_suffix(')'))
    {
        return with_key(inner.trim().trim_matches(['\'', '"']), "");
    }
    if let Some(rest) = text.strip_prefix('+') {
        let (task, key) = rest.split_at(rest.find('[').unwrap_or(rest.len()));
        return with_key(task, key);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_output_forms() {
        let x = |t: &str, k: &str| {
            Some(MapSource::Xcom {
                task_id: t.into(),
                key: k.into(),
            })
        };
        assert_eq!(
            xcom_reference("request.output"),
            x("request", "return_value")
        );
        assert_eq!(
            xcom_reference("g.request.output"),
            x("g.request", "return_value")
        );
        assert_eq!(xcom_reference("up.output['files']"), x("up", "files"));
        assert_eq!(xcom_reference("up.output[\"files\"]"), x("up", "files"));
        assert_eq!(xcom_reference("XComArg(up)"), x("up", "return_value"));
        assert_eq!(xcom_reference("+numbers"), x("numbers", "return_value"));
        assert_eq!(xcom_reference("+collect['key1']"), x("collect", "key1"));
        for bad in ["up", "up.output[files]", "a b.output", "XComArg()", "+"] {
            assert_eq!(xcom_reference(bad), None, "{bad}");
        }
    }
}
