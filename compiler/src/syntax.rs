//! Syntax tree (placeholder).
