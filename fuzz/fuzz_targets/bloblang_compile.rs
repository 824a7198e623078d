//! Bloblang parse and compile on both back ends: any text gives a mapping or a positioned
//! error, never a panic or an overflow.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_compiler::{Backend, Mapping};

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let interp = Mapping::compile_with(src, Backend::Interpreter);
    let jit = Mapping::compile_with(src, Backend::Jit);
    match (&interp, &jit) {
        (Ok(_), Ok(_)) => {}
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
        _ => panic!("back ends disagree on whether {src:?} compiles"),
    }
    if let Err(e) = interp {
        let _ = e.render();
    }
});
