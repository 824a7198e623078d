//! The document tree: YAML (or JSON, which is YAML) text loaded into nodes that remember where
//! they came from.
//!
//! Built from `saphyr-parser`'s event stream rather than a serde deserializer so that every
//! node keeps its 1-based line and column, quoted scalars stay strings (`"5"` is not `5`), and
//! the loader can enforce hard bounds while it reads: nesting depth, document size, alias
//! expansion, duplicate keys. Plain scalars are resolved with the YAML 1.2 core schema.
//!
//! Positions follow the reference (Go's `yaml.v3`): a block mapping or sequence is at its first
//! key or dash, a flow collection at its bracket, a scalar at its first character (its quote
//! when quoted) and a block scalar (`|`, `>`) at its indicator.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use saphyr_parser::{Event, Parser, ScalarStyle as SaphyrStyle, Span, Tag};

/// Limits applied while loading a document. Every limit turns into a [`DocumentError`], never
/// a panic or an unbounded allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Maximum size of the text in bytes.
    pub max_bytes: usize,
    /// Maximum nesting depth of collections (maps and sequences).
    pub max_depth: usize,
    /// Maximum number of nodes the document may hold, counting every node an alias copies.
    pub max_nodes: usize,
    /// Maximum number of aliases (`*name`) in the document.
    pub max_aliases: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 4 * 1024 * 1024,
            max_depth: 64,
            max_nodes: 250_000,
            max_aliases: 1000,
        }
    }
}

/// A 1-based line and column in the loaded text. Line 0 means "no line" (an empty document).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Pos {
    /// 1-based line (0 for an empty document).
    pub line: usize,
    /// 1-based column, in characters.
    pub col: usize,
}

impl Pos {
    /// A position.
    pub const fn new(line: usize, col: usize) -> Pos {
        Pos { line, col }
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({},{})", self.line, self.col)
    }
}

/// How a scalar was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarStyle {
    /// Plain (unquoted): resolved to null, bool, int, float or string.
    Plain,
    /// Single- or double-quoted: always a string.
    Quoted,
    /// Literal block (`|`): always a string.
    Literal,
    /// Folded block (`>`): always a string.
    Folded,
}

/// A resolved scalar value.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    /// `null`, `~` or an empty value.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer that fits in 64 bits.
    Int(i64),
    /// A float (including `.inf`, `.nan`).
    Float(f64),
    /// Anything else, and every quoted or block scalar.
    Str(String),
}

/// What a node holds.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// A scalar: its source text, how it was written and what it resolved to.
    Scalar {
        /// The scalar's text as written (after unquoting and escapes).
        raw: String,
        /// Plain, quoted or block.
        style: ScalarStyle,
        /// The resolved value.
        value: Scalar,
    },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in document order; keys are unique.
    Map(Vec<Entry>),
}

/// One key/value pair of a mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The key text.
    pub key: String,
    /// Where the key is.
    pub key_pos: Pos,
    /// The value.
    pub value: Node,
}

/// A node of the document with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Where the node starts in the text.
    pub pos: Pos,
    /// What it holds.
    pub kind: NodeKind,
}

impl Node {
    /// A null node at `pos` (used for an empty document or an absent value).
    pub fn null(pos: Pos) -> Node {
        Node {
            pos,
            kind: NodeKind::Scalar {
                raw: String::new(),
                style: ScalarStyle::Plain,
                value: Scalar::Null,
            },
        }
    }

    /// A plain string node (used by tests and synthesised configs).
    pub fn string(pos: Pos, s: impl Into<String>) -> Node {
        let s = s.into();
        Node {
            pos,
            kind: NodeKind::Scalar {
                raw: s.clone(),
                style: ScalarStyle::Quoted,
                value: Scalar::Str(s),
            },
        }
    }

