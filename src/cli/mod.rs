//! Command-line definition and dispatch. One module per subcommand.

pub mod blobl;
pub mod check;
pub mod list;
pub mod logging;
pub mod streams;

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
    /// Run the streams-mode service: HTTP server, REST API, streams from files.
    Streams(streams::StreamsArgs),
    /// Run a single stream from a config file until its input ends.
    Run(streams::RunArgs),
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
        Command::Streams(a) => streams::run(a),
        Command::Run(a) => streams::run_single(a),
        Command::Compile(a) => check::run(a),
        Command::List(a) => list::run(a),
        Command::Blobl(a) => blobl::run(a),
    }
}
