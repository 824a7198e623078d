//! Evaluation limits on both back ends: recursion is bounded by the stack actually left (not
//! only by a depth count), values by the memory budget, and a raised interrupt stops an
//! evaluation. Each case runs on a thread with a small stack, where the unbounded versions
//! overflowed it.

use sluice_compiler::limits::{self, Interrupt};
use sluice_compiler::{Backend, Mapping, MappingOutcome, Message};

fn run_small_stack(src: &str, backend: Backend, msg: &str, stack: usize) -> Result<String, String> {
    let src = src.to_string();
    let msg = msg.to_string();
    std::thread::Builder::new()
        .stack_size(stack)
        .spawn(move || {
            let m = Mapping::compile_with(&src, backend).map_err(|e| e.to_string())?;
            match m.run(&Message::new(msg.into_bytes())) {
                Ok(MappingOutcome::Message(m)) => {
                    Ok(String::from_utf8_lossy(&m.payload).into_owned())
                }
                Ok(MappingOutcome::Deleted) => Ok("<deleted>".into()),
                Err(e) => Err(e.to_string()),
            }
        })
        .unwrap()
        .join()
        .unwrap()
}

/// A named map that recurses while building a wide array literal.
fn wide_recursion(width: usize) -> String {
    let items: Vec<String> = (0..width).map(|i| format!("this.n + {}", i)).collect();
    format!(
        "map r {{\n  root = if this.n > 0 {{ [{}, {{\"n\": this.n - 1}}.apply(\"r\")] }} else {{ [] }}\n}}\nroot = {{\"n\": this.depth}}.apply(\"r\")",
        items.join(", ")
    )
}

#[test]
fn recursion_past_the_stack_is_an_error_on_both_back_ends() {
    for backend in [Backend::Jit, Backend::Interpreter] {
        // 99 levels of a 160-wide array: whatever the stack, the result is the value or a
        // stack-budget error, never an overflow; on the smallest stack it is the error.
        for stack in [320 << 10, 512 << 10, 1 << 20, 2 << 20] {
            let r = run_small_stack(&wide_recursion(160), backend, r#"{"depth":99}"#, stack);
            match r {
                Ok(v) => assert!(v.starts_with("[99,"), "{:?}", &v[..40]),
                Err(e) => assert!(
                    e.contains("stack budget"),
                    "{:?} {}: {}",
                    backend,
                    stack,
                    &e[e.len().saturating_sub(200)..]
                ),
            }
            if stack == 320 << 10 {
                assert!(
                    run_small_stack(&wide_recursion(160), backend, r#"{"depth":99}"#, stack)
                        .is_err(),
                    "{:?}: 99 levels fit in 320 KiB?",
                    backend
                );
            }
        }
    }
}

#[test]
fn dynamic_mappings_recurse_until_the_stack_budget() {
    for backend in [Backend::Jit, Backend::Interpreter] {
        let r = run_small_stack(
            "root = this.bloblang(this)",
            backend,
            r#""root = this.bloblang(this)""#,
            4 << 20,
        );
        let e = r.expect_err("endless dynamic recursion");
        assert!(e.contains("stack budget"), "{:?}", backend);
    }
}

#[test]
fn growth_past_the_memory_budget_is_an_error() {
    for backend in [Backend::Jit, Backend::Interpreter] {
        for (src, msg) in [
            (
                "root = this.s.repeat(this.n)",
                r#"{"s":"a","n":100000000000}"#,
            ),
            (
                "root = range(0, 40).fold(\"ab\", x -> x.tally + x.tally)",
                "{}",
            ),
            ("root = range(0, this.n)", r#"{"n":9000000000000000000}"#),
            ("root = bytes(this.n)", r#"{"n":9000000000000}"#),
            ("root = \"%099999999999d\".format(1)", "{}"),
        ] {
            let e = run_small_stack(src, backend, msg, 8 << 20).expect_err(src);
            assert!(e.contains("memory limit"), "{:?} {}: {}", backend, src, e);
        }
    }
}

#[test]
fn a_raised_interrupt_stops_a_long_evaluation() {
    for backend in [Backend::Jit, Backend::Interpreter] {
        let m = Mapping::compile_with(
            "root = range(0, 1000).map_each(i -> range(0, 1000).map_each(j -> i * j).sum()).sum()",
            backend,
        )
        .unwrap();
        let i = Interrupt::new();
        i.raise();
        let r = limits::with_interrupt(&i, || m.run(&Message::new(&b"{}"[..])));
        let e = r.map(|_| ()).expect_err("interrupted");
        assert!(e.to_string().contains("interrupted"), "{}", e);
        // Without the flag it completes.
        assert!(m.run(&Message::new(&b"{}"[..])).is_ok());
    }
}

#[test]
fn values_nest_boundedly() {
    for backend in [Backend::Jit, Backend::Interpreter] {
        for src in [
            "root = range(0, 100000).fold({}, x -> {\"a\": x.tally}).keys()",
            "root = range(0, 100000).fold([], x -> [x.tally]).length()",
            "map r {\n  root = if this.n > 0 { [{\"n\": this.n - 1}.apply(\"r\")] } else { [] }\n}\nroot = {\"n\": 90}.apply(\"r\").length()",
        ] {
            let r = run_small_stack(src, backend, "{}", 16 << 20);
            match r {
                Ok(v) => assert!(!v.is_empty()),
                Err(e) => assert!(e.contains("nested more than"), "{:?} {}: {}", backend, src, e),
            }
        }
    }
}