    /// The YAML short tag of the node as the reference prints it: `!!str`, `!!int`, `!!float`,
    /// `!!bool`, `!!null`, `!!seq`, `!!map`.
    pub fn short_tag(&self) -> &'static str {
        match &self.kind {
            NodeKind::Seq(_) => "!!seq",
            NodeKind::Map(_) => "!!map",
            NodeKind::Scalar { value, .. } => match value {
                Scalar::Null => "!!null",
                Scalar::Bool(_) => "!!bool",
                Scalar::Int(_) => "!!int",
                Scalar::Float(_) => "!!float",
                Scalar::Str(_) => "!!str",
            },
        }
    }

    /// The mapping entries, if this is a mapping.
    pub fn as_map(&self) -> Option<&[Entry]> {
        match &self.kind {
            NodeKind::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The sequence items, if this is a sequence.
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            NodeKind::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// The resolved scalar, if this is a scalar.
    pub fn as_scalar(&self) -> Option<&Scalar> {
        match &self.kind {
            NodeKind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    /// The string value, if this scalar resolved to a string.
    pub fn as_str(&self) -> Option<&str> {
        match self.as_scalar() {
            Some(Scalar::Str(s)) => Some(s),
            _ => None,
        }
    }

    /// The scalar's source text whatever it resolved to (`5` → `"5"`); `None` for collections.
    pub fn scalar_text(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { raw, .. } => Some(raw),
            _ => None,
        }
    }

    /// True for a null scalar.
    pub fn is_null(&self) -> bool {
        matches!(self.as_scalar(), Some(Scalar::Null))
    }

    /// The value under `key`, if this is a mapping holding it.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|e| e.key == key)
            .map(|e| &e.value)
    }

    /// The scalar style, if this is a scalar.
    pub fn style(&self) -> Option<ScalarStyle> {
        match &self.kind {
            NodeKind::Scalar { style, .. } => Some(*style),
            _ => None,
        }
    }

    /// Converts the node into a generic JSON value (mapping order kept; non-finite floats
    /// become `null`).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.kind {
            NodeKind::Scalar { value, .. } => match value {
                Scalar::Null => J::Null,
                Scalar::Bool(b) => J::Bool(*b),
                Scalar::Int(i) => J::from(*i),
                Scalar::Float(f) => serde_json::Number::from_f64(*f)
                    .map(J::Number)
                    .unwrap_or(J::Null),
                Scalar::Str(s) => J::String(s.clone()),
            },
            NodeKind::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            NodeKind::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|e| (e.key.clone(), e.value.to_json()))
                    .collect(),
            ),
        }
    }

    fn count(&self) -> usize {
        1 + match &self.kind {
            NodeKind::Scalar { .. } => 0,
            NodeKind::Seq(s) => s.iter().map(Node::count).sum(),
            NodeKind::Map(m) => m.iter().map(|e| 1 + e.value.count()).sum(),
        }
    }

    fn depth(&self) -> usize {
        match &self.kind {
            NodeKind::Scalar { .. } => 0,
            NodeKind::Seq(s) => 1 + s.iter().map(Node::depth).max().unwrap_or(0),
            NodeKind::Map(m) => 1 + m.iter().map(|e| e.value.depth()).max().unwrap_or(0),
        }
    }
}

/// Why a document could not be loaded. Rendered like the reference's `yaml.v3` errors:
/// `yaml: line 3: mapping key "a" already defined at line 2`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("yaml: line {}: {message}", pos.line)]
pub struct DocumentError {
    /// Where the problem is.
    pub pos: Pos,
    /// What the problem is.
    pub message: String,
}

impl DocumentError {
    fn new(pos: Pos, message: impl Into<String>) -> DocumentError {
        DocumentError {
            pos,
            message: message.into(),
        }
    }
}

/// Resolves a plain scalar with the YAML 1.2 core schema.
pub fn resolve_plain(s: &str) -> Scalar {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Scalar::Null,
        "true" | "True" | "TRUE" => return Scalar::Bool(true),
        "false" | "False" | "FALSE" => return Scalar::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Scalar::Float(f64::INFINITY)
        }
        "-.inf" | "-.Inf" | "-.INF" => return Scalar::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Scalar::Float(f64::NAN),
        _ => {}
    }
    let bytes = s.as_bytes();
    let (sign, digits) = match bytes[0] {
        b'-' | b'+' => (&s[..1], &s[1..]),
        _ => ("", s),
    };
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return match s.parse::<i64>() {
            Ok(i) => Scalar::Int(i),
            Err(_) => s
                .parse::<f64>()
                .map(Scalar::Float)
                .unwrap_or_else(|_| Scalar::Str(s.to_string())),
        };
    }
    if sign.is_empty() {
        if let Some(oct) = s.strip_prefix("0o") {
            if !oct.is_empty() && oct.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
                if let Ok(i) = i64::from_str_radix(oct, 8) {
                    return Scalar::Int(i);
                }
            }
        }
        if let Some(hex) = s.strip_prefix("0x") {
            if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                if let Ok(i) = i64::from_str_radix(hex, 16) {
                    return Scalar::Int(i);
                }
            }
        }
    }
    if is_core_float(digits) {
        if let Ok(f) = s.parse::<f64>() {
            return Scalar::Float(f);
        }
    }
    Scalar::Str(s.to_string())
}

