//! A YAML document as a tree of [`Node`]s that remember where they came from.
//!
//! Serde deserialisation stops at the first error and forgets positions; validation needs the
//! opposite: every problem of a file at once, each with its line and column. So DAG files are
//! parsed into this small tree first (from the events of `granit-parser`, the pure-Rust parser
//! under serde-saphyr), and typed conversion happens on the tree.
//!
//! The builder is iterative (no recursion on untrusted input) and enforces a [`Budget`]: a
//! maximum number of nodes *after* alias expansion (so a "billion laughs" file is refused
//! instead of exhausting memory), a maximum nesting depth and a maximum input size.
//! Anchors, aliases and the `<<` merge key (common in dag-factory files) are supported.
//!
//! # Layout
//! - this file: the located tree ([`Pos`], [`Node`], [`Value`], [`PathSegment`]) and how its
//!   plain scalars read (null, booleans, numbers, JSON);
//! - `builder`: [`parse`] — the bounded builder from parser events, its [`Budget`] and
//!   [`YamlError`], and merge keys.

mod builder;

use std::fmt;

pub use builder::{Budget, YamlError, parse};

/// A position in a source file: 1-based line and 1-based column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Pos {
    /// Line, starting at 1.
    pub line: u32,
    /// Column, starting at 1.
    pub column: u32,
    /// Which file of a load the position is in: 0 for the file being loaded, another number
    /// for one of the defaults files it inherits (see [`crate::spec::defaults`]).
    pub source: u16,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// One YAML node with the position where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// What the node holds.
    pub value: Value,
    /// Where the node starts in the source.
    pub pos: Pos,
}

/// The content of a [`Node`].
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A scalar, kept as text; `plain` is false for quoted and block scalars, which are always
    /// strings, while plain scalars may also read as null, booleans or numbers.
    Scalar {
        /// The scalar's text after escape processing.
        text: String,
        /// Whether the scalar was written without quotes (`plain` style).
        plain: bool,
    },
    /// A sequence of nodes.
    Seq(Vec<Node>),
    /// A mapping, in source order; keys are nodes too so that they keep their position.
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// The scalar text if this node is a scalar.
    pub fn as_scalar(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// The entries if this node is a mapping.
    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.value {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The items if this node is a sequence.
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(items) => Some(items),
            _ => None,
        }
    }

    /// Whether the node is a null (`~`, `null`, or nothing at all).
    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar { text, plain: true } if is_null_text(text))
    }

    /// Looks up a key of a mapping by its text; `None` for other kinds of node.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_scalar() == Some(key))
            .map(|(_, v)| v)
    }

    /// A short name of the node's kind, for messages ("a mapping", "a string", …).
    pub fn kind_name(&self) -> &'static str {
        match &self.value {
            Value::Map(_) => "a mapping",
            Value::Seq(_) => "a list",
            Value::Scalar { text, plain } => {
                if !plain {
                    "a string"
                } else if is_null_text(text) {
                    "null"
                } else if parse_bool(text).is_some() {
                    "a boolean"
                } else if text.parse::<i64>().is_ok() {
                    "an integer"
                } else if parse_float(text).is_some() {
                    "a number"
                } else {
                    "a string"
                }
            }
        }
    }

    /// Converts the node into JSON following the YAML 1.2 core schema for plain scalars
    /// (null, booleans, integers, floats; anything else is a string).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Scalar { text, plain: false } => J::String(text.clone()),
            Value::Scalar { text, plain: true } => {
                if is_null_text(text) {
                    J::Null
                } else if let Some(b) = parse_bool(text) {
                    J::Bool(b)
                } else if let Ok(i) = text.parse::<i64>() {
                    J::from(i)
                } else if let Some(f) = parse_float(text).and_then(serde_json::Number::from_f64) {
                    J::Number(f)
                } else {
                    J::String(text.clone())
                }
            }
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|(k, v)| (key_text(k), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// Finds the node at a path of mapping keys and sequence indexes below this node.
    /// Returns the deepest node reached, so a path into a missing key points at its parent.
    pub fn descend<'a>(&'a self, path: &[PathSegment]) -> &'a Node {
        let mut node = self;
        for seg in path {
            let next = match (seg, &node.value) {
                (PathSegment::Key(key), Value::Map(entries)) => entries
                    .iter()
                    .find(|(k, _)| k.as_scalar() == Some(key.as_str()))
                    .map(|(_, v)| v),
                (PathSegment::Index(i), Value::Seq(items)) => items.get(*i),
                _ => None,
            };
            match next {
                Some(n) => node = n,
                None => break,
            }
        }
        node
    }

    /// Finds the *key* node of `key` in this mapping (for pointing at a key rather than its value).
    pub fn key_node(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_scalar() == Some(key))
            .map(|(k, _)| k)
    }
}

