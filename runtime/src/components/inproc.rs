//! `inproc` input and output: streams of one process connected by name. The output's
//! transactions travel into the input's stream as they are, so the writing stream learns a
//! message is done only when the reading stream's output acknowledged it (at-least-once
//! across the pair). A replaced input takes the name over at once; an output waits (up to a
//! second per write, then nacks) for a reader to connect.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::config::stream::ComponentConfig;
use crate::registry::{ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{
    Batch, BuildContext, ComponentError, Input, InputSink, Nack, Output, ResponseStore,
    SharedOutput, Transaction,
};

/// The connected inputs by name, shared by every stream of a manager.
#[derive(Clone, Default)]
pub struct Pipes(Arc<Mutex<HashMap<String, mpsc::Sender<Transaction>>>>);

impl std::fmt::Debug for Pipes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pipes")
    }
}

impl Pipes {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, mpsc::Sender<Transaction>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, name: &str) -> Option<mpsc::Sender<Transaction>> {
        self.lock().get(name).filter(|tx| !tx.is_closed()).cloned()
    }
}

fn name_of(cfg: &ComponentConfig) -> Result<String, ComponentError> {
    match cfg.config.as_str() {
        Some(n) if !n.is_empty() => Ok(n.to_string()),
        _ => Err(ComponentError::new("inproc: a pipe name is required")),
    }
}

/// The input spec: the config is the pipe name.
pub fn input_spec() -> ComponentSpec {
    ComponentSpec::with_value(
        "inproc",
        ComponentKind::Input,
        "Directly connect to an output within a Redpanda Connect process by referencing it by a chosen ID.",
        F::string("", "").default(""),
    )
}

/// The output spec: the config is the pipe name.
pub fn output_spec() -> ComponentSpec {
    ComponentSpec::with_value(
        "inproc",
        ComponentKind::Output,
        "Sends data directly to Redpanda Connect inputs by connecting to a unique ID.",
        F::string("", "").default(""),
    )
}

/// Builds the input.
pub fn build_input(
    cfg: &ComponentConfig,
    ctx: &BuildContext,
) -> Result<Box<dyn Input>, ComponentError> {
    Ok(Box::new(InprocInput {
        name: name_of(cfg)?,
        pipes: ctx.pipes.clone(),
        rx: None,
    }))
}

/// Builds the output.
pub fn build_output(
    cfg: &ComponentConfig,
    ctx: &BuildContext,
) -> Result<SharedOutput, ComponentError> {
    Ok(Arc::new(InprocOutput {
        name: name_of(cfg)?,
        pipes: ctx.pipes.clone(),
    }))
}

struct InprocInput {
    name: String,
    pipes: Pipes,
    rx: Option<mpsc::Receiver<Transaction>>,
}

#[async_trait]
impl Input for InprocInput {
    /// Takes the name over when the stream starts (a successor replaces its predecessor).
    fn attach(&mut self, _sink: &InputSink) {
        let (tx, rx) = mpsc::channel(1);
        self.pipes.lock().insert(self.name.clone(), tx);
        self.rx = Some(rx);
    }

    async fn run(mut self: Box<Self>, sink: InputSink) -> Result<(), ComponentError> {
        let Some(mut rx) = self.rx.take() else {
            return Ok(());
        };
        loop {
            tokio::select! {
                t = rx.recv() => match t {
                    Some(t) => {
                        if let Err(_t) = sink.send(t).await {
                            break;
                        }
                    }
                    None => break,
                },
                _ = sink.stopped() => break,
            }
        }
        // Writers now get a nack for what they had queued here, and look the name up again.
        rx.close();
        let mut pipes = self.pipes.lock();
        if pipes.get(&self.name).is_some_and(|tx| tx.is_closed()) {
            pipes.remove(&self.name);
        }
        Ok(())
    }
}

struct InprocOutput {
    name: String,
    pipes: Pipes,
}

/// How long a write waits for a reader to connect.
const CONNECT_WAIT: Duration = Duration::from_secs(1);

#[async_trait]
impl Output for InprocOutput {
    async fn write(&self, batch: Batch, _r: Option<&ResponseStore>) -> Result<(), Nack> {
        let deadline = tokio::time::Instant::now() + CONNECT_WAIT;
        let mut batch = batch;
        loop {
            if let Some(tx) = self.pipes.get(&self.name) {
                let (t, ack) = Transaction::new(batch);
                match tx.send(t).await {
                    Ok(()) => return ack.wait().await,
                    // The reader went away meanwhile: take the batch back and look again.
                    Err(mpsc::error::SendError(t)) => batch = t.into_parts().0,
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Nack(format!(
                    "inproc: no input is connected to '{}'",
                    self.name
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn connected(&self) -> bool {
        self.pipes.get(&self.name).is_some()
    }
}
