//! The `generate` input: messages from a Bloblang mapping run without an input, at an
//! interval (or as fast as they are taken), `count` times or forever, `batch_size` at a time.

use std::time::Duration;

use async_trait::async_trait;
use sluice_compiler::{Mapping, MappingOutcome, Message};
use tokio::task::JoinSet;

use super::reading::send_tracked;
use crate::config::stream::ComponentConfig;
use crate::duration;
use crate::registry::{shared, ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{Batch, ComponentError, Input, InputSink};

/// `generate`.
pub struct Generate {
    mapping: std::sync::Arc<Mapping>,
    interval: Option<Duration>,
    count: i64,
    batch_size: usize,
    replay: bool,
    errors: std::sync::Arc<crate::log_limit::LogLimiter>,
}

impl Generate {
    /// Builds the input.
    pub fn new(cfg: &ComponentConfig) -> Result<Generate, ComponentError> {
        let mapping = Mapping::compile(cfg.str("mapping").unwrap_or(""))
            .map_err(|e| ComponentError::new(format!("mapping: {}", e)))?;
        let interval = match cfg.str("interval").unwrap_or("1s") {
            "" => None,
            s if s.starts_with('@') || s.contains(' ') => {
                return Err(ComponentError::new(format!(
                    "interval: cron expressions are not supported yet: {}",
                    s
                )))
            }
            s => Some(
                duration::parse(s).map_err(|e| ComponentError::new(format!("interval: {}", e)))?,
            ),
        };
        Ok(Generate {
            mapping: std::sync::Arc::new(mapping),
            interval,
            count: cfg.int("count").unwrap_or(0),
            batch_size: cfg.int("batch_size").unwrap_or(1).max(1) as usize,
            replay: cfg.bool("auto_replay_nacks").unwrap_or(true),
            errors: Default::default(),
        })
    }
}

#[async_trait]
impl Input for Generate {
    async fn run(self: Box<Self>, sink: InputSink) -> Result<(), ComponentError> {
        let mut pending = JoinSet::new();
        let mut produced = 0i64;
        let mut first = true;
        'outer: loop {
            if !first {
                if let Some(i) = self.interval {
                    tokio::select! {
                        _ = tokio::time::sleep(i) => {}
                        _ = sink.stopped() => break,
                    }
                }
            }
            first = false;
            // As upstream: one run of the mapping per slot of the batch (at most the messages
            // still owed under `count`); deleted messages leave their slot empty and do not
            // count; a failed run drops the batch; an empty batch waits for the next interval.
            let slots = if self.count > 0 {
                self.batch_size.min((self.count - produced).max(0) as usize)
            } else {
                self.batch_size
            };
            // The mapping runs on a blocking thread: a costly one never holds an I/O worker.
            let (mapping, errors, s) = (self.mapping.clone(), self.errors.clone(), sink.clone());
            let batch = tokio::task::spawn_blocking(move || {
                s.evaluate(|| generate_batch(&mapping, slots, &errors))
            })
            .await
            .unwrap_or_default();
            produced += batch.len() as i64;
            if !batch.is_empty() && !send_tracked(&sink, batch, self.replay, &mut pending).await {
                break 'outer;
            }
            if self.count > 0 && produced >= self.count {
                break;
            }
            if sink.is_stopped() {
                break;
            }
            if self.interval.is_none() {
                tokio::task::yield_now().await;
            }
        }
        while pending.join_next().await.is_some() {}
        Ok(())
    }
}

/// Runs `generate`'s mapping once per slot: the messages it made, or none when a run failed.
fn generate_batch(mapping: &Mapping, slots: usize, errors: &crate::log_limit::LogLimiter) -> Batch {
    let mut batch = Vec::with_capacity(slots);
    for _ in 0..slots {
        match mapping.run(&Message::default()) {
            Ok(MappingOutcome::Message(m)) => batch.push(m),
            Ok(MappingOutcome::Deleted) => {}
            Err(e) => {
                if let Some(suppressed) = errors.allow() {
                    tracing::error!(error = %e, suppressed, "generate mapping failed");
                }
                return Vec::new();
            }
        }
    }
    batch
}

/// `generate`: creates messages from a Bloblang mapping at an interval.
pub fn spec() -> ComponentSpec {
    ComponentSpec::new(
        "generate",
        ComponentKind::Input,
        "Generates messages at a given interval using a Bloblang mapping executed without a context.",
        vec![
            F::string("mapping", "A Bloblang mapping to use for generating messages.").bloblang(),
            F::string("interval", "The time interval at which messages should be generated, expressed either as a duration string or as a cron expression. If set to an empty string messages will be generated as fast as downstream services can process them.")
                .default("1s"),
            F::int("count", "An optional number of messages to generate, if set above 0 the specified number of messages is generated and then the input will shut down.")
                .default(0),
            F::int("batch_size", "The number of generated messages that should be accumulated into each batch flushed at the specified interval.")
                .default(1),
            shared::auto_replay_nacks(),
        ],
    )
}
