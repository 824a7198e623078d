//! `bloblang-conformance FILE.jsonl...`: runs Bloblang conformance cases against sluice's
//! interpreter, prints each failure, and ends with `N passed, M failed`. Exit code 1 when any
//! case failed, 2 when a file could not be read.

use std::process::ExitCode;

use sluice_compiler::conformance::{parse_cases, run_cases};

fn main() -> ExitCode {
    let files: Vec<String> = std::env::args().skip(1).collect();
    if files.is_empty() {
        eprintln!("usage: bloblang-conformance FILE.jsonl...");
        return ExitCode::from(2);
    }
    let (mut passed, mut failed) = (0usize, 0usize);
    for f in &files {
        let text = match std::fs::read_to_string(f) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{}: {}", f, e);
                return ExitCode::from(2);
            }
        };
        let (cases, bad) = parse_cases(&text);
        for r in bad.into_iter().chain(run_cases(&cases)) {
            match r.failure {
                None => passed += 1,
                Some(why) => {
                    failed += 1;
                    println!("FAIL {}: {}", r.id, why.replace('\n', "\\n"));
                }
            }
        }
    }
    println!("{} passed, {} failed", passed, failed);
    if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
