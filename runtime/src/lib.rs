//! sluice runtime: the config model (document tree with positions, env interpolation, typed
//! stream config, defaults-filled rendering), the component registry, and the linter.

pub mod config;
pub mod registry;
