//! IR (placeholder).
