//! Expectation suites, in two spellings read into one list of Great Expectations-named
//! expectations.
//!
//! The compact form, one mapping per column:
//!
//! ```yaml
//! row_count: {min: 500, max: 2000}
//! columns:
//!   customer_id: {type: int64, not_null: 1.0, unique: true}
//!   age: {type: int64, not_null: 0.9, min: 18, max: 100}
//!   segment: {type: string, allowed: [consumer, smb, enterprise]}
//! ```
//!
//! and Great Expectations' own list (`expectation_type` or GX 1.x's `type`, with `kwargs`):
//!
//! ```yaml
//! expectations:
//!   - expectation_type: expect_column_values_to_be_between
//!     kwargs: {column: age, min_value: 18, max_value: 100}
//! ```
//!
//! Every column the compact form names is expected to exist. Errors name the suite's file,
//! line and column; they never quote the file's text beyond a short key, so a path pointing at
//! a file that is not a suite does not leak its contents.

use dagctl_engine::yaml::{self, Budget, Node, key_text};
use serde_json::{Value, json};

/// Column types a suite can expect.
pub const TYPES: &[&str] = &["int64", "float64", "string", "date", "timestamp", "bool"];

/// The expectations dagctl checks, by their Great Expectations names.
pub const KNOWN: &[&str] = &[
    "expect_table_row_count_to_be_between",
    "expect_column_to_exist",
    "expect_column_values_to_be_of_type",
    "expect_column_values_to_not_be_null",
    "expect_column_values_to_be_between",
    "expect_column_values_to_be_in_set",
    "expect_column_values_to_be_unique",
];

/// One expectation: its Great Expectations type and arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct Expectation {
    /// `expect_…`, one of [`KNOWN`].
    pub kind: String,
    /// Its arguments (`column`, `min_value`, `mostly`, …) as Great Expectations names them.
    pub kwargs: Value,
}

impl Expectation {
    /// The column it is about, if any.
    pub fn column(&self) -> Option<&str> {
        self.kwargs.get("column").and_then(Value::as_str)
    }
}

/// A parsed suite.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Suite {
    /// Its expectations, in file order.
    pub expectations: Vec<Expectation>,
}

/// A key of the file, quoted in an error only when it is short and plain.
fn shown(key: &str) -> String {
    let plain = key.len() <= 40
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if plain {
        format!("`{key}`")
    } else {
        "a key".to_string()
    }
}