/// `(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?` without the sign.
fn is_core_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = i - int_start;
    let mut frac_digits = 0;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let f = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        frac_digits = i - f;
    } else if int_digits == 0 {
        return false;
    }
    if int_digits == 0 && frac_digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let e = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == e {
            return false;
        }
    }
    i == b.len()
}

/// Byte offsets of line starts, to turn parser markers (line, char column) into byte offsets.
///
/// Markers arrive in document order, so [`Lines::offset`] resumes from the previous marker
/// when it is on the same line (and indexes directly into ASCII text): converting every event's
/// marker costs linear time in all, even for a 100k-item flow list on one line.
struct Lines<'a> {
    text: &'a str,
    starts: Vec<usize>,
    ascii: bool,
    /// The last marker converted: (line, char column, byte offset).
    cursor: std::cell::Cell<(usize, usize, usize)>,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Lines<'a> {
        let mut starts = vec![0];
        starts.extend(line_starts(text));
        Lines {
            text,
            starts,
            ascii: text.is_ascii(),
            cursor: std::cell::Cell::new((1, 0, 0)),
        }
    }

    /// Byte offset of a parser marker (1-based line, 0-based char column).
    fn offset(&self, line: usize, col0: usize) -> usize {
        let Some(&start) = self.starts.get(line.saturating_sub(1)) else {
            return self.text.len();
        };
        if self.ascii {
            return (start + col0).min(self.text.len());
        }
        let (cl, cc, co) = self.cursor.get();
        let (from_col, from) = if cl == line && cc <= col0 {
            (cc, co)
        } else {
            (0, start)
        };
        let off = self.text[from..]
            .char_indices()
            .nth(col0 - from_col)
            .map(|(i, _)| from + i)
            .unwrap_or(self.text.len());
        self.cursor.set((line, col0, off));
        off
    }

    /// The 1-based position of a byte offset.
    fn pos(&self, offset: usize) -> Pos {
        let line = self.starts.partition_point(|&s| s <= offset);
        let start = self.starts[line - 1];
        let col = self
            .text
            .get(start..offset)
            .map(|s| s.chars().count())
            .unwrap_or(0)
            + 1;
        Pos::new(line, col)
    }
}

/// Offsets just after each newline.
fn line_starts(text: &str) -> impl Iterator<Item = usize> + '_ {
    text.match_indices('\n').map(|(i, _)| i + 1)
}

fn marker_pos(span: &Span) -> Pos {
    Pos::new(span.start.line(), span.start.col() + 1)
}

enum Frame {
    Seq {
        pos: Pos,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        pos: Pos,
        anchor: usize,
        entries: Vec<Entry>,
        pending_key: Option<Node>,
        /// The keys seen so far (duplicate keys are found in constant time).
        keys: HashMap<String, usize>,
    },
}

/// Loads the first document of `text` with the default [`Limits`].
pub fn parse(text: &str) -> Result<Node, DocumentError> {
    parse_with_limits(text, Limits::default())
}

/// Loads the first document of `text`. An empty (or comment-only) text is a null node at line 0.
pub fn parse_with_limits(text: &str, limits: Limits) -> Result<Node, DocumentError> {
    if text.len() > limits.max_bytes {
        return Err(DocumentError::new(
            Pos::new(1, 1),
            format!(
                "document is {} bytes, more than the limit of {} bytes",
                text.len(),
                limits.max_bytes
            ),
        ));
    }
    Builder {
        lines: Lines::new(text),
        limits,
        anchors: HashMap::new(),
        nodes: 0,
        aliases: 0,
        last_end: 0,
    }
    .run(text)
}

struct Builder<'a> {
    lines: Lines<'a>,
    limits: Limits,
    anchors: HashMap<usize, Node>,
    nodes: usize,
    aliases: usize,
    /// Byte offset of the end of the previous event, to find block scalar indicators.
    last_end: usize,
}

