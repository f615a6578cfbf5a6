//! A small YAML tree with source positions, built from `saphyr-parser`'s event stream.
//!
//! The manifest reader needs a line for every problem it reports, and the version editor needs
//! byte offsets to splice one value without touching anything else, so we keep positions that a
//! serde-style loader throws away. Aliases stay references to the anchored node and are never
//! expanded, so a hostile "billion laughs" file costs no more memory than its text.

use saphyr_parser::{Event, Marker, Parser, ScalarStyle};

/// Deeper nesting than this is refused: no manifest needs it, and it bounds every walk.
const MAX_DEPTH: usize = 64;

/// A position in the source text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct Pos {
    /// Byte offset into the text.
    pub(crate) byte: usize,
    /// Line, from 1.
    pub(crate) line: usize,
    /// Column in characters, from 0.
    pub(crate) col: usize,
}

/// How a scalar was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Style {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Block,
}

/// Index of a node in its document.
pub(crate) type NodeId = usize;

#[derive(Debug)]
pub(crate) enum NodeKind {
    Scalar {
        value: String,
        style: Style,
    },
    Seq(Vec<NodeId>),
    Map(Vec<(NodeId, NodeId)>),
    /// An alias, resolved to the anchored node when the anchor is known.
    Alias(Option<NodeId>),
}

#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) kind: NodeKind,
    /// Where the node starts. For a quoted scalar, the opening quote.
    pub(crate) start: Pos,
}

/// One YAML document of a stream.
#[derive(Debug, Default)]
pub(crate) struct Doc {
    nodes: Vec<Node>,
    root: Option<NodeId>,
}

/// A syntax error, with where it was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub(crate) line: usize,
    pub(crate) col: usize,
    pub(crate) message: String,
}

/// Converts saphyr's character indices to byte offsets.
struct Offsets<'a> {
    text: &'a str,
    /// Byte offset of every character; empty when the text is ASCII (then index == byte).
    char_bytes: Vec<usize>,
}

impl<'a> Offsets<'a> {
    fn new(text: &'a str) -> Self {
        let char_bytes = if text.is_ascii() {
            Vec::new()
        } else {
            text.char_indices().map(|(b, _)| b).collect()
        };
        Offsets { text, char_bytes }
    }

    fn pos(&self, m: &Marker) -> Pos {
        let byte = if self.char_bytes.is_empty() {
            m.index().min(self.text.len())
        } else {
            self.char_bytes
                .get(m.index())
                .copied()
                .unwrap_or(self.text.len())
        };
        Pos {
            byte,
            line: m.line(),
            col: m.col(),
        }
    }
}

enum Open {
    Seq(NodeId),
    Map(NodeId, Option<NodeId>),
}

/// Parses every document of `text`.
pub(crate) fn parse(text: &str) -> Result<Vec<Doc>, SyntaxError> {
    let offsets = Offsets::new(text);
    let mut docs = Vec::new();
    let mut doc = Doc::default();
    let mut open: Vec<Open> = Vec::new();
    // Anchors are scoped to their document; saphyr numbers them across the stream.
    let mut anchors: Vec<(usize, NodeId)> = Vec::new();

    for item in Parser::new_from_str(text) {
        let (event, span) = item.map_err(|e| SyntaxError {
            line: e.marker().line(),
            col: e.marker().col(),
            message: e.info().to_string(),
        })?;
        let start = offsets.pos(&span.start);
        let too_deep = || SyntaxError {
            line: start.line,
            col: start.col,
            message: format!("nesting deeper than {MAX_DEPTH} levels"),
        };
        match event {
            Event::DocumentStart(_) => {
                doc = Doc::default();
                open.clear();
                anchors.clear();
            }
            Event::DocumentEnd => docs.push(std::mem::take(&mut doc)),
            Event::Scalar(value, style, anchor, _) => {
                let style = match style {
                    ScalarStyle::Plain => Style::Plain,
                    ScalarStyle::SingleQuoted => Style::SingleQuoted,
                    ScalarStyle::DoubleQuoted => Style::DoubleQuoted,
                    ScalarStyle::Literal | ScalarStyle::Folded => Style::Block,
                };
                let kind = NodeKind::Scalar {
                    value: value.into_owned(),
                    style,
                };
                let id = doc.push(kind, start, anchor, &mut anchors);
                doc.attach(&mut open, id);
            }
            Event::Alias(anchor) => {
                let target = anchors
                    .iter()
                    .rev()
                    .find(|(a, _)| *a == anchor)
                    .map(|a| a.1);
                let id = doc.push(NodeKind::Alias(target), start, 0, &mut anchors);
                doc.attach(&mut open, id);
            }
            Event::SequenceStart(anchor, _) => {
                if open.len() >= MAX_DEPTH {
                    return Err(too_deep());
                }
                let id = doc.push(NodeKind::Seq(Vec::new()), start, anchor, &mut anchors);
                open.push(Open::Seq(id));
            }
            Event::MappingStart(anchor, _) => {
                if open.len() >= MAX_DEPTH {
                    return Err(too_deep());
                }
                let id = doc.push(NodeKind::Map(Vec::new()), start, anchor, &mut anchors);
                open.push(Open::Map(id, None));
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some(Open::Seq(id) | Open::Map(id, _)) = open.pop() {
                    doc.attach(&mut open, id);
                }
            }
            Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
        }
    }
    Ok(docs)
}

