//! Stage fusion: consecutive `mapping`/`mutation`/`bloblang` processors run as one
//! [`FusedMappings`] step (parse once, serialise once), indistinguishable from the unfused
//! chain in results, error flags and per-processor metrics.

use std::time::Instant;

use bytes::Bytes;
use sluice_compiler::jit::Layered;
use sluice_compiler::{Mapping, Message, StructuredOutcome, Value};

use super::mapping::mapping_source;
use super::processors::{record_backend, StageMetrics};
use crate::config::stream::ComponentConfig;
use crate::stream::{Batch, BuildContext, ComponentError, Processor};

/// True for the processors that [`FusedMappings`] can chain: `mapping`, `mutation`,
/// `bloblang`.
pub fn is_mapping(cfg: &ComponentConfig) -> bool {
    matches!(cfg.name, "mapping" | "mutation" | "bloblang")
}

/// One stage of a fused chain.
struct FusedStage {
    mapping: Mapping,
    mutation: bool,
    metrics: StageMetrics,
}

/// Consecutive `mapping`/`mutation`/`bloblang` processors fused into one step: the payload is
/// parsed once (only as far as the first stage reads it), each stage hands the next its
/// document in memory, and the result is serialised once. Results, error flags and
/// per-processor metrics are exactly those of the unfused chain: a document handed over is
/// first made [`Value::into_json_equivalent`], and a stage that reads the raw payload
/// (`content()`) gets current bytes.
pub struct FusedMappings {
    stages: Vec<FusedStage>,
}

impl FusedMappings {
    /// Compiles every stage; `configs` are the consecutive processors with their contexts.
    /// A failure names the index (in `configs`) of the processor that failed.
    pub fn new(
        configs: &[(&ComponentConfig, BuildContext)],
    ) -> Result<FusedMappings, (usize, ComponentError)> {
        let mut stages = Vec::with_capacity(configs.len());
        for (i, (cfg, ctx)) in configs.iter().enumerate() {
            let mapping = mapping_source(cfg)
                .and_then(|src| {
                    Mapping::compile(src).map_err(|e| ComponentError::new(e.to_string()))
                })
                .map_err(|e| (i, e))?;
            record_backend(ctx, &mapping);
            stages.push(FusedStage {
                mapping,
                mutation: cfg.name == "mutation",
                metrics: StageMetrics::new(ctx),
            });
        }
        Ok(FusedMappings { stages })
    }

    /// A chain over mapping sources (`(source, mutation)`), for tests and benchmarks; stage
    /// `i` is metered under `{ctx.path}.{i}`.
    pub fn from_sources(
        sources: &[(&str, bool)],
        ctx: &BuildContext,
    ) -> Result<FusedMappings, ComponentError> {
        let mut stages = Vec::with_capacity(sources.len());
        for (i, (src, mutation)) in sources.iter().enumerate() {
            let mapping = Mapping::compile(src).map_err(|e| ComponentError::new(e.to_string()))?;
            let stage_ctx = ctx.child(format!("{}.{}", ctx.path, i), ctx.label.clone());
            stages.push(FusedStage {
                mapping,
                mutation: *mutation,
                metrics: StageMetrics::new(&stage_ctx),
            });
        }
        Ok(FusedMappings { stages })
    }
}

/// A message between the stages of a fused chain: the document as the last stage left it,
/// serialised into `payload` only when a stage needs bytes or the chain ends.
struct InFlight {
    payload: Bytes,
    meta: sluice_compiler::value::Object,
    error: Option<String>,
    /// The document parsed, when the last stage produced a structured value.
    doc: Option<Value>,
    /// The document layered over the payload bytes, when the last stages ran raw plans.
    layered: Option<Layered>,
}

impl InFlight {
    fn new(msg: Message) -> InFlight {
        InFlight {
            payload: msg.payload,
            meta: msg.metadata,
            error: msg.error,
            doc: None,
            layered: None,
        }
    }

    /// The message the chain outputs.
    fn finish(mut self) -> Message {
        if let Some(l) = self.layered.take() {
            self.payload = l.into_payload();
        }
        if let Some(d) = self.doc.take() {
            self.payload = d.to_payload();
        }
        Message {
            payload: self.payload,
            metadata: self.meta,
            error: self.error,
        }
    }
}

