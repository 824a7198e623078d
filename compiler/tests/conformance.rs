//! Runs the shared Bloblang conformance cases (`../shared/conformance/bloblang/cases.jsonl`)
//! and fails if fewer pass than the floor committed in `conformance_floor.txt` (raise the
//! floor as the pass count grows).

use std::path::PathBuf;

use sluice_compiler::conformance::{parse_cases, run_cases};

#[test]
fn conformance_pass_count_does_not_drop_below_the_floor() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let cases_path = root.join("../../shared/conformance/bloblang/cases.jsonl");
    let text = std::fs::read_to_string(&cases_path).unwrap_or_else(|e| {
        panic!(
            "cannot read {} (shared/ must sit beside the repository): {}",
            cases_path.display(),
            e
        )
    });
    let floor: usize = std::fs::read_to_string(root.join("tests/conformance_floor.txt"))
        .expect("floor file")
        .trim()
        .parse()
        .expect("floor is a number");
    let (cases, bad) = parse_cases(&text);
    assert!(bad.is_empty(), "unparsable case lines: {:?}", bad);
    let results = run_cases(&cases);
    let passed = results.iter().filter(|r| r.failure.is_none()).count();
    let failures: Vec<String> = results
        .iter()
        .filter_map(|r| r.failure.as_ref().map(|f| format!("{}: {}", r.id, f)))
        .collect();
    println!("{} passed, {} failed", passed, failures.len());
    assert!(
        passed >= floor,
        "conformance dropped below the floor: {} passed < {}\n{}",
        passed,
        floor,
        failures.join("\n")
    );
}
