//! The `broker` output: several outputs (`outputs`, each repeated `copies` times) written with
//! a `pattern`: `fan_out` (every output, concurrently), `fan_out_sequential` (every output, in
//! order), `round_robin` (one output per batch, in turn) or `greedy` (one output per batch,
//! the first free one). A fan-out batch is acknowledged when every output accepted it; an
//! output that fails is retried with backoff, alone (the others are not written twice), until
//! it succeeds or the stream stops.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::json;

use super::child_outputs::{self, Children};
use crate::config::stream::ComponentConfig;
use crate::registry::{shared, ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{
    Batch, BuildContext, ComponentError, Nack, Output, ResponseStore, SharedOutput,
};

/// The spec.
pub fn spec() -> ComponentSpec {
    ComponentSpec::new(
        "broker",
        ComponentKind::Output,
        "Allows you to route messages to multiple child outputs using a range of brokering patterns.",
        vec![
            F::int("copies", "The number of copies of each configured output to spawn.").default(1).advanced(),
            F::string("pattern", "The brokering pattern to use.")
                .default("fan_out")
                .options(&["fan_out", "fan_out_sequential", "round_robin", "greedy"]),
            F::component("outputs", ComponentKind::Output, "A list of child outputs to broker.")
                .array()
                .default(json!([])),
            shared::batching("batching", false),
        ],
    )
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Pattern {
    FanOut,
    FanOutSequential,
    RoundRobin,
    Greedy,
}

/// Builds it.
pub fn build(cfg: &ComponentConfig, ctx: &BuildContext) -> Result<SharedOutput, ComponentError> {
    let pattern = match cfg.str("pattern").unwrap_or("fan_out") {
        "fan_out" => Pattern::FanOut,
        "fan_out_sequential" => Pattern::FanOutSequential,
        "round_robin" => Pattern::RoundRobin,
        "greedy" => Pattern::Greedy,
        other => {
            return Err(ComponentError::new(format!(
                "broker pattern not recognised: {:?}",
                other
            )))
        }
    };
    let items = cfg
        .field("outputs")
        .and_then(|f| f.as_array())
        .unwrap_or(&[]);
    let copies = cfg.int("copies").unwrap_or(1).max(1) as usize;
    let mut outputs = Vec::new();
    for _ in 0..copies {
        outputs.extend(child_outputs::build_all(
            items,
            ctx,
            &format!("{}.outputs", ctx.path),
        )?);
    }
    if outputs.is_empty() {
        return Err(ComponentError::new(
            "broker: at least one output is required",
        ));
    }
    let busy = outputs.iter().map(|_| AtomicBool::new(false)).collect();
    Ok(Arc::new(Broker {
        pattern,
        outputs: Children::new(outputs),
        next: AtomicUsize::new(0),
        busy,
    }))
}

struct Broker {
    pattern: Pattern,
    outputs: Children,
    next: AtomicUsize,
    /// Which outputs are writing (for `greedy`).
    busy: Vec<AtomicBool>,
}

#[async_trait]
impl Output for Broker {
    fn attach(&self) {
        self.outputs.attach();
    }

    async fn write(&self, batch: Batch, responses: Option<&ResponseStore>) -> Result<(), Nack> {
        let n = self.outputs.outputs.len();
        match self.pattern {
            Pattern::FanOut => {
                let results = futures::future::join_all(
                    (0..n).map(|i| self.outputs.write(i, &batch, responses, true)),
                )
                .await;
                results.into_iter().collect()
            }
            Pattern::FanOutSequential => {
                for i in 0..n {
                    self.outputs.write(i, &batch, responses, true).await?;
                }
                Ok(())
            }
            Pattern::RoundRobin => {
                let i = self.next.fetch_add(1, Ordering::Relaxed) % n;
                self.outputs.outputs[i].write(batch, responses).await
            }
            Pattern::Greedy => {
                // The first idle output, else the next in turn.
                let start = self.next.fetch_add(1, Ordering::Relaxed);
                let i = (0..n)
                    .map(|k| (start + k) % n)
                    .find(|&i| !self.busy[i].swap(true, Ordering::SeqCst))
                    .unwrap_or(start % n);
                let r = self.outputs.outputs[i].write(batch, responses).await;
                self.busy[i].store(false, Ordering::SeqCst);
                r
            }
        }
    }

    fn closing(&self) {
        self.outputs.closing();
    }

    async fn close(&self) {
        self.outputs.close().await;
    }

    fn connected(&self) -> bool {
        self.outputs.connected()
    }
}