impl Builder<'_> {
    fn run(mut self, text: &str) -> Result<Node, DocumentError> {
        let mut parser = Parser::new_from_str(text);
        let mut stack: Vec<Frame> = Vec::new();
        let mut in_doc = false;
        loop {
            let (event, span) = match parser.next_event() {
                None => break,
                Some(Ok(ev)) => ev,
                Some(Err(e)) => {
                    return Err(DocumentError::new(
                        Pos::new(e.marker().line().max(1), e.marker().col() + 1),
                        e.info().to_string(),
                    ))
                }
            };
            let pos = marker_pos(&span);
            let done = match event {
                Event::StreamStart | Event::Nothing => None,
                Event::StreamEnd => break,
                Event::DocumentStart(_) => {
                    in_doc = true;
                    None
                }
                Event::DocumentEnd => {
                    if in_doc {
                        // Only the first document counts (as with the reference's decoder).
                        return Ok(Node::null(Pos::new(0, 1)));
                    }
                    None
                }
                Event::Alias(id) => {
                    self.aliases += 1;
                    if self.aliases > self.limits.max_aliases {
                        return Err(DocumentError::new(
                            pos,
                            "document contains too many aliases",
                        ));
                    }
                    let Some(target) = self.anchors.get(&id) else {
                        return Err(DocumentError::new(pos, "unknown anchor"));
                    };
                    self.nodes += target.count();
                    if self.nodes > self.limits.max_nodes {
                        return Err(DocumentError::new(
                            pos,
                            "document is too large after expanding aliases",
                        ));
                    }
                    if stack.len() + target.depth() > self.limits.max_depth {
                        return Err(DocumentError::new(pos, "document is nested too deeply"));
                    }
                    Some(target.clone())
                }
                Event::Scalar(value, style, anchor, tag) => {
                    let node = self.scalar(value, style, tag, pos, &span)?;
                    self.count(pos)?;
                    if anchor > 0 {
                        self.anchors.insert(anchor, node.clone());
                    }
                    Some(node)
                }
                Event::SequenceStart(anchor, _) => {
                    self.count(pos)?;
                    if stack.len() >= self.limits.max_depth {
                        return Err(DocumentError::new(pos, "document is nested too deeply"));
                    }
                    stack.push(Frame::Seq {
                        pos,
                        anchor,
                        items: Vec::new(),
                    });
                    None
                }
                Event::MappingStart(anchor, _) => {
                    self.count(pos)?;
                    if stack.len() >= self.limits.max_depth {
                        return Err(DocumentError::new(pos, "document is nested too deeply"));
                    }
                    stack.push(Frame::Map {
                        pos,
                        anchor,
                        entries: Vec::new(),
                        pending_key: None,
                        keys: HashMap::new(),
                    });
                    None
                }
                Event::SequenceEnd => match stack.pop() {
                    Some(Frame::Seq { pos, anchor, items }) => {
                        let node = Node {
                            pos,
                            kind: NodeKind::Seq(items),
                        };
                        if anchor > 0 {
                            self.anchors.insert(anchor, node.clone());
                        }
                        Some(node)
                    }
                    _ => return Err(DocumentError::new(pos, "unbalanced sequence end")),
                },
                Event::MappingEnd => match stack.pop() {
                    Some(Frame::Map {
                        pos,
                        anchor,
                        entries,
                        ..
                    }) => {
                        let node = Node {
                            pos,
                            kind: NodeKind::Map(merge_keys(entries)),
                        };
                        if anchor > 0 {
                            self.anchors.insert(anchor, node.clone());
                        }
                        Some(node)
                    }
                    _ => return Err(DocumentError::new(pos, "unbalanced mapping end")),
                },
            };
            self.last_end = self.lines.offset(span.end.line(), span.end.col());
            if let Some(node) = done {
                match stack.last_mut() {
                    None => return Ok(node),
                    Some(Frame::Seq { items, .. }) => items.push(node),
                    Some(Frame::Map {
                        entries,
                        pending_key,
                        keys,
                        ..
                    }) => match pending_key.take() {
                        None => *pending_key = Some(node),
                        Some(key) => add_entry(entries, keys, key, node)?,
                    },
                }
            }
        }
        Ok(Node::null(Pos::new(0, 1)))
    }

    fn count(&mut self, pos: Pos) -> Result<(), DocumentError> {
        self.nodes += 1;
        if self.nodes > self.limits.max_nodes {
            return Err(DocumentError::new(
                pos,
                format!(
                    "document has more than {} nodes (keys, values and items in all)",
                    self.limits.max_nodes
                ),
            ));
        }
        Ok(())
    }

    fn scalar(
        &self,
        value: Cow<'_, str>,
        style: SaphyrStyle,
        tag: Option<Cow<'_, Tag>>,
        pos: Pos,
        span: &Span,
    ) -> Result<Node, DocumentError> {
        let raw = value.into_owned();
        let (style, pos) = match style {
            SaphyrStyle::Plain => (ScalarStyle::Plain, pos),
            SaphyrStyle::SingleQuoted | SaphyrStyle::DoubleQuoted => (ScalarStyle::Quoted, pos),
            SaphyrStyle::Literal => (
                ScalarStyle::Literal,
                self.block_indicator(span, '|').unwrap_or(pos),
            ),
            SaphyrStyle::Folded => (
                ScalarStyle::Folded,
                self.block_indicator(span, '>').unwrap_or(pos),
            ),
        };
        let core_suffix = tag
            .as_ref()
            .filter(|t| t.is_yaml_core_schema())
            .map(|t| t.suffix.as_str());
        let value = match (core_suffix, style) {
            (Some("str"), _) => Scalar::Str(raw.clone()),
            (Some("null"), _) => Scalar::Null,
            (Some("int" | "float" | "bool"), _) | (None, ScalarStyle::Plain) => resolve_plain(&raw),
            (Some(_), ScalarStyle::Plain) => resolve_plain(&raw),
            _ => Scalar::Str(raw.clone()),
        };
        Ok(Node {
            pos,
            kind: NodeKind::Scalar { raw, style, value },
        })
    }

    /// The position of a block scalar's `|` / `>` indicator: the first one after the previous
    /// event, before the scalar's content.
    fn block_indicator(&self, span: &Span, indicator: char) -> Option<Pos> {
        let content = self.lines.offset(span.start.line(), span.start.col());
        let between = self.lines.text.get(self.last_end..content)?;
        let rel = between.find(indicator)?;
        Some(self.lines.pos(self.last_end + rel))
    }
}

