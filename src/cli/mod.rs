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
    /// A config file, as older Benthos command lines give it: the root config of `streams`
    /// (like `-o`), or, with no subcommand, the config to run (like `run FILE`).
    #[arg(short = 'c', long = "config", global = true)]
    pub config: Option<std::path::PathBuf>,
    /// The subcommand to run.
    #[command(subcommand)]
    pub command: Option<Command>,
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
        Some(Command::Streams(mut a)) => {
            if a.observability.is_none() {
                a.observability = cli.config;
            }
            streams::run(a)
        }
        Some(Command::Run(_) | Command::Compile(_) | Command::List(_) | Command::Blobl(_))
            if cli.config.is_some() =>
        {
            eprintln!("sluice: -c/--config goes with `streams` (the root config) or alone (the config to run)");
            ExitCode::from(2)
        }
        Some(Command::Run(a)) => streams::run_single(a),
        None => match cli.config {
            Some(file) => streams::run_single(streams::RunArgs {
                file,
                http_address: None,
                log_level: None,
                chilled: false,
            }),
            None => {
                eprintln!("sluice: a subcommand is required (streams, run, compile, list, blobl, or -c FILE to run a config); see --help");
                ExitCode::from(2)
            }
        },
        Some(Command::Compile(a)) => check::run(a),
        Some(Command::List(a)) => list::run(a),
        Some(Command::Blobl(a)) => blobl::run(a),
    }
}
