//! Bloblang run on both back ends, outputs compared. The input is a mapping, a line with
//! `---`, then the message. Mappings whose result is not a function of their input (time,
//! randomness, counters such as `count()` and `counter()`, the environment) are skipped.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_compiler::interp::outcome_text as observe;
use sluice_compiler::{Backend, Mapping, Message};

const NONDETERMINISTIC: &[&str] = &[
    "now", "timestamp", "uuid", "random", "count", "hostname", "env", "file", "ksuid",
    "nanoid", "snowflake", "tracing",
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (src, msg) = text.split_once("\n---\n").unwrap_or((text, "{}"));
    if NONDETERMINISTIC.iter().any(|n| src.contains(n)) {
        return;
    }
    let (Ok(interp), Ok(jit)) = (
        Mapping::compile_with(src, Backend::Interpreter),
        Mapping::compile_with(src, Backend::Jit),
    ) else {
        return;
    };
    let m = Message::new(msg.as_bytes().to_vec());
    let a = observe(interp.run(&m));
    let b = observe(jit.run(&m));
    assert_eq!(a, b, "back ends disagree on {src:?} with {msg:?}");
});