/// Reads a suite file; errors carry `file:line:column: message`.
///
/// # Errors
/// Every problem found, one per line.
pub fn load_suite(path: &str) -> Result<Suite, String> {
    let meta = std::fs::metadata(path).map_err(|e| {
        format!("cannot read expectation suite `{path}`: {e} (a relative path is read from the DAG file's folder)")
    })?;
    if !meta.is_file() {
        return Err(format!(
            "expectation suite `{path}` is not a regular file; name a YAML or JSON suite"
        ));
    }
    if meta.len() > MAX_SUITE_BYTES {
        return Err(format!(
            "expectation suite `{path}` has {} bytes; a suite is at most {MAX_SUITE_BYTES}",
            meta.len()
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|_| {
        format!("expectation suite `{path}` is not UTF-8 text: name a YAML or JSON suite")
    })?;
    parse_suite(&text, path)
}

/// The largest suite file read.
pub const MAX_SUITE_BYTES: u64 = 4 << 20;

/// Parses a suite's text (`file` names it in errors).
///
/// # Errors
/// Every problem found, one per line.
pub fn parse_suite(text: &str, file: &str) -> Result<Suite, String> {
    let docs = yaml::parse(text, Budget::default()).map_err(|e| format!("{file}:{e}"))?;
    let mut errors = Vec::new();
    let mut suite = Suite::default();
    let Some(root) = docs.first().and_then(Node::as_map) else {
        return Err(format!(
            "{file}:1:1: an expectation suite is a mapping with `columns` (and `row_count`) or `expectations`"
        ));
    };
    let mut err = |n: &Node, msg: String| errors.push(format!("{file}:{}: {msg}", n.pos));
    for (k, v) in root {
        match key_text(k).as_str() {
            "row_count" => row_count(v, &mut suite, &mut err),
            "columns" => columns(v, &mut suite, &mut err),
            "expectations" => listed(v, &mut suite, &mut err),
            // Great Expectations' suite files carry these beside `expectations`.
            "expectation_suite_name"
            | "name"
            | "meta"
            | "data_asset_type"
            | "ge_cloud_id"
            | "id"
            | "notes" => {}
            other => err(
                k,
                format!(
                    "unknown key {} (a suite has `row_count` and `columns`, or `expectations`)",
                    shown(other)
                ),
            ),
        }
    }
    // A range nothing can be in is a typo, not a rule: say so instead of failing every day.
    for (i, e) in suite.expectations.iter().enumerate() {
        let bound = |k: &str| e.kwargs.get(k).and_then(Value::as_f64);
        if let (Some(lo), Some(hi)) = (bound("min_value"), bound("max_value"))
            && lo > hi
        {
            let column = e
                .kwargs
                .get("column")
                .and_then(Value::as_str)
                .map(|c| format!(", column `{c}`"))
                .unwrap_or_default();
            errors.push(format!(
                "{file}: expectation {} ({}{column}): min {lo} is above max {hi}, so nothing can pass; swap them",
                i + 1,
                e.kind
            ));
        }
    }
    if errors.is_empty() {
        Ok(suite)
    } else {
        Err(errors.join("\n"))
    }
}

fn number(n: &Node) -> Option<f64> {
    n.as_scalar().and_then(|t| t.parse::<f64>().ok())
}

fn row_count(v: &Node, suite: &mut Suite, err: &mut impl FnMut(&Node, String)) {
    let mut kwargs = serde_json::Map::new();
    for (bk, bv) in v.as_map().unwrap_or_default() {
        let n = bv.as_scalar().and_then(|t| t.parse::<u64>().ok());
        match (key_text(bk).as_str(), n) {
            ("min", Some(n)) => drop(kwargs.insert("min_value".into(), json!(n))),
            ("max", Some(n)) => drop(kwargs.insert("max_value".into(), json!(n))),
            ("min" | "max", None) => err(bv, "expected a whole number".into()),
            (other, _) => err(
                bk,
                format!("unknown key {} in `row_count` (min, max)", shown(other)),
            ),
        }
    }
    suite.expectations.push(Expectation {
        kind: "expect_table_row_count_to_be_between".into(),
        kwargs: Value::Object(kwargs),
    });
}

fn columns(v: &Node, suite: &mut Suite, err: &mut impl FnMut(&Node, String)) {
    let Some(cols) = v.as_map() else {
        err(v, "`columns` must map column names to rules".into());
        return;
    };
    for (ck, cv) in cols {
        let column = key_text(ck);
        let mut push = |kind: &str, mut kwargs: Value| {
            kwargs["column"] = json!(column);
            suite.expectations.push(Expectation {
                kind: kind.into(),
                kwargs,
            });
        };
        push("expect_column_to_exist", json!({}));
        let (mut min, mut max) = (None, None);
        for (rk, rv) in cv.as_map().unwrap_or_default() {
            match key_text(rk).as_str() {
                "type" => match rv.as_scalar() {
                    Some(t) if TYPES.contains(&t) => {
                        push("expect_column_values_to_be_of_type", json!({"type_": t}));
                    }
                    _ => err(rv, format!("unknown type; types are {}", TYPES.join(", "))),
                },
                "not_null" => match number(rv).filter(|f| (0.0..=1.0).contains(f)) {
                    Some(f) => push("expect_column_values_to_not_be_null", json!({"mostly": f})),
                    None => err(rv, "`not_null` is a fraction between 0 and 1".into()),
                },
                "min" => {
                    min = number(rv).or_else(|| {
                        err(rv, "`min` must be a number".into());
                        None
                    })
                }
                "max" => {
                    max = number(rv).or_else(|| {
                        err(rv, "`max` must be a number".into());
                        None
                    })
                }
                "allowed" => match rv.as_seq() {
                    Some(items) => {
                        let set: Vec<String> = items.iter().map(key_text).collect();
                        push(
                            "expect_column_values_to_be_in_set",
                            json!({"value_set": set}),
                        );
                    }
                    None => err(rv, "`allowed` is a list of values".into()),
                },
                "unique" => match rv.as_scalar().and_then(yaml::parse_bool) {
                    Some(true) => push("expect_column_values_to_be_unique", json!({})),
                    Some(false) => {}
                    None => err(rv, "`unique` is true or false".into()),
                },
                other => {
                    let known = ["type", "not_null", "min", "max", "allowed", "unique"];
                    let hint = dagctl_engine::suggest::closest(other, known)
                        .map(|c| format!("; did you mean `{c}`?"))
                        .unwrap_or_else(|| format!("; rules are {}", known.join(", ")));
                    err(rk, format!("unknown rule {}{hint}", shown(other)));
                }
            }
        }
        if min.is_some() || max.is_some() {
            push(
                "expect_column_values_to_be_between",
                json!({"min_value": min, "max_value": max}),
            );
        }
    }
}

/// The arguments each expectation needs.
fn required(kind: &str) -> &'static [&'static str] {
    match kind {
        "expect_table_row_count_to_be_between" => &[],
        "expect_column_values_to_be_of_type" => &["column", "type_"],
        "expect_column_values_to_be_in_set" => &["column", "value_set"],
        _ => &["column"],
    }
}

fn listed(v: &Node, suite: &mut Suite, err: &mut impl FnMut(&Node, String)) {
    let Some(items) = v.as_seq() else {
        err(v, "`expectations` is a list".into());
        return;
    };
    for item in items {
        let Some(map) = item.as_map() else {
            err(
                item,
                "an expectation is a mapping with `expectation_type` and `kwargs`".into(),
            );
            continue;
        };
        let mut kind = None;
        let mut kwargs = Value::Object(serde_json::Map::new());
        for (k, val) in map {
            match key_text(k).as_str() {
                "expectation_type" | "type" => kind = val.as_scalar().map(str::to_string),
                "kwargs" => kwargs = val.to_json(),
                "meta" | "id" | "notes" | "rendered_content" => {}
                other => err(k, format!("unknown key {} in an expectation", shown(other))),
            }
        }
        let Some(kind) = kind else {
            err(item, "an expectation needs its `expectation_type`".into());
            continue;
        };
        if !KNOWN.contains(&kind.as_str()) {
            let hint = dagctl_engine::suggest::closest(&kind, KNOWN.iter().copied())
                .map(|c| format!("; did you mean `{c}`?"))
                .unwrap_or_else(|| format!("; dagctl checks {}", KNOWN.join(", ")));
            err(item, format!("unknown expectation {}{hint}", shown(&kind)));
            continue;
        }
        let missing: Vec<&str> = required(&kind)
            .iter()
            .copied()
            .filter(|a| kwargs.get(*a).is_none_or(Value::is_null))
            .collect();
        if !missing.is_empty() {
            err(item, format!("`{kind}` needs {}", missing.join(", ")));
            continue;
        }
        let bad_number = ["min_value", "max_value", "mostly"].into_iter().find(|k| {
            kwargs.get(*k).is_some_and(|v| {
                !v.is_null()
                    && (!v.is_number()
                        || (*k == "mostly"
                            && !v.as_f64().is_some_and(|f| (0.0..=1.0).contains(&f)))
                        || (kind == "expect_table_row_count_to_be_between" && v.as_u64().is_none()))
            })
        });
        if let Some(k) = bad_number {
            err(
                item,
                format!(
                    "`{k}` of `{kind}` must be {}",
                    if k == "mostly" {
                        "a fraction between 0 and 1"
                    } else if kind == "expect_table_row_count_to_be_between" {
                        "a whole number of rows"
                    } else {
                        "a number"
                    }
                ),
            );
            continue;
        }
        if kind == "expect_column_values_to_be_of_type"
            && !kwargs["type_"].as_str().is_some_and(|t| TYPES.contains(&t))
        {
            err(item, format!("`type_`: types are {}", TYPES.join(", ")));
            continue;
        }
        suite.expectations.push(Expectation { kind, kwargs });
    }
}