impl FusedStage {
    /// Runs this stage on one message; false when it deleted the message.
    ///
    /// The message travels in the cheapest form the next stage takes: as a layered document
    /// (payload bytes plus the top-level fields written so far) through stages the JIT
    /// compiled to raw-payload plans, as a parsed document through the others.
    fn apply(&self, it: &mut InFlight) -> bool {
        let view = Message {
            payload: Bytes::new(),
            metadata: std::mem::take(&mut it.meta),
            error: it.error.take(),
        };
        if it.doc.is_none() && self.mapping.runs_layered(self.mutation) {
            let l = it
                .layered
                .get_or_insert_with(|| Layered::new(it.payload.clone()));
            if let Some(r) = self.mapping.run_layered(l, &view, self.mutation) {
                match r {
                    Ok(metadata) => {
                        it.meta = metadata;
                        it.error = view.error;
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "mapping failed");
                        it.meta = view.metadata;
                        it.error = Some(e.to_string());
                    }
                }
                return true;
            }
        }
        // This stage takes bytes or a parsed document: settle a layered document first.
        if let Some(l) = it.layered.take() {
            it.payload = l.into_payload();
        }
        if self.mapping.reads_payload() {
            if let Some(d) = &it.doc {
                it.payload = d.to_payload();
            }
        }
        let view = Message {
            payload: it.payload.clone(),
            ..view
        };
        match self
            .mapping
            .run_structured(&view, it.doc.as_ref(), self.mutation)
        {
            Ok(StructuredOutcome::Unchanged { metadata }) => {
                it.meta = metadata;
                it.error = view.error;
            }
            Ok(StructuredOutcome::Replaced { root, metadata }) => {
                it.meta = metadata;
                it.error = view.error;
                match root {
                    Value::Str(_) | Value::Bytes(_) => {
                        it.payload = root.to_payload();
                        it.doc = None;
                    }
                    other => it.doc = Some(other.into_json_equivalent()),
                }
            }
            Ok(StructuredOutcome::Deleted) => return false,
            Err(e) => {
                tracing::debug!(error = %e, "mapping failed");
                it.meta = view.metadata;
                it.error = Some(e.to_string());
            }
        }
        true
    }
}

/// What one stage of a fused chain did over a batch, recorded into its metrics once the
/// batch is done.
#[derive(Default, Clone, Copy)]
struct StageTally {
    received: u64,
    sent: u64,
    errored_in: u64,
    errored_out: u64,
    /// The messages this stage was timed on, and the time they took.
    timed: u64,
    timed_for: std::time::Duration,
}

/// A fused stage is timed on one message in this many (and on the first it receives):
/// reading the clock around every stage of every message cost more than some stages.
const TIME_ONE_IN: u64 = 32;

