//! The `parallel` processor: child processors applied to each message of a batch as a batch
//! of one (as `for_each`), up to `cap` messages at once on scoped threads (0: all at once).
//! Output order is the input order.

use std::sync::Arc;

use super::processors::{children_of, run_all};
use crate::config::stream::ComponentConfig;
use crate::registry::{ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{Batch, BuildContext, ComponentError, Processor, SharedProcessor};

/// The spec.
pub fn spec() -> ComponentSpec {
    ComponentSpec::new(
        "parallel",
        ComponentKind::Processor,
        "A processor that applies a list of child processors to messages of a batch as though they were each a batch of one message (similar to the for_each processor), but where each message is processed in parallel.",
        vec![
            F::int("cap", "The maximum number of messages to have processing at a given time.").default(0),
            F::processors("processors", "A list of child processors to apply."),
        ],
    )
}

/// Builds it.
pub fn build(cfg: &ComponentConfig, ctx: &BuildContext) -> Result<SharedProcessor, ComponentError> {
    Ok(Arc::new(Parallel {
        cap: cfg.int("cap").unwrap_or(0).max(0) as usize,
        processors: children_of(cfg, "processors", ctx)?,
    }))
}

struct Parallel {
    cap: usize,
    processors: Vec<SharedProcessor>,
}

impl Processor for Parallel {
    fn process(&self, batch: Batch) -> Batch {
        let cap = match self.cap {
            0 => batch.len().max(1),
            n => n,
        };
        let mut out = Vec::with_capacity(batch.len());
        let mut rest = batch.into_iter().peekable();
        while rest.peek().is_some() {
            let chunk: Vec<_> = rest.by_ref().take(cap).collect();
            let results = map_in_threads(chunk, |m| run_all(&self.processors, vec![m]));
            out.extend(results.into_iter().flatten());
        }
        out
    }
}

/// Runs `f` on every item, each on a scoped thread of its own under the stream's interrupt
/// (a forced stop ends them as it ends the calling thread's evaluation), and returns the
/// results in order. A panicking item panics the caller too (the stage rejects the batch),
/// rather than losing a message.
pub(crate) fn map_in_threads<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    let interrupt = sluice_compiler::limits::inherit();
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .into_iter()
            .map(|item| {
                s.spawn(move || {
                    // SAFETY: these scoped threads are joined before `map_in_threads`
                    // returns, inside the `with_interrupt` scope the flag was inherited from.
                    unsafe { sluice_compiler::limits::with_inherited(interrupt, || f(item)) }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}
