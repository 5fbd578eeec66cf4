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

use std::collections::HashMap;
use std::fmt;

use granit_parser::{Event, Parser, ScalarStyle};

/// A position in a source file: 1-based line and 1-based column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Pos {
    /// Line, starting at 1.
    pub line: u32,
    /// Column, starting at 1.
    pub column: u32,
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

/// Limits applied while building a tree from untrusted input.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Maximum number of nodes, counting every alias expansion in full.
    pub max_nodes: usize,
    /// Maximum nesting depth of sequences and mappings.
    pub max_depth: usize,
    /// Maximum input size in bytes.
    pub max_bytes: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            max_nodes: 2_000_000,
            max_depth: 64,
            max_bytes: 32 * 1024 * 1024,
        }
    }
}

/// Why a YAML text could not be turned into a tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    /// Where the problem was found.
    pub pos: Pos,
    /// What went wrong, in words.
    pub message: String,
    /// Whether a [`Budget`] limit was hit (as opposed to a syntax error).
    pub budget: bool,
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.pos, self.message)
    }
}

impl std::error::Error for YamlError {}

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

/// Parses every document of a YAML text into trees.
///
/// # Errors
/// A [`YamlError`] with the position of the first syntax error, or of the node that made the
/// input exceed the [`Budget`].
pub fn parse(text: &str, budget: Budget) -> Result<Vec<Node>, YamlError> {
    if text.len() > budget.max_bytes {
        return Err(YamlError {
            pos: Pos { line: 1, column: 1 },
            message: format!(
                "file is {} bytes, more than the limit of {} bytes",
                text.len(),
                budget.max_bytes
            ),
            budget: true,
        });
    }
    Builder::new(budget).run(text)
}

/// A collection under construction.
enum Frame {
    Seq {
        pos: Pos,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        pos: Pos,
        anchor: usize,
        entries: Vec<(Node, Node)>,
        pending_key: Option<Node>,
    },
}

struct Builder {
    budget: Budget,
    nodes: usize,
    stack: Vec<Frame>,
    anchors: HashMap<usize, (Node, usize)>,
    docs: Vec<Node>,
}

impl Builder {
    fn new(budget: Budget) -> Self {
        Builder {
            budget,
            nodes: 0,
            stack: Vec::new(),
            anchors: HashMap::new(),
            docs: Vec::new(),
        }
    }

    fn run(mut self, text: &str) -> Result<Vec<Node>, YamlError> {
        for item in Parser::new_from_str(text) {
            let (event, span) = item.map_err(|e| {
                let message = e.info();
                YamlError {
                    pos: Pos {
                        line: e.marker().line() as u32,
                        column: e.marker().col() as u32 + 1,
                    },
                    // The parser's own nesting guard is a budget too, not a syntax error.
                    budget: message.contains("recursion limit"),
                    message,
                }
            })?;
            let pos = Pos {
                line: span.start.line() as u32,
                column: span.start.col() as u32 + 1,
            };
            match event {
                Event::DocumentStart(..) => self.anchors.clear(),
                Event::Scalar(text, style, anchor, _tag) => {
                    let node = Node {
                        value: Value::Scalar {
                            text: text.into_owned(),
                            plain: matches!(style, ScalarStyle::Plain),
                        },
                        pos,
                    };
                    self.count(1, pos)?;
                    self.finish(node, anchor, 1, pos)?;
                }
                Event::SequenceStart(_, anchor, _) => {
                    self.enter(pos)?;
                    self.stack.push(Frame::Seq {
                        pos,
                        anchor,
                        items: Vec::new(),
                    });
                }
                Event::MappingStart(_, anchor, _) => {
                    self.enter(pos)?;
                    self.stack.push(Frame::Map {
                        pos,
                        anchor,
                        entries: Vec::new(),
                        pending_key: None,
                    });
                }
                Event::SequenceEnd | Event::MappingEnd => {
                    let frame = self.stack.pop().ok_or_else(|| YamlError {
                        pos,
                        message: "unbalanced collection end".into(),
                        budget: false,
                    })?;
                    let (node, anchor) = match frame {
                        Frame::Seq { pos, anchor, items } => (
                            Node {
                                value: Value::Seq(items),
                                pos,
                            },
                            anchor,
                        ),
                        Frame::Map {
                            pos,
                            anchor,
                            entries,
                            ..
                        } => (
                            Node {
                                value: Value::Map(merge_keys(entries)),
                                pos,
                            },
                            anchor,
                        ),
                    };
                    self.count(1, pos)?;
                    let size = tree_size(&node);
                    self.finish(node, anchor, size, pos)?;
                }
                Event::Alias(id) => {
                    let (node, size) = self.anchors.get(&id).cloned().ok_or_else(|| YamlError {
                        pos,
                        message: "alias refers to an unknown anchor".into(),
                        budget: false,
                    })?;
                    self.count(size, pos)?;
                    let node = Node { pos, ..node };
                    self.finish(node, 0, size, pos)?;
                }
                _ => {}
            }
        }
        Ok(self.docs)
    }

