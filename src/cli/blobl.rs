//! `sluice blobl [--file MAPPING_FILE | MAPPING]`: runs a mapping over documents read from
//! stdin, one per line, like `rpk connect blobl`. Each result goes to stdout on its own line;
//! a failing line's error goes to stderr with its input line number and processing goes on;
//! deleted messages print nothing.

use std::io::{BufRead, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use sluice_compiler::{Mapping, MappingOutcome, Message};

/// Arguments of `sluice blobl`.
#[derive(Debug, clap::Args)]
pub struct BloblArgs {
    /// Read the mapping from this file.
    #[arg(short, long, conflicts_with = "mapping")]
    pub file: Option<PathBuf>,
    /// The mapping text.
    pub mapping: Option<String>,
}

/// Runs `sluice blobl`: exit 0 when every line mapped, 1 when any line failed, 2 when the
/// mapping could not be read or compiled.
pub fn run(args: BloblArgs) -> ExitCode {
    let (src, origin) = match (&args.file, &args.mapping) {
        (Some(f), _) => match std::fs::read_to_string(f) {
            Ok(s) => (s, f.display().to_string()),
            Err(e) => {
                eprintln!("failed to read mapping file {}: {}", f.display(), e);
                return ExitCode::from(2);
            }
        },
        (None, Some(m)) => (m.clone(), "mapping".to_string()),
        (None, None) => {
            eprintln!("a mapping is required: sluice blobl 'root = this' or --file FILE");
            return ExitCode::from(2);
        }
    };
    let mapping = match Mapping::compile(&src) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("{}: failed to compile mapping: {}", origin, e.render());
            return ExitCode::from(2);
        }
    };
    let stdin = std::io::stdin().lock();
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut failed = false;
    for (i, line) in stdin.split(b'\n').enumerate() {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                eprintln!("failed to read input: {}", e);
                return ExitCode::from(2);
            }
        };
        let line = line.strip_suffix(b"\r").map(<[u8]>::to_vec).unwrap_or(line);
        match mapping.run(&Message::new(line)) {
            Ok(MappingOutcome::Message(m)) => {
                let ok = out.write_all(&m.payload).and_then(|_| out.write_all(b"\n"));
                if ok.is_err() {
                    // stdout closed (e.g. piped into `head`): stop quietly.
                    return ExitCode::SUCCESS;
                }
            }
            Ok(MappingOutcome::Deleted) => {}
            Err(e) => {
                failed = true;
                let _ = out.flush();
                eprintln!("failed to execute mapping on line {}: {}", i + 1, e);
            }
        }
    }
    let _ = out.flush();
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
