//! The raw JSON scanner behind the JIT's payload plans: arbitrary bytes through a projection
//! and a splice (both run on the raw payload) must give what the interpreter gives on the
//! parsed document.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_compiler::interp::outcome_text as observe;
use sluice_compiler::{Backend, Mapping, Message};

fn mappings() -> &'static [(Mapping, Mapping)] {
    static M: std::sync::OnceLock<Vec<(Mapping, Mapping)>> = std::sync::OnceLock::new();
    M.get_or_init(|| {
        [
            "root.a = this.a\nroot.b = this.b.c\nroot.d = this.d.0",
            "root = this\nroot.x = this.a\nroot.y = 5",
            "root = {\"k\": this.user.id, \"v\": this.body}",
        ]
        .iter()
        .map(|s| {
            (
                Mapping::compile_with(s, Backend::Interpreter).expect("mapping"),
                Mapping::compile_with(s, Backend::Jit).expect("mapping"),
            )
        })
        .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let m = Message::new(data.to_vec());
    for (interp, jit) in mappings() {
        let a = observe(interp.run(&m));
        let b = observe(jit.run(&m));
        assert_eq!(a, b, "payload {:?}", String::from_utf8_lossy(data));
        let a = observe(interp.run_mutation(&m));
        let b = observe(jit.run_mutation(&m));
        assert_eq!(a, b, "mutation, payload {:?}", String::from_utf8_lossy(data));
    }
});