    fn enter(&self, pos: Pos) -> Result<(), YamlError> {
        if self.stack.len() >= self.budget.max_depth {
            return Err(YamlError {
                pos,
                message: format!(
                    "nesting is deeper than {} levels; DAG files never need that much",
                    self.budget.max_depth
                ),
                budget: true,
            });
        }
        Ok(())
    }

    fn count(&mut self, n: usize, pos: Pos) -> Result<(), YamlError> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > self.budget.max_nodes {
            return Err(YamlError {
                pos,
                message: format!(
                    "budget breached: more than {} YAML nodes after expanding aliases \
                     (is this a YAML bomb?)",
                    self.budget.max_nodes
                ),
                budget: true,
            });
        }
        Ok(())
    }

    /// Places a completed node into its parent (or makes it a document).
    fn finish(
        &mut self,
        node: Node,
        anchor: usize,
        size: usize,
        pos: Pos,
    ) -> Result<(), YamlError> {
        if anchor != 0 {
            self.anchors.insert(anchor, (node.clone(), size));
        }
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                entries,
                pending_key,
                ..
            }) => match pending_key.take() {
                None => {
                    if !matches!(node.value, Value::Scalar { .. }) && size > 64 {
                        return Err(YamlError {
                            pos,
                            message: "complex mapping keys are not supported".into(),
                            budget: false,
                        });
                    }
                    *pending_key = Some(node);
                }
                Some(key) => entries.push((key, node)),
            },
        }
        Ok(())
    }
}

/// Applies YAML merge keys (`<<: *base` or `<<: [*a, *b]`): entries of the merged mappings are
/// added unless the mapping sets them itself. Explicit keys always win, wherever they appear.
fn merge_keys(entries: Vec<(Node, Node)>) -> Vec<(Node, Node)> {
    let is_merge =
        |k: &Node| matches!(&k.value, Value::Scalar { text, plain: true } if text == "<<");
    if !entries.iter().any(|(k, _)| is_merge(k)) {
        return entries;
    }
    let mut own = Vec::with_capacity(entries.len());
    let mut merged: Vec<(Node, Node)> = Vec::new();
    for (k, v) in entries {
        if is_merge(&k) {
            let sources: Vec<Node> = match v.value {
                Value::Seq(items) => items,
                _ => vec![v],
            };
            for src in sources {
                match src.value {
                    Value::Map(inner) => {
                        for (ik, iv) in inner {
                            if !merged.iter().any(|(mk, _)| same_key(mk, &ik)) {
                                merged.push((ik, iv));
                            }
                        }
                    }
                    // A merge of something that is not a mapping is kept as an ordinary key,
                    // so that validation reports it as an unknown key `<<` at its location.
                    other => own.push((
                        k.clone(),
                        Node {
                            value: other,
                            pos: src.pos,
                        },
                    )),
                }
            }
        } else {
            own.push((k, v));
        }
    }
    merged.retain(|(mk, _)| !own.iter().any(|(ok, _)| same_key(ok, mk)));
    own.extend(merged);
    own
}

fn same_key(a: &Node, b: &Node) -> bool {
    a.as_scalar().is_some() && a.as_scalar() == b.as_scalar()
}

fn tree_size(node: &Node) -> usize {
    // Iterative, to stay safe on deep input.
    let mut count = 0;
    let mut todo = vec![node];
    while let Some(n) = todo.pop() {
        count += 1;
        match &n.value {
            Value::Seq(items) => todo.extend(items.iter()),
            Value::Map(entries) => {
                for (k, v) in entries {
                    todo.push(k);
                    todo.push(v);
                }
            }
            Value::Scalar { .. } => {}
        }
    }
    count
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
        assert_eq!(doc.pos, Pos { line: 1, column: 1 });
        let b = doc.get("b").unwrap();
        let c = b.get("c").unwrap();
        assert_eq!(c.pos, Pos { line: 3, column: 6 });
        assert_eq!(
            c.as_seq().unwrap()[1].pos,
            Pos {
                line: 3,
                column: 10
            }
        );
        assert_eq!(doc.key_node("b").unwrap().pos, Pos { line: 2, column: 1 });
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
