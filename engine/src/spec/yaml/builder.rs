//! Building [`Node`] trees from `granit-parser` events under a [`Budget`]: the limits, the
//! error they and syntax problems give, the iterative builder, and YAML merge keys.

use std::collections::HashMap;
use std::fmt;

use granit_parser::{Event, Parser, ScalarStyle};

use super::{Node, Pos, Value};

/// Limits applied while building a tree from untrusted input.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Maximum number of nodes, counting every alias expansion in full.
    pub max_nodes: usize,
    /// Maximum nesting depth of sequences and mappings.
    pub max_depth: usize,
    /// Maximum input size in bytes.
    pub max_bytes: usize,
    /// Maximum size of the scalar text after expanding every alias in full: one string
    /// aliased a thousand times counts a thousand times.
    pub max_expanded_bytes: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            max_nodes: 2_000_000,
            max_depth: 64,
            max_bytes: 32 * 1024 * 1024,
            max_expanded_bytes: 64 * 1024 * 1024,
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

/// Parses every document of a YAML text into trees.
///
/// # Errors
/// A [`YamlError`] with the position of the first syntax error, or of the node that made the
/// input exceed the [`Budget`].
pub fn parse(text: &str, budget: Budget) -> Result<Vec<Node>, YamlError> {
    if text.len() > budget.max_bytes {
        return Err(YamlError {
            pos: Pos {
                line: 1,
                column: 1,
                source: 0,
            },
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

/// What a node costs against the [`Budget`]: its nodes and its scalar bytes, aliases expanded.
#[derive(Debug, Clone, Copy, Default)]
struct Cost {
    nodes: usize,
    bytes: usize,
}

impl Cost {
    fn scalar(text: &str) -> Self {
        Cost {
            nodes: 1,
            bytes: text.len(),
        }
    }
}

struct Builder {
    budget: Budget,
    spent: Cost,
    stack: Vec<Frame>,
    anchors: HashMap<usize, (Node, Cost)>,
    docs: Vec<Node>,
}

impl Builder {
    fn new(budget: Budget) -> Self {
        Builder {
            budget,
            spent: Cost::default(),
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
                        source: 0,
                    },
                    // The parser's own nesting guard is a budget too, not a syntax error.
                    budget: message.contains("recursion limit"),
                    message,
                }
            })?;
            let pos = Pos {
                line: span.start.line() as u32,
                column: span.start.col() as u32 + 1,
                source: 0,
            };
            match event {
                Event::DocumentStart(..) => self.anchors.clear(),
                Event::Scalar(text, style, anchor, _tag) => {
                    let cost = Cost::scalar(&text);
                    let node = Node {
                        value: Value::Scalar {
                            text: text.into_owned(),
                            plain: matches!(style, ScalarStyle::Plain),
                        },
                        pos,
                    };
                    self.count(cost, pos)?;
                    self.finish(node, anchor, cost, pos)?;
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
                    self.count(Cost { nodes: 1, bytes: 0 }, pos)?;
                    let cost = tree_cost(&node);
                    self.finish(node, anchor, cost, pos)?;
                }
                Event::Alias(id) => {
                    let (node, cost) = self.anchors.get(&id).cloned().ok_or_else(|| YamlError {
                        pos,
                        message: "alias refers to an unknown anchor".into(),
                        budget: false,
                    })?;
                    // Counted before the copy is made: a bomb is refused before it is built.
                    self.count(cost, pos)?;
                    let node = Node { pos, ..node };
                    self.finish(node, 0, cost, pos)?;
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

    fn count(&mut self, cost: Cost, pos: Pos) -> Result<(), YamlError> {
        self.spent.nodes = self.spent.nodes.saturating_add(cost.nodes);
        self.spent.bytes = self.spent.bytes.saturating_add(cost.bytes);
        if self.spent.bytes > self.budget.max_expanded_bytes {
            return Err(YamlError {
                pos,
                message: format!(
                    "budget breached: more than {} bytes of text after expanding aliases \
                     (is this a YAML bomb?)",
                    self.budget.max_expanded_bytes
                ),
                budget: true,
            });
        }
        if self.spent.nodes > self.budget.max_nodes {
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
    fn finish(&mut self, node: Node, anchor: usize, cost: Cost, pos: Pos) -> Result<(), YamlError> {
        if anchor != 0 {
            self.anchors.insert(anchor, (node.clone(), cost));
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
                    if !matches!(node.value, Value::Scalar { .. }) && cost.nodes > 64 {
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

fn tree_cost(node: &Node) -> Cost {
    // Iterative, to stay safe on deep input.
    let mut cost = Cost::default();
    let mut todo = vec![node];
    while let Some(n) = todo.pop() {
        cost.nodes += 1;
        match &n.value {
            Value::Seq(items) => todo.extend(items.iter()),
            Value::Map(entries) => {
                for (k, v) in entries {
                    todo.push(k);
                    todo.push(v);
                }
            }
            Value::Scalar { text, .. } => cost.bytes += text.len(),
        }
    }
    cost
}