impl Processor for FusedMappings {
    /// Runs each message through every stage before the next message (its document stays
    /// hot in the cache, and what a stage allocates for it is freed before the next message
    /// allocates again), tallying per stage what [`Metered`] would count for an unfused
    /// processor over the batch: messages in and out, and new errors, exactly; and the time
    /// spent, which is the batch's measured time shared out by each stage's mean time over
    /// the messages it was timed on. Each stage's tally is recorded once per batch, and not
    /// at all for a stage no message reached (as the pipeline skips processors on an empty
    /// batch).
    fn process(&self, batch: Batch) -> Batch {
        let start = Instant::now();
        let mut tally = vec![StageTally::default(); self.stages.len()];
        let mut out = Vec::with_capacity(batch.len());
        let size = batch.len();
        for (i, msg) in batch.into_iter().enumerate() {
            let mut it = InFlight::new(msg);
            let mut alive = true;
            let _position = sluice_compiler::batch::Position::enter(i, size);
            for (stage, t) in self.stages.iter().zip(tally.iter_mut()) {
                let timed = t.received % TIME_ONE_IN == 0;
                t.received += 1;
                t.errored_in += u64::from(it.error.is_some());
                let clock = timed.then(Instant::now);
                alive = stage.apply(&mut it);
                if let Some(c) = clock {
                    t.timed += 1;
                    t.timed_for += c.elapsed();
                }
                if !alive {
                    break;
                }
                t.sent += 1;
                t.errored_out += u64::from(it.error.is_some());
            }
            if alive {
                out.push(it.finish());
            }
        }
        let elapsed = start.elapsed();
        // Each stage's estimated share: its mean timed latency times the messages it took.
        let estimate = |t: &StageTally| {
            if t.timed == 0 {
                0.0
            } else {
                t.timed_for.as_secs_f64() / t.timed as f64 * t.received as f64
            }
        };
        let total: f64 = tally.iter().map(estimate).sum();
        for (stage, t) in self.stages.iter().zip(&tally) {
            if t.received == 0 {
                break;
            }
            let m = &stage.metrics;
            m.received.add(t.received);
            m.batch_received.incr();
            let share = if total > 0.0 {
                estimate(t) / total
            } else {
                1.0 / self.stages.len() as f64
            };
            m.latency.record(elapsed.mul_f64(share));
            m.error.add(t.errored_out.saturating_sub(t.errored_in));
            m.sent.add(t.sent);
            if t.sent > 0 {
                m.batch_sent.incr();
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::components::mapping::MappingProcessor;
    use crate::components::processors::{run_all, Metered};
    use crate::endpoints::EndpointRegistry;
    use crate::metrics::StreamMetrics;
    use crate::stream::SharedProcessor;
    use std::sync::Arc;

    fn ctx() -> BuildContext {
        BuildContext {
            stream: "t".into(),
            prefix_endpoints: true,
            endpoints: EndpointRegistry::new(),
            rate_limits: Default::default(),
            caches: Default::default(),
            pipes: Default::default(),
            resources: Default::default(),
            metrics: StreamMetrics::new("t"),
            path: "root.pipeline.processors.0".into(),
            label: String::new(),
            offline: false,
        }
    }

    /// A fused chain records exactly the processor counters the unfused, metered chain
    /// records (per batch, with errors and deletions), stage by stage.
    #[test]
    fn fusion_does_not_change_metrics() {
        let chain: &[(&str, bool)] = &[
            (
                "root = if this.drop == true { deleted() } else { this }",
                false,
            ),
            ("root = this\nroot.x = this.n.number()", false),
            ("root = this\nroot.y = this.x + 1", false),
        ];
        let batch: Batch = [
            r#"{"n":"1"}"#,
            r#"{"n":"nope"}"#,
            r#"{"n":"2","drop":true}"#,
            r#"{"n":"3"}"#,
        ]
        .iter()
        .map(|d| Message::new(d.as_bytes().to_vec()))
        .collect();
        let counters = |m: &StreamMetrics| -> Vec<(String, serde_json::Value)> {
            m.stats()
                .into_iter()
                .filter(|(k, _)| !k.starts_with("processor_latency_ns"))
                .collect()
        };

        let fused_ctx = ctx();
        let fused = FusedMappings::from_sources(chain, &fused_ctx).unwrap();
        let fused_out = fused.process(batch.clone());

        let unfused_ctx = ctx();
        let metered: Vec<SharedProcessor> = chain
            .iter()
            .enumerate()
            .map(|(i, (src, mutation))| {
                let c = unfused_ctx.child(
                    format!("{}.{}", unfused_ctx.path, i),
                    unfused_ctx.label.clone(),
                );
                let p: SharedProcessor = Arc::new(MappingProcessor::new(src, *mutation).unwrap());
                Arc::new(Metered::new(p, &c)) as SharedProcessor
            })
            .collect();
        let unfused_out = run_all(&metered, batch);
        assert_eq!(fused_out, unfused_out);
        // A batch that stage 0 deletes entirely: the later stages see no batch at all.
        let gone: Batch = vec![Message::new(r#"{"drop":true}"#.as_bytes().to_vec())];
        assert!(fused.process(gone.clone()).is_empty());
        assert!(run_all(&metered, gone).is_empty());

        let (f, u) = (counters(&fused_ctx.metrics), counters(&unfused_ctx.metrics));
        assert_eq!(f, u);
        // The chain really counted: 4 + 1 in, 2 deleted by stage 0, 1 flagged by stage 1.
        let get = |name: &str| {
            f.iter()
                .find(|(k, _)| k.starts_with(name))
                .map(|(_, v)| v.as_u64().unwrap())
        };
        assert_eq!(
            get("processor_received{label=\"\",path=\"root.pipeline.processors.0.0\""),
            Some(5)
        );
        assert_eq!(
            get("processor_error{label=\"\",path=\"root.pipeline.processors.0.1\""),
            Some(1)
        );
        assert_eq!(
            get("processor_sent{label=\"\",path=\"root.pipeline.processors.0.2\""),
            Some(3)
        );
    }

    /// Fused chains give exactly what the unfused chain gives: payloads, metadata, flags.
    #[test]
    fn fusion_does_not_change_results() {
        let chains: &[&[(&str, bool)]] = &[
            &[
                ("root = this\nroot.b = this.a * 2", false),
                ("root.c = this.b / 4\nroot.t = this.b.type()", false),
            ],
            &[
                ("root = this.a.string()", false),
                ("root = content().uppercase()", false),
                ("root = this", false),
            ],
            &[
                ("meta x = this.a\nroot.n = now().ts_unix() > 0", false),
                ("root.m = @x\nroot.f = 3.0", false),
                ("root.g = this.f.string()", false),
            ],
            &[
                ("root.a = this.a.number()", false),
                ("root = this.missing.uppercase()", false),
                ("root.after = true", false),
            ],
            &[
                ("root = if this.a == 1 { deleted() }", false),
                ("root.z = 1", true),
            ],
            &[
                (
                    "root.ts = \"2024-01-02T03:04:05Z\".ts_parse(\"2006-01-02T15:04:05Z07:00\")",
                    false,
                ),
                ("root.kind = this.ts.type()", false),
            ],
            &[
                ("root.nested = {\"x\": [1.0, 2.5, content()]}", false),
                ("root = this.nested.x", false),
            ],
            // Raw-plan stages (splices and projections) pass a layered document along.
            &[
                ("root = this\nroot.score = this.a * 2", false),
                (
                    "root = this\nroot.k = this.score.string() + \"!\"\nroot.s = deleted()",
                    false,
                ),
                (
                    "root = {\"id\": this.u.id, \"k\": this.k, \"s\": this.s, \"f\": this.f}",
                    false,
                ),
            ],
            &[
                ("root = {\"a\": this.a, \"u\": this.u}", false),
                ("root.x = this.u.id.uppercase()", true),
                ("root = this\nroot.f = this.a / 3", false),
                ("root = this\nroot.e = this.x.number()", false),
                (
                    "root = this\nroot.after = this.e.or(\"failed before\")",
                    false,
                ),
            ],
            // A projection after a splice looks nested paths up in the scanned payload.
            &[
                ("root = this\nroot.b = this.a", false),
                (
                    "root = {\"id\": this.u.id, \"q\": this.u.z.1.q, \"r\": this.u.z.7, \"ab\": this.u.ab, \"w\": this.u.z, \"n\": this.a.x}",
                    false,
                ),
            ],
            &[
                ("root = this\nroot.s = deleted()\nroot.n = 1.5", false),
                ("root = this\nroot.z = this.n * 2", false),
            ],
            &[
                ("root = this\nroot.t = now()", false),
                (
                    "root = this\nroot.tt = this.t.type()\nmeta m = this.a",
                    false,
                ),
                ("root = this.u", false),
            ],
        ];
        let inputs = [
            r#"{"a":1}"#,
            r#"{"a":2,"s":"hi"}"#,
            r#"{"a":"7"}"#,
            "not json",
            r#"{"a":1.5}"#,
            "",
            r#"{"u":{"id":"x1","z":[1,2]},"a":3,"s":"gone","f":1e2,"a":4}"#,
            r#" {"u" : {"id":"\u00e9"}, "a": 2.5} "#,
            r#"[1,2]"#,
            r#"{"u":{"id":"a","id":"b","a\u0062":1,"z":[{"q":1},{"q":2, "p" : [ 1.50 ]}]},"a":1}"#,
            r#"{"u":{"z":{"1":{"q":"key, not index"}},"ab":[]},"a":{"x":null}}"#,
        ];
        for chain in chains {
            let c = ctx();
            let fused = FusedMappings::from_sources(chain, &c).unwrap();
            let unfused: Vec<MappingProcessor> = chain
                .iter()
                .map(|(src, mutation)| MappingProcessor::new(src, *mutation).unwrap())
                .collect();
            for input in inputs {
                let msg = Message::new(input.as_bytes().to_vec());
                let mut expected = vec![msg.clone()];
                for p in &unfused {
                    expected = p.process(expected);
                }
                let got = fused.process(vec![msg]);
                assert_eq!(got, expected, "chain {:?} on {:?}", chain, input);
            }
        }
    }
}
