//! Standard library (placeholder).