impl Doc {
    fn push(
        &mut self,
        kind: NodeKind,
        start: Pos,
        anchor: usize,
        anchors: &mut Vec<(usize, NodeId)>,
    ) -> NodeId {
        let id = self.nodes.len();
        self.nodes.push(Node { kind, start });
        if anchor != 0 {
            anchors.push((anchor, id));
        }
        id
    }

    fn attach(&mut self, open: &mut [Open], id: NodeId) {
        match open.last_mut() {
            None => self.root = Some(id),
            Some(Open::Seq(seq)) => {
                if let Some(Node {
                    kind: NodeKind::Seq(items),
                    ..
                }) = self.nodes.get_mut(*seq)
                {
                    items.push(id);
                }
            }
            Some(Open::Map(map, pending)) => match pending.take() {
                None => *pending = Some(id),
                Some(key) => {
                    if let Some(Node {
                        kind: NodeKind::Map(entries),
                        ..
                    }) = self.nodes.get_mut(*map)
                    {
                        entries.push((key, id));
                    }
                }
            },
        }
    }

    /// The document's top node, if it has one.
    pub(crate) fn root(&self) -> Option<NodeId> {
        self.root
    }

    /// The node itself, aliases not followed.
    pub(crate) fn raw(&self, id: NodeId) -> Option<&Node> {
        self.nodes.get(id)
    }

    /// The node, following an alias to its anchor.
    pub(crate) fn node(&self, id: NodeId) -> Option<&Node> {
        let node = self.nodes.get(id)?;
        match node.kind {
            // An alias can only name a node completed before it, so this never loops.
            NodeKind::Alias(Some(target)) if target < id => self.nodes.get(target),
            NodeKind::Alias(_) => None,
            _ => Some(node),
        }
    }

