//! Command-line definition and dispatch. One module per subcommand.

pub mod blobl;
pub mod check;
pub mod list;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// sluice: a stream processor compatible with Redpanda Connect's streams mode.
#[derive(Debug, Parser)]
#[command(name = "sluice", version, about)]
pub struct Cli {
    /// The subcommand to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate config files (and the Bloblang they hold) offline, like `rpk connect lint`.
    #[command(alias = "lint")]
    Compile(check::CompileArgs),
    /// List every registered component with its fields and defaults.
    List(list::ListArgs),
    /// Run a Bloblang mapping over documents read from stdin, one per line.
    Blobl(blobl::BloblArgs),
}

/// Runs the parsed command line and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Compile(a) => check::run(a),
        Command::List(a) => list::run(a),
        Command::Blobl(a) => blobl::run(a),
    }
}
