//! The benchmark targets as ratios measured in one process, interleaved: each round times
//! the baseline and the contender back to back on the same 256 documents, so that a noisy
//! machine slows both alike; the ratio printed is of the median round times.
//!
//! `cargo run --release --example ratios [ROUNDS]`: interpreter vs JIT on each mapping of
//! `benches/bloblang.rs`, and the three-mapping chain unfused vs fused. The criterion
//! benchmarks (`cargo bench --bench bloblang`) give the absolute times.

use std::time::{Duration, Instant};

use sluice_compiler::{Backend, Mapping, Message};
use sluice_runtime::stream::Processor;

mod common;

/// Median of the round times of `f`'s calls.
fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// Times `base` and `new` alternately for `rounds` rounds (after a warm-up); returns the
/// median time of each.
fn interleaved(
    rounds: usize,
    mut base: impl FnMut(),
    mut new: impl FnMut(),
) -> (Duration, Duration) {
    for _ in 0..3 {
        base();
        new();
    }
    let (mut b, mut n) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds));
    for _ in 0..rounds {
        let t = Instant::now();
        base();
        b.push(t.elapsed());
        let t = Instant::now();
        new();
        n.push(t.elapsed());
    }
    (median(b), median(n))
}

fn report(name: &str, base: &str, new: &str, (b, n): (Duration, Duration)) {
    println!(
        "{:<12} {:>11} {:>9.1} µs   {:>9} {:>9.1} µs   ratio {:.2}x",
        name,
        base,
        b.as_secs_f64() * 1e6,
        new,
        n.as_secs_f64() * 1e6,
        b.as_secs_f64() / n.as_secs_f64()
    );
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    let docs: Vec<Message> = (0..256)
        .map(|i| Message::new(common::document(i)))
        .collect();
    println!(
        "{} interleaved rounds of {} documents; median times",
        rounds,
        docs.len()
    );
    for (name, src) in common::MAPPINGS {
        let interp = Mapping::compile_with(src, Backend::Interpreter).expect("compiles");
        let jit = Mapping::compile_with(src, Backend::Jit).expect("compiles");
        assert_eq!(
            jit.backend(),
            Backend::Jit,
            "{} did not compile to native code",
            name
        );
        let run = |m: &Mapping| {
            for d in &docs {
                std::hint::black_box(m.run(d).expect("mapping runs"));
            }
        };
        let times = interleaved(rounds, || run(&interp), || run(&jit));
        report(name, "interpreter", "jit", times);
    }
    let (fused, unfused) = common::chain();
    let times = interleaved(
        rounds,
        || {
            let mut batch = docs.clone();
            for p in &unfused {
                batch = p.process(batch);
            }
            std::hint::black_box(batch);
        },
        || {
            std::hint::black_box(fused.process(docs.clone()));
        },
    );
    report("chain of 3", "unfused", "fused", times);
}