    /// The text of a scalar node.
    pub(crate) fn scalar(&self, id: NodeId) -> Option<&str> {
        match &self.node(id)?.kind {
            NodeKind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    /// The entries of a mapping node.
    pub(crate) fn entries(&self, id: NodeId) -> Option<&[(NodeId, NodeId)]> {
        match &self.node(id)?.kind {
            NodeKind::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The items of a sequence node.
    pub(crate) fn items(&self, id: NodeId) -> Option<&[NodeId]> {
        match &self.node(id)?.kind {
            NodeKind::Seq(items) => Some(items),
            _ => None,
        }
    }

    /// The key node and value node of `key` in mapping `map`. Keys written in the mapping win
    /// over keys brought in by a `<<` merge, as YAML's merge-key convention says.
    pub(crate) fn entry(&self, map: NodeId, key: &str) -> Option<(NodeId, NodeId)> {
        self.entry_at(map, key, 0)
    }

    fn entry_at(&self, map: NodeId, key: &str, depth: usize) -> Option<(NodeId, NodeId)> {
        let entries = self.entries(map)?;
        if let Some(found) = entries.iter().find(|(k, _)| self.scalar(*k) == Some(key)) {
            return Some(*found);
        }
        if depth >= MAX_DEPTH {
            return None;
        }
        let merged = entries
            .iter()
            .find(|(k, _)| self.scalar(*k) == Some("<<"))?
            .1;
        match self.items(merged) {
            Some(sources) => sources
                .iter()
                .find_map(|s| self.entry_at(*s, key, depth + 1)),
            None => self.entry_at(merged, key, depth + 1),
        }
    }

    /// The value node of `key` in mapping `map`.
    pub(crate) fn get(&self, map: NodeId, key: &str) -> Option<NodeId> {
        self.entry(map, key).map(|(_, v)| v)
    }
}

/// Expansion budget for aliases when converting to JSON: bounds a "billion laughs" file.
const MAX_JSON_NODES: usize = 100_000;

/// Converts a document to a JSON value: plain scalars that are integers, `true`/`false` or
/// `null`/`~` become those; every other scalar (floats included, so `2026.11` stays a string)
/// is a string. Aliases are expanded within a budget; `<<` merge keys are applied.
pub(crate) fn to_json(doc: &Doc) -> Result<serde_json::Value, SyntaxError> {
    let mut budget = MAX_JSON_NODES;
    match doc.root() {
        Some(root) => node_to_json(doc, root, 0, &mut budget),
        None => Ok(serde_json::Value::Null),
    }
}

fn node_to_json(
    doc: &Doc,
    id: NodeId,
    depth: usize,
    budget: &mut usize,
) -> Result<serde_json::Value, SyntaxError> {
    use serde_json::Value;
    let node = doc.node(id).ok_or_else(|| SyntaxError {
        line: doc.raw(id).map_or(0, |n| n.start.line),
        col: 0,
        message: "alias to an unknown anchor".into(),
    })?;
    if depth > MAX_DEPTH || *budget == 0 {
        return Err(SyntaxError {
            line: node.start.line,
            col: node.start.col,
            message: "document too large once aliases are expanded".into(),
        });
    }
    *budget -= 1;
    Ok(match &node.kind {
        NodeKind::Scalar { value, style } => {
            if *style != Style::Plain {
                Value::String(value.clone())
            } else if let Ok(n) = value.parse::<i64>() {
                Value::Number(n.into())
            } else {
                match value.as_str() {
                    "true" | "True" | "TRUE" => Value::Bool(true),
                    "false" | "False" | "FALSE" => Value::Bool(false),
                    "" | "~" | "null" | "Null" | "NULL" => Value::Null,
                    _ => Value::String(value.clone()),
                }
            }
        }
        NodeKind::Seq(items) => Value::Array(
            items
                .iter()
                .map(|i| node_to_json(doc, *i, depth + 1, budget))
                .collect::<Result<_, _>>()?,
        ),
        NodeKind::Map(entries) => {
            let mut map = serde_json::Map::new();
            for (k, v) in entries {
                let key = doc.scalar(*k).unwrap_or_default();
                if key == "<<" {
                    continue;
                }
                map.insert(key.to_string(), node_to_json(doc, *v, depth + 1, budget)?);
            }
            // Merged keys fill in what the mapping does not set itself.
            if let Some((_, merged)) = entries.iter().find(|(k, _)| doc.scalar(*k) == Some("<<")) {
                let sources = match doc.items(*merged) {
                    Some(items) => items.to_vec(),
                    None => vec![*merged],
                };
                for source in sources {
                    if let Value::Object(extra) = node_to_json(doc, source, depth + 1, budget)? {
                        for (k, v) in extra {
                            map.entry(k).or_insert(v);
                        }
                    }
                }
            }
            Value::Object(map)
        }
        NodeKind::Alias(_) => Value::Null,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_documents_and_lines() {
        let docs = parse("a: 1\n---\nb:\n  c: [x, y]\n").unwrap();
        assert_eq!(docs.len(), 2);
        let second = &docs[1];
        let root = second.root().unwrap();
        let b = second.get(root, "b").unwrap();
        let c = second.get(b, "c").unwrap();
        assert_eq!(second.items(c).unwrap().len(), 2);
        assert_eq!(second.node(c).unwrap().start.line, 4);
    }

    #[test]
    fn aliases_are_references_and_merge_keys_work() {
        let docs = parse("base: &b {x: 1}\nuse:\n  <<: *b\n  y: 2\nother: *b\n").unwrap();
        let d = &docs[0];
        let root = d.root().unwrap();
        let used = d.get(root, "use").unwrap();
        assert_eq!(d.scalar(d.get(used, "x").unwrap()), Some("1"));
        let other = d.get(root, "other").unwrap();
        assert_eq!(d.scalar(d.get(other, "x").unwrap()), Some("1"));
    }

    #[test]
    fn byte_offsets_survive_multibyte_text() {
        let text = "é: ü\nkey: value\n";
        let docs = parse(text).unwrap();
        let d = &docs[0];
        let v = d.get(d.root().unwrap(), "key").unwrap();
        let at = d.node(v).unwrap().start.byte;
        assert_eq!(&text[at..at + 5], "value");
    }

    #[test]
    fn refuses_deep_nesting_and_reports_syntax_errors() {
        let deep = "[".repeat(500);
        assert!(parse(&deep).is_err());
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.line >= 1);
    }
}
