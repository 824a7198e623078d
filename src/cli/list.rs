//! `sluice list` (placeholder).
use std::process::ExitCode;
/// Arguments.
#[derive(Debug, clap::Args)]
pub struct ListArgs {}
/// Runs.
pub fn run(_a: ListArgs) -> ExitCode { ExitCode::SUCCESS }
