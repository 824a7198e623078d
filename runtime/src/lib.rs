//! sluice runtime: everything between a config text and running streams.
//!
//! Config: `config text → config::document (positions) → config::decode (spec-driven walk:
//! lints + defaults) → config::stream::StreamConfig`. Every step reads the one spec per
//! component held by [`registry`]; [`lint`] holds the lint type and rules.
//!
//! Run time: [`components::build_plan`] constructs every component of a stream into a
//! [`stream::StreamPlan`] (nothing runs yet), [`stream::RunningStream`] runs it, and
//! [`manager::StreamsManager`] keeps the set of streams behind the REST API. [`endpoints`] is
//! the registry of stream HTTP routes, [`server`] the accept loop of every
//! HTTP server, [`tls`] rustls configs, [`metrics`] the labelled counters, [`duration`] Go
//! duration strings.

#![warn(missing_docs)]

pub mod components;
pub mod config;
pub mod duration;
pub mod endpoints;
pub mod lint;
pub mod log_limit;
pub mod manager;
pub mod metrics;
pub mod registry;
pub mod secrets;
pub mod server;
pub mod stream;
pub mod tls;

pub use config::{check, load_stream, ConfigError, LoadOptions, Scope, StreamConfig};
pub use lint::{Lint, Severity};
