//! Errors of the compiler (positioned, rendered for people) and of evaluation (worded like the
//! reference engine).

use thiserror::Error;

/// A compile error: where (1-based line and column in the mapping text) and what.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("line {line} char {col}: {message}")]
pub struct CompileError {
    /// 1-based line in the mapping text.
    pub line: usize,
    /// 1-based column (in characters) in that line.
    pub col: usize,
    /// What went wrong, in words.
    pub message: String,
    /// The offending line with a caret under the column (may be empty).
    pub snippet: String,
}

impl CompileError {
    /// Builds an error at a byte offset of `src`, computing line, column and snippet.
    pub fn at(src: &str, offset: usize, message: impl Into<String>) -> CompileError {
        let offset = offset.min(src.len());
        let before = &src[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let col = src[line_start..offset].chars().count() + 1;
        let line_end = src[line_start..]
            .find('\n')
            .map(|i| line_start + i)
            .unwrap_or(src.len());
        let text = &src[line_start..line_end];
        let snippet = format!("{}\n{}^", text, " ".repeat(col - 1));
        CompileError {
            line,
            col,
            message: message.into(),
            snippet,
        }
    }

    /// The error with its caret snippet, for terminals.
    pub fn render(&self) -> String {
        if self.snippet.is_empty() {
            self.to_string()
        } else {
            format!("{}\n{}", self, self.snippet)
        }
    }
}

/// A runtime error of a mapping, worded like the reference engine.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message}")]
pub struct EvalError {
    /// The message.
    pub message: String,
}

impl EvalError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> EvalError {
        EvalError {
            message: message.into(),
        }
    }

    /// The reference's wording for a value of the wrong type:
    /// `expected number value, got string ("foo")`.
    pub fn expected(expected: &str, got: &crate::Value) -> EvalError {
        EvalError::new(format!(
            "expected {} value, got {}",
            expected,
            describe(got)
        ))
    }
}

/// Describes a value for error messages, as the reference does: `string ("foo")`, `null`.
pub fn describe(v: &crate::Value) -> String {
    use crate::Value;
    match v {
        Value::Null => "null".into(),
        Value::Nothing => "nothing".into(),
        Value::Deleted => "delete".into(),
        Value::Str(s) => format!("string (\"{}\")", truncate(s)),
        Value::Bytes(b) => format!("bytes (\"{}\")", truncate(&String::from_utf8_lossy(b))),
        Value::Int(_) | Value::Float(_) => format!("number ({})", v.to_json_string()),
        Value::Bool(b) => format!("bool ({})", b),
        Value::Array(_) | Value::Object(_) => {
            format!("{} ({})", v.type_name(), truncate(&v.to_json_string()))
        }
        Value::Timestamp(_) => format!("timestamp ({})", v.to_display_string()),
    }
}

fn truncate(s: &str) -> String {
    if s.chars().count() > 100 {
        let cut: String = s.chars().take(100).collect();
        format!("{}...", cut)
    } else {
        s.to_string()
    }
}
