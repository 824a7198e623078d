//! Criterion benchmarks of the Bloblang back ends on realistic documents: the walkthrough's
//! projection, arithmetic with `if`/`match`, string work, and a filter, each run by the
//! interpreter and by the JIT in the same run (group `backends`); and three chained mappings
//! fused vs unfused (group `fusion`).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sluice_compiler::{Backend, Mapping, Message};

/// A walkthrough-like document with a few more fields.
fn document(i: usize) -> Vec<u8> {
    format!(
        r#"{{"user":{{"id":"user-{i}","name":"Ada Lovelace {i}","email":"ada{i}@example.com"}},"body":{{"content":"hello world number {i}, a message of moderate length","lang":"en"}},"n":{n},"kind":"{kind}","level":"{level}","name":"  alpha banana {i}  ","tags":["Alpha","BETA","Gamma","delta"],"ts":"2024-01-0{d}T10:00:00Z"}}"#,
        i = i,
        n = i % 23,
        kind = ["a", "b", "c"][i % 3],
        level = ["info", "error", "warn"][i % 3],
        d = 1 + i % 9
    )
    .into_bytes()
}

const MAPPINGS: &[(&str, &str)] = &[
    ("projection", r#"root = {"id": this.user.id, "content": this.body.content}"#),
    (
        "arithmetic",
        "root = this\nroot.score = if this.n > 10 { this.n * 2 + 1 } else { this.n - 3 }\nroot.k = match this.kind { \"a\" => 1, \"b\" => 2, _ => 0 }",
    ),
    (
        "strings",
        "root.name = this.name.uppercase().trim().replace_all(\"A\", \"4\")\nroot.tags = this.tags.map_each(t -> t.lowercase())",
    ),
    ("filter", r#"root = if this.level != "error" { deleted() }"#),
];

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
    use sluice_runtime::components::processors::{FusedMappings, MappingProcessor};
    use sluice_runtime::stream::{BuildContext, Processor};
    let chain: &[(&str, bool)] = &[
        ("root = this\nroot.score = this.n * 2", false),
        (
            "root = this\nroot.kind_upper = this.kind.uppercase()",
            false,
        ),
        (
            "root = {\"id\": this.user.id, \"score\": this.score, \"kind\": this.kind_upper}",
            false,
        ),
    ];
    let ctx = BuildContext {
        stream: "bench".into(),
        prefix_endpoints: true,
        endpoints: sluice_runtime::endpoints::EndpointRegistry::new(),
        rate_limits: Default::default(),
        metrics: sluice_runtime::metrics::StreamMetrics::new("bench"),
        path: "root.pipeline.processors.0".into(),
        label: String::new(),
    };
    let fused = FusedMappings::from_sources(chain, &ctx).expect("chain compiles");
    let unfused: Vec<MappingProcessor> = chain
        .iter()
        .map(|(s, m)| MappingProcessor::new(s, *m).expect("compiles"))
        .collect();
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
