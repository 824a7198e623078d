//! The `retry` output: writes to its child output and, when a write fails, tries again with
//! exponential backoff (`backoff`), up to `max_retries` times (0: until it succeeds or the
//! stream stops), before the batch is nacked.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::Notify;

use crate::config::stream::{ComponentConfig, Field};
use crate::registry::{shared, ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{
    Batch, BuildContext, ComponentError, Nack, Output, ResponseStore, SharedOutput,
};

/// The spec.
pub fn spec() -> ComponentSpec {
    ComponentSpec::new(
        "retry",
        ComponentKind::Output,
        "Attempts to write messages to a child output and if the write fails for any reason the message is retried either until success or, if the retries or max elapsed time fields are non-zero, either is reached.",
        vec![
            F::int("max_retries", "The maximum number of retries before giving up on the request. If set to zero there is no discrete limit.").default(0).advanced(),
            shared::backoff("500ms", "3s", "0s"),
            F::component("output", ComponentKind::Output, "A child output."),
        ],
    )
}

/// The typed config but for its output (read from the spec's normalised output).
#[derive(serde::Deserialize)]
struct Config {
    max_retries: i64,
    backoff: Backoff,
}

/// The `backoff` group of a typed config.
#[derive(serde::Deserialize)]
pub(crate) struct Backoff {
    initial_interval: String,
    max_interval: String,
    max_elapsed_time: String,
}

impl Backoff {
    /// The initial, maximum and maximum elapsed durations, parsed.
    pub(crate) fn parse(&self) -> Result<(Duration, Duration, Duration), ComponentError> {
        let d = |f: &str, v: &str| {
            crate::duration::parse(v)
                .map_err(|e| ComponentError::new(format!("backoff.{}: {}", f, e)))
        };
        Ok((
            d("initial_interval", &self.initial_interval)?,
            d("max_interval", &self.max_interval)?,
            d("max_elapsed_time", &self.max_elapsed_time)?,
        ))
    }
}

/// Builds it.
pub fn build(cfg: &ComponentConfig, ctx: &BuildContext) -> Result<SharedOutput, ComponentError> {
    let child = cfg
        .field("output")
        .and_then(Field::as_component)
        .ok_or_else(|| ComponentError::new("an output is required"))?;
    let output = super::child_outputs::build(child, ctx, &format!("{}.output", ctx.path))?;
    let c: Config = cfg.typed()?;
    let (initial, max, max_elapsed) = c.backoff.parse()?;
    Ok(Arc::new(Retry {
        output,
        max_retries: c.max_retries.max(0) as usize,
        initial,
        max,
        max_elapsed,
        stopping: AtomicBool::new(false),
        stop: Notify::new(),
    }))
}

struct Retry {
    output: SharedOutput,
    max_retries: usize,
    initial: Duration,
    max: Duration,
    max_elapsed: Duration,
    stopping: AtomicBool,
    stop: Notify,
}

#[async_trait]
impl Output for Retry {
    fn attach(&self) {
        self.output.attach();
    }

    async fn write(&self, batch: Batch, responses: Option<&ResponseStore>) -> Result<(), Nack> {
        let started = Instant::now();
        let mut wait = self.initial;
        let mut retries = 0;
        loop {
            let err = match self.output.write(batch.clone(), responses).await {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            let stopping = self.stop.notified();
            retries += 1;
            let out_of_time =
                !self.max_elapsed.is_zero() && started.elapsed() + wait > self.max_elapsed;
            if self.stopping.load(Ordering::SeqCst)
                || (self.max_retries > 0 && retries > self.max_retries)
                || out_of_time
            {
                return Err(err);
            }
            tracing::warn!(error = %err.0, retries, "output write failed, retrying");
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stopping => return Err(err),
            }
            wait = (wait * 2).min(self.max.max(self.initial));
        }
    }

    fn closing(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.stop.notify_waiters();
        self.output.closing();
    }

    async fn close(&self) {
        self.output.close().await;
    }

    fn connected(&self) -> bool {
        self.output.connected()
    }
}
