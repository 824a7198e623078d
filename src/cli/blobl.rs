//! `sluice blobl` (placeholder).
use std::process::ExitCode;
/// Arguments.
#[derive(Debug, clap::Args)]
pub struct BloblArgs {}
/// Runs.
pub fn run(_a: BloblArgs) -> ExitCode { ExitCode::SUCCESS }
