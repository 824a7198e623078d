//! The `sluice` command line: `streams`, `run`, `compile --check` (alias `lint`), `list`,
//! `blobl`. Each subcommand lives in its own module under `cli/`.

mod api;
mod cli;
mod http;

use std::process::ExitCode;

use clap::Parser;

/// Counts each thread's live bytes, so every mapping evaluation is held to the per-message
/// memory budget (`sluice_compiler::limits`).
#[cfg(feature = "count-alloc")]
#[global_allocator]
static ALLOC: sluice_compiler::limits::CountingAlloc = sluice_compiler::limits::CountingAlloc;

fn main() -> ExitCode {
    // jq queries run in worker processes of this binary (see components::jq).
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == "__jq-worker")
    {
        return sluice_runtime::components::jq::worker_main();
    }
    if let Ok(exe) = std::env::current_exe() {
        sluice_runtime::components::jq::set_worker_executable(exe);
    }
    if let Some(bytes) = std::env::var("SLUICE_MESSAGE_MEMORY_LIMIT")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        sluice_compiler::limits::set_message_memory(bytes);
    }
    // Every TLS config (API server, HTTP clients) uses ring through rustls.
    sluice_runtime::tls::install_provider();
    let args = cli::Cli::parse();
    let code = cli::run(args);
    cli::logging::flush();
    code
}
