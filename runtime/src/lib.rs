//! sluice runtime: the config model (document tree with positions, env interpolation, typed
//! stream config, defaults-filled rendering), the component registry, and the linter.
//!
//! Flow: `config text → config::document (positions) → config::decode (spec-driven walk: lints
//! + defaults) → config::stream::StreamConfig`. Every step reads the one spec per component
//! held by [`registry`].

#![warn(missing_docs)]

pub mod components;
pub mod config;
pub mod duration;
pub mod endpoints;
pub mod lint;
pub mod manager;
pub mod metrics;
pub mod registry;
pub mod stream;

pub use config::{check, load_stream, ConfigError, LoadOptions, Scope, StreamConfig};
pub use lint::{Lint, Severity};
