//! Lints: what is wrong with a config, where, and how badly, worded like the reference
//! (`(3,1) field huh not recognised`).
//!
//! The rules that are not plain type checks live here: option lists, Bloblang and
//! interpolation fields (compiled with `sluice_compiler`), labels (format and uniqueness).
//! The walk that applies them to a document is `config::decode`, which lints and decodes in
//! one pass so that the two can never disagree; [`lint_document`] is its lint-only view.

use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

use regex::Regex;
use serde::Serialize;

use crate::config::document::{Node, ScalarStyle};
use crate::config::{self, Scope};

/// How serious a lint is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The config is wrong.
    Error,
    /// The config is suspicious (e.g. a component type that cannot be inferred).
    Warning,
}

/// One lint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lint {
    /// 1-based line in the linted text (0 for an empty document).
    pub line: usize,
    /// Column as the reference reports it: 1, except for Bloblang errors (field column plus
    /// error column).
    pub col: usize,
    /// What is wrong.
    pub message: String,
    /// Error or warning.
    pub severity: Severity,
    /// The 1-based column of the offending node in the text, for pointing a caret at it.
    #[serde(skip)]
    pub node_col: usize,
}

impl Lint {
    /// An error-level lint at `line` (column 1).
    pub fn error(line: usize, message: impl Into<String>) -> Lint {
        Lint {
            line,
            col: 1,
            message: message.into(),
            severity: Severity::Error,
            node_col: 1,
        }
    }

    /// A warning-level lint at `line` (column 1).
    pub fn warning(line: usize, message: impl Into<String>) -> Lint {
        Lint {
            severity: Severity::Warning,
            ..Lint::error(line, message)
        }
    }

    /// An error-level lint about `node`.
    pub(crate) fn at(node: &Node, message: impl Into<String>) -> Lint {
        Lint {
            node_col: node.pos.col,
            ..Lint::error(node.pos.line, message)
        }
    }
}

impl fmt::Display for Lint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({},{}) {}", self.line, self.col, self.message)
    }
}

/// Lints a parsed document against the stream spec of `scope` (a lint-only view of
/// [`config::decode_stream`]).
pub fn lint_document(
    registry: &'static crate::registry::Registry,
    doc: &Node,
    scope: Scope,
) -> Vec<Lint> {
    match config::decode_stream(registry, doc, scope, true) {
        Ok((_, lints)) => lints,
        Err(config::ConfigError::Invalid { lints, .. }) => lints,
        Err(e) => vec![Lint::error(1, e.to_string())],
    }
}

/// `value V is not a valid option for this field` when `node`'s text is not one of `options`
/// (compared case-insensitively).
pub(crate) fn check_option(node: &Node, options: &[&str]) -> Option<Lint> {
    let text = node.scalar_text()?;
    if options.is_empty() || options.iter().any(|o| o.eq_ignore_ascii_case(text)) {
        return None;
    }
    Some(Lint::at(
        node,
        format!("value {text} is not a valid option for this field"),
    ))
}

/// Whether a Bloblang field holds a mapping or an interpolated string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BloblangKind {
    /// A whole mapping (`mapping`, `check`, ...).
    Mapping,
    /// A string with `${! ... }` interpolations.
    Interpolation,
}

/// Compiles the string in `node` and turns a compile error into a lint positioned in the file:
/// line = field line (+1 for a `|` block) + error line - 1; column = field column + error
/// column, as the reference computes them.
pub(crate) fn check_bloblang(node: &Node, kind: BloblangKind) -> Option<Lint> {
    let src = node.scalar_text()?;
    if src.is_empty() {
        return None;
    }
    let result = match kind {
        BloblangKind::Mapping => sluice_compiler::check_mapping(src),
        BloblangKind::Interpolation => sluice_compiler::check_interpolation(src),
    };
    let err = result.err()?;
    let block = node.style() == Some(ScalarStyle::Literal);
    let line = node.pos.line + usize::from(block) + err.line.max(1) - 1;
    let col = node.pos.col + err.col;
    let node_col = if block || err.line > 1 {
        col
    } else {
        node.pos.col + err.col - 1 + quote_offset(node)
    };
    Some(Lint {
        line,
        col,
        message: err.to_string(),
        severity: Severity::Error,
        node_col,
    })
}

fn quote_offset(node: &Node) -> usize {
    usize::from(node.style() == Some(ScalarStyle::Quoted))
}

fn label_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^[a-z0-9_\-]+$").expect("static regex"))
}

/// Labels seen so far in one document, to report duplicates.
#[derive(Debug, Default)]
pub(crate) struct Labels {
    lines: HashMap<String, usize>,
}

impl Labels {
    /// Checks a label's format and uniqueness; records it.
    pub(crate) fn check(&mut self, node: &Node, label: &str) -> Option<Lint> {
        if label.is_empty() {
            return None;
        }
        if label.starts_with('_') || !label_regex().is_match(label) {
            return Some(Lint::at(
                node,
                format!(
                    "invalid label '{label}': should match the regular expression /^[a-z0-9_\\-]+$/ and must not start with an underscore"
                ),
            ));
        }
        if let Some(prev) = self.lines.get(label) {
            return Some(Lint::at(
                node,
                format!("label '{label}' collides with a previously defined label at line {prev}"),
            ));
        }
        self.lines.insert(label.to_string(), node.pos.line);
        None
    }
}
