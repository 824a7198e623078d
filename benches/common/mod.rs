//! What the benchmarks share: the documents, the mappings of each back-end comparison,
//! and the chain of three mappings the fusion comparison runs.

#![allow(dead_code)]

use sluice_runtime::components::fusion::FusedMappings;
use sluice_runtime::components::mapping::MappingProcessor;
use sluice_runtime::stream::BuildContext;

/// A walkthrough-like document with a few more fields.
pub fn document(i: usize) -> Vec<u8> {
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

pub const MAPPINGS: &[(&str, &str)] = &[
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

/// Three chained mappings (source, mutation): two enrichments and a projection.
pub const CHAIN: &[(&str, bool)] = &[
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

/// The chain fused into one processor, and as three processors.
pub fn chain() -> (FusedMappings, Vec<MappingProcessor>) {
    let ctx = BuildContext {
        stream: "bench".into(),
        prefix_endpoints: true,
        endpoints: sluice_runtime::endpoints::EndpointRegistry::new(),
        rate_limits: Default::default(),
        caches: Default::default(),
        pipes: Default::default(),
        resources: Default::default(),
        metrics: sluice_runtime::metrics::StreamMetrics::new("bench"),
        path: "root.pipeline.processors.0".into(),
        label: String::new(),
        offline: false,
    };
    let fused = FusedMappings::from_sources(CHAIN, &ctx).expect("chain compiles");
    let unfused = CHAIN
        .iter()
        .map(|(s, m)| MappingProcessor::new(s, *m).expect("compiles"))
        .collect();
    (fused, unfused)
}
