//! Outputs inside outputs (`broker`, `fallback`, `switch`): each child is built through the
//! catalog under its own config path, with its own `processors` run (off the async workers)
//! before it writes; closing and connection state pass through to every child.

use std::sync::Arc;

use async_trait::async_trait;

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

/// Passes `attach`/`closing`/`close`/`connected` to every child.
pub struct Children(pub Vec<SharedOutput>);

impl Children {
    /// Attaches every child.
    pub fn attach(&self) {
        self.0.iter().for_each(|o| o.attach());
    }

    /// Tells every child the stream is stopping.
    pub fn closing(&self) {
        self.0.iter().for_each(|o| o.closing());
    }

    /// Closes every child.
    pub async fn close(&self) {
        futures::future::join_all(self.0.iter().map(|o| o.close())).await;
    }

    /// Whether every child is connected.
    pub fn connected(&self) -> bool {
        self.0.iter().all(|o| o.connected())
    }
}
