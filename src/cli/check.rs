//! `sluice compile --check` (placeholder).
use std::process::ExitCode;
/// Arguments.
#[derive(Debug, clap::Args)]
pub struct CompileArgs {}
/// Runs.
pub fn run(_a: CompileArgs) -> ExitCode { ExitCode::SUCCESS }