/// One step of a path into a [`Node`] tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSegment {
    /// A mapping key.
    Key(String),
    /// A sequence index.
    Index(usize),
}

/// The text of a mapping key; non-scalar keys are rendered as JSON.
pub fn key_text(node: &Node) -> String {
    match &node.value {
        Value::Scalar { text, .. } => text.clone(),
        _ => node.to_json().to_string(),
    }
}

fn is_null_text(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

/// Reads a YAML boolean. Besides the YAML 1.2 words this accepts `yes`/`no`/`on`/`off`, which
/// PyYAML (and so Airflow and dag-factory) reads as booleans.
pub fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Some(true),
        "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => Some(false),
        _ => None,
    }
}

fn parse_float(text: &str) -> Option<f64> {
    // Only decimal forms: "1.5", "-2e3", ".5"; not "inf"/"nan" words, which stay strings.
    let first = text.chars().next()?;
    if !(first.is_ascii_digit() || matches!(first, '-' | '+' | '.')) {
        return None;
    }
    text.parse::<f64>().ok().filter(|f| f.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Node {
        let mut docs = parse(text, Budget::default()).unwrap();
        assert_eq!(docs.len(), 1);
        docs.remove(0)
    }

    #[test]
    fn positions_are_one_based() {
        let doc = one("a: 1\nb:\n  c: [x, y]\n");
        assert_eq!(
            doc.pos,
            Pos {
                line: 1,
                column: 1,
                source: 0
            }
        );
        let b = doc.get("b").unwrap();
        let c = b.get("c").unwrap();
        assert_eq!(
            c.pos,
            Pos {
                line: 3,
                column: 6,
                source: 0
            }
        );
        assert_eq!(
            c.as_seq().unwrap()[1].pos,
            Pos {
                line: 3,
                column: 10,
                source: 0
            }
        );
        assert_eq!(
            doc.key_node("b").unwrap().pos,
            Pos {
                line: 2,
                column: 1,
                source: 0
            }
        );
    }

    #[test]
    fn scalars_follow_the_core_schema() {
        let doc = one("a: 1\nb: '1'\nc: true\nd: ~\ne: 1.5\nf: hello\ng: 0 3 * * *\n");
        assert_eq!(
            doc.to_json(),
            serde_json::json!({"a": 1, "b": "1", "c": true, "d": null, "e": 1.5,
                               "f": "hello", "g": "0 3 * * *"})
        );
    }

    #[test]
    fn merge_keys_and_aliases_expand() {
        let doc = one("base: &b {x: 1, y: 2}\nchild:\n  <<: *b\n  y: 3\n");
        assert_eq!(
            doc.get("child").unwrap().to_json(),
            serde_json::json!({"y": 3, "x": 1})
        );
    }

    #[test]
    fn billion_laughs_is_refused_by_the_budget() {
        let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        let mut prev = 'a';
        for name in ['b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'] {
            text.push_str(&format!(
                "{name}: &{name} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            ));
            prev = name;
        }
        let err = parse(&text, Budget::default()).unwrap_err();
        assert!(err.budget, "{err}");
        assert!(err.message.contains("budget breached"), "{err}");
    }

    #[test]
    fn one_long_string_aliased_many_times_is_refused_by_its_expanded_size() {
        let mut text = format!("big: &s \"{}\"\ncopies:\n", "x".repeat(1 << 20));
        for _ in 0..5_000 {
            text.push_str("  - *s\n");
        }
        let err = parse(&text, Budget::default()).unwrap_err();
        assert!(err.budget, "{err}");
        assert!(
            err.message
                .contains("bytes of text after expanding aliases"),
            "{err}"
        );
        // The alias that crossed the limit: the 63rd copy (64 MiB with the original and the
        // two keys), on line 2 + 63.
        assert_eq!(err.pos.line, 65, "{err}");
        // A few copies of a long string are fine.
        let few = format!(
            "big: &s \"{}\"\ncopies: [*s, *s, *s]\n",
            "x".repeat(1 << 20)
        );
        assert_eq!(parse(&few, Budget::default()).unwrap().len(), 1);
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = "[".repeat(10_000);
        let err = parse(&text, Budget::default()).unwrap_err();
        assert!(err.budget, "{err:?}");
    }

    #[test]
    fn syntax_errors_have_positions() {
        let err = parse("a: [1, 2\nb: 3\n", Budget::default()).unwrap_err();
        assert!(!err.budget);
        assert!(err.pos.line >= 1);
    }
}
