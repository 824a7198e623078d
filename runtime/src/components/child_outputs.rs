//! Outputs inside outputs (`broker`, `fallback`, `switch`): each child is built through the
//! catalog under its own config path, with its own `processors` run (off the async workers)
//! before it writes; closing and connection state pass through to every child.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;

use crate::config::stream::{ComponentConfig, Field};
use crate::stream::{
    Batch, BuildContext, ComponentError, Nack, Output, ResponseStore, SharedOutput, SharedProcessor,
};

/// Builds the outputs of an array, each at `{base}.{i}`.
pub fn build_all(
    items: &[Field],
    ctx: &BuildContext,
    base: &str,
) -> Result<Vec<SharedOutput>, ComponentError> {
    items
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let c = f.as_component().ok_or_else(|| {
                ComponentError::new(format!("{}.{}: expected an output", base, i))
            })?;
            build(c, ctx, &format!("{}.{}", base, i))
        })
        .collect()
}

/// Builds one child output at `path`.
pub fn build(
    cfg: &ComponentConfig,
    ctx: &BuildContext,
    path: &str,
) -> Result<SharedOutput, ComponentError> {
    let child = ctx.child(path.to_string(), cfg.label.clone());
    let inner = super::build_output(cfg, &child)
        .map_err(|e| ComponentError::new(format!("{}: {}", path, e)))?;
    if cfg.processors.is_empty() {
        return Ok(inner);
    }
    let mut processors = Vec::with_capacity(cfg.processors.len());
    for (i, p) in cfg.processors.iter().enumerate() {
        let pctx = ctx.child(format!("{}.processors.{}", path, i), p.label.clone());
        processors.push(super::processors::build(p, &pctx)?);
    }
    Ok(Arc::new(Processed {
        processors: Arc::new(processors),
        inner,
    }))
}

/// A child output with its own processors.
struct Processed {
    processors: Arc<Vec<SharedProcessor>>,
    inner: SharedOutput,
}

#[async_trait]
impl Output for Processed {
    fn attach(&self) {
        self.inner.attach();
    }

    async fn write(&self, batch: Batch, responses: Option<&ResponseStore>) -> Result<(), Nack> {
        let processors = self.processors.clone();
        let batch =
            tokio::task::spawn_blocking(move || super::processors::run_all(&processors, batch))
                .await
                .map_err(|e| Nack(format!("processing failed: {}", e)))?;
        if batch.is_empty() {
            return Ok(());
        }
        self.inner.write(batch, responses).await
    }

    fn closing(&self) {
        self.inner.closing();
    }

    async fn close(&self) {
        self.inner.close().await;
    }

    fn connected(&self) -> bool {
        self.inner.connected()
    }
}

/// A parent's children: passes `attach`/`closing`/`close`/`connected` to every one, and
/// retries a child's writes with backoff until it succeeds or the parent stops.
pub struct Children {
    /// The child outputs, in config order.
    pub outputs: Vec<SharedOutput>,
    stopping: AtomicBool,
    stop: Notify,
}

impl Children {
    /// The children.
    pub fn new(outputs: Vec<SharedOutput>) -> Children {
        Children {
            outputs,
            stopping: AtomicBool::new(false),
            stop: Notify::new(),
        }
    }

    /// Attaches every child.
    pub fn attach(&self) {
        self.outputs.iter().for_each(|o| o.attach());
    }

    /// Tells every child the stream is stopping (and ends retries).
    pub fn closing(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.stop.notify_waiters();
        self.outputs.iter().for_each(|o| o.closing());
    }

    /// Closes every child.
    pub async fn close(&self) {
        futures::future::join_all(self.outputs.iter().map(|o| o.close())).await;
    }

    /// Whether every child is connected.
    pub fn connected(&self) -> bool {
        self.outputs.iter().all(|o| o.connected())
    }

    /// Writes `batch` to child `i`; with `retry`, a failure is retried (alone) with backoff
    /// until it succeeds or the stream stops (then the last error is returned).
    pub async fn write(
        &self,
        i: usize,
        batch: &Batch,
        responses: Option<&ResponseStore>,
        retry: bool,
    ) -> Result<(), Nack> {
        let mut backoff = Duration::from_millis(100);
        loop {
            let err = match self.outputs[i].write(batch.clone(), responses).await {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            let stopping = self.stop.notified();
            if !retry || self.stopping.load(Ordering::SeqCst) {
                return Err(err);
            }
            tracing::warn!(output = i, error = %err.0, "child output failed, retrying");
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = stopping => return Err(err),
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }
}
