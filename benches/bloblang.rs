//! Criterion benchmarks of the Bloblang back ends on realistic documents: the walkthrough's
//! projection, arithmetic with `if`/`match`, string work, and a filter, each run by the
//! interpreter and by the JIT in the same run (group `backends`); and three chained mappings
//! fused vs unfused (group `fusion`).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sluice_compiler::{Backend, Mapping, Message};

mod common;
use common::{document, MAPPINGS};

fn backends(c: &mut Criterion) {
    let docs: Vec<Message> = (0..256).map(|i| Message::new(document(i))).collect();
    let mut g = c.benchmark_group("backends");
    g.throughput(Throughput::Elements(docs.len() as u64));
    for (name, src) in MAPPINGS {
        for backend in [Backend::Interpreter, Backend::Jit] {
            let m = Mapping::compile_with(src, backend).expect("benchmark mapping compiles");
            assert_eq!(
                m.backend(),
                backend,
                "{} did not compile for {:?}",
                name,
                backend
            );
            g.bench_with_input(BenchmarkId::new(*name, backend.name()), &docs, |b, docs| {
                b.iter(|| {
                    for d in docs {
                        std::hint::black_box(m.run(d).expect("mapping runs"));
                    }
                })
            });
        }
    }
    g.finish();
}

/// Three chained mappings, fused into one stage vs run as three processors.
fn fusion(c: &mut Criterion) {
    use sluice_runtime::stream::Processor;
    let (fused, unfused) = common::chain();
    let docs: Vec<Message> = (0..256).map(|i| Message::new(document(i))).collect();
    let mut g = c.benchmark_group("fusion");
    g.throughput(Throughput::Elements(docs.len() as u64));
    g.bench_function("unfused_3", |b| {
        b.iter(|| {
            let mut batch = docs.clone();
            for p in &unfused {
                batch = p.process(batch);
            }
            std::hint::black_box(batch)
        })
    });
    g.bench_function("fused_3", |b| {
        b.iter(|| std::hint::black_box(fused.process(docs.clone())))
    });
    g.finish();
}

criterion_group!(benches, backends, fusion);
criterion_main!(benches);