fn add_entry(
    entries: &mut Vec<Entry>,
    keys: &mut HashMap<String, usize>,
    key: Node,
    value: Node,
) -> Result<(), DocumentError> {
    let key_text = match &key.kind {
        NodeKind::Scalar { raw, .. } => raw.clone(),
        _ => return Err(DocumentError::new(key.pos, "mapping keys must be scalars")),
    };
    if key_text != "<<" {
        if let Some(&line) = keys.get(&key_text) {
            return Err(DocumentError::new(
                key.pos,
                format!(
                    "mapping key {:?} already defined at line {}",
                    key_text, line
                ),
            ));
        }
        keys.insert(key_text.clone(), key.pos.line);
    }
    entries.push(Entry {
        key: key_text,
        key_pos: key.pos,
        value,
    });
    Ok(())
}

/// Applies `<<` merge keys: entries of the merged mapping(s) that the mapping does not define
/// itself are appended.
fn merge_keys(entries: Vec<Entry>) -> Vec<Entry> {
    if !entries.iter().any(|e| e.key == "<<") {
        return entries;
    }
    let (merges, mut own): (Vec<Entry>, Vec<Entry>) =
        entries.into_iter().partition(|e| e.key == "<<");
    let mut defined: std::collections::HashSet<String> =
        own.iter().map(|o| o.key.clone()).collect();
    for merge in merges {
        let sources: Vec<Node> = match merge.value.kind {
            NodeKind::Map(_) => vec![merge.value],
            NodeKind::Seq(items) => items,
            _ => continue,
        };
        for source in sources {
            if let NodeKind::Map(src) = source.kind {
                for e in src {
                    if defined.insert(e.key.clone()) {
                        own.push(e);
                    }
                }
            }
        }
    }
    own
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar_of(text: &str, key: &str) -> Scalar {
        parse(text)
            .unwrap()
            .get(key)
            .unwrap()
            .as_scalar()
            .unwrap()
            .clone()
    }

    #[test]
    fn resolves_core_schema() {
        assert_eq!(resolve_plain("~"), Scalar::Null);
        assert_eq!(resolve_plain("True"), Scalar::Bool(true));
        assert_eq!(resolve_plain("-42"), Scalar::Int(-42));
        assert_eq!(resolve_plain("0x1f"), Scalar::Int(31));
        assert_eq!(resolve_plain("0o17"), Scalar::Int(15));
        assert_eq!(resolve_plain("1.5e3"), Scalar::Float(1500.0));
        assert_eq!(resolve_plain(".5"), Scalar::Float(0.5));
        assert_eq!(resolve_plain("yes"), Scalar::Str("yes".into()));
        assert_eq!(resolve_plain("1.2.3"), Scalar::Str("1.2.3".into()));
        assert_eq!(resolve_plain("5s"), Scalar::Str("5s".into()));
        assert_eq!(resolve_plain("-"), Scalar::Str("-".into()));
        assert_eq!(resolve_plain("."), Scalar::Str(".".into()));
        assert_eq!(resolve_plain("1e"), Scalar::Str("1e".into()));
    }

    #[test]
    fn quoted_scalars_stay_strings() {
        assert_eq!(scalar_of("a: \"5\"", "a"), Scalar::Str("5".into()));
        assert_eq!(scalar_of("a: '5'", "a"), Scalar::Str("5".into()));
        assert_eq!(scalar_of("a: 5", "a"), Scalar::Int(5));
        assert_eq!(scalar_of("a: !!str 5", "a"), Scalar::Str("5".into()));
        assert_eq!(scalar_of("a:", "a"), Scalar::Null);
    }

    #[test]
    fn positions_follow_the_reference() {
        let doc = parse("input:\n  http_server: {}\npipeline:\n  processors:\n    - mapping: |\n        root = this\n    - mapping: 'x'\n").unwrap();
        assert_eq!(doc.pos, Pos::new(1, 1));
        let input = doc.get("input").unwrap();
        assert_eq!(input.pos, Pos::new(2, 3));
        assert_eq!(input.get("http_server").unwrap().pos, Pos::new(2, 16));
        let procs = doc.get("pipeline").unwrap().get("processors").unwrap();
        assert_eq!(procs.pos, Pos::new(5, 5));
        let items = procs.as_seq().unwrap();
        assert_eq!(items[0].get("mapping").unwrap().pos, Pos::new(5, 16));
        assert_eq!(
            items[0].get("mapping").unwrap().style(),
            Some(ScalarStyle::Literal)
        );
        assert_eq!(items[1].get("mapping").unwrap().pos, Pos::new(7, 16));
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let err = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(err.pos, Pos::new(3, 1));
        assert_eq!(
            err.to_string(),
            "yaml: line 3: mapping key \"a\" already defined at line 1"
        );
    }

    #[test]
    fn aliases_and_merge_keys() {
        let doc = parse("a: &x {b: 1}\nc: *x\nd:\n  <<: *x\n  e: 2\n").unwrap();
        assert_eq!(
            doc.get("c").unwrap().get("b").unwrap().as_scalar(),
            Some(&Scalar::Int(1))
        );
        assert_eq!(
            doc.get("d").unwrap().get("b").unwrap().as_scalar(),
            Some(&Scalar::Int(1))
        );
    }

    #[test]
    fn alias_bombs_are_bounded() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let refs = vec![format!("*a{}", i - 1); 10].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        let err = parse(&text).unwrap_err();
        assert!(err.message.contains("too"), "{err}");
    }

    #[test]
    fn depth_is_bounded() {
        assert!(parse(&"[".repeat(100_000)).is_err());
        let block: String = (0..70)
            .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
            .collect();
        assert!(parse(&block)
            .unwrap_err()
            .message
            .contains("nested too deeply"));
        let text = format!("{}1{}", "[".repeat(64), "]".repeat(64));
        assert!(parse(&text).is_ok());
    }

    #[test]
    fn empty_document_is_null_at_line_zero() {
        assert_eq!(parse("").unwrap(), Node::null(Pos::new(0, 1)));
        assert_eq!(
            parse("# only a comment\n").unwrap(),
            Node::null(Pos::new(0, 1))
        );
    }

    #[test]
    fn json_is_accepted() {
        let doc = parse("{\"a\": {\"b\": [1, \"2\", true, null]}}").unwrap();
        assert_eq!(
            doc.to_json(),
            serde_json::json!({"a": {"b": [1, "2", true, null]}})
        );
    }
}
