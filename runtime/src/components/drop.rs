//! The `drop` output: acknowledges and discards every message.

use async_trait::async_trait;

use crate::registry::{ComponentKind, ComponentSpec};
use crate::stream::{Batch, Nack, Output, ResponseStore};

/// `drop`: acknowledges and discards everything.
pub struct Drop;

#[async_trait]
impl Output for Drop {
    async fn write(&self, _batch: Batch, _r: Option<&ResponseStore>) -> Result<(), Nack> {
        Ok(())
    }
}

/// `drop`: drops every message.
pub fn spec() -> ComponentSpec {
    ComponentSpec::new("drop", ComponentKind::Output, "Drops all messages.", vec![])
}
