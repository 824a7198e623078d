//! The `sluice` command line: `streams`, `run`, `compile --check` (alias `lint`), `list`,
//! `blobl`. Each subcommand lives in its own module under `cli/`.

mod api;
mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    cli::run(args)
}
