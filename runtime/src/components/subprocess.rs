//! Subprocesses: the `subprocess` input (runs a program and reads messages from its stdout
//! with its codec, restarted when it exits if `restart_on_exit`) and the `subprocess` output
//! (runs a program and writes each batch to its stdin, framed by the codec; a program that
//! exited is started again on the next write). Programs are killed when their stream stops.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::Mutex;
use tokio::task::JoinSet;

use super::codec::Codec;
use super::reading::read_framed;
use crate::config::stream::ComponentConfig;
use crate::registry::{ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{
    Batch, BuildContext, ComponentError, Input, InputSink, Nack, Output, ResponseStore,
    SharedOutput,
};

/// `subprocess` input spec.
pub fn input_spec() -> ComponentSpec {
    ComponentSpec::new(
        "subprocess",
        ComponentKind::Input,
        "Executes a command, runs it as a subprocess, and consumes messages from it over stdout.",
        vec![
            F::string("name", "The command to execute as a subprocess."),
            F::string("args", "A list of arguments to provide the command.")
                .array()
                .default(json!([])),
            F::string(
                "codec",
                "The way in which messages should be consumed from the subprocess.",
            )
            .default("lines"),
            F::bool(
                "restart_on_exit",
                "Whether the command should be re-executed each time the subprocess ends.",
            )
            .default(false),
            F::int(
                "max_buffer",
                "The maximum expected size of an individual message.",
            )
            .default(65536)
            .advanced(),
        ],
    )
}

/// `subprocess` output spec.
pub fn output_spec() -> ComponentSpec {
    ComponentSpec::new(
        "subprocess",
        ComponentKind::Output,
        "Executes a command, runs it as a subprocess, and writes messages to it over stdin.",
        vec![
            F::string("name", "The command to execute as a subprocess."),
            F::string("args", "A list of arguments to provide the command.")
                .array()
                .default(json!([])),
            F::string(
                "codec",
                "The way in which messages should be written to the subprocess.",
            )
            .default("lines"),
        ],
    )
}

/// The typed config of both directions (read from the spec's normalised output).
#[derive(serde::Deserialize)]
struct Config {
    name: String,
    args: Vec<String>,
    codec: String,
    /// The input's only.
    #[serde(default)]
    restart_on_exit: bool,
}

impl Config {
    fn read(cfg: &ComponentConfig) -> Result<(Config, Codec), ComponentError> {
        let c: Config = cfg.typed()?;
        if c.name.is_empty() {
            return Err(ComponentError::new("name is required"));
        }
        let codec = Codec::parse(&c.codec).map_err(ComponentError::new)?;
        Ok((c, codec))
    }
}

/// Builds the input.
pub fn build_input(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<Box<dyn Input>, ComponentError> {
    let (c, codec) = Config::read(cfg)?;
    Ok(Box::new(SubprocessInput {
        name: c.name,
        args: c.args,
        codec,
        restart: c.restart_on_exit,
    }))
}

struct SubprocessInput {
    name: String,
    args: Vec<String>,
    codec: Codec,
    restart: bool,
}

#[async_trait]
impl Input for SubprocessInput {
    async fn run(self: Box<Self>, sink: InputSink) -> Result<(), ComponentError> {
        let mut pending = JoinSet::new();
        let meta = sluice_compiler::value::Object::new();
        loop {
            let mut child = Command::new(&self.name)
                .args(&self.args)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| {
                    ComponentError::new(format!("failed to run '{}': {}", self.name, e))
                })?;
            let stdout = child.stdout.take().expect("piped");
            let open = read_framed(stdout, &self.codec, &sink, &meta, true, &mut pending).await;
            if !open || sink.is_stopped() {
                let _ = child.kill().await;
                break;
            }
            let status = child.wait().await;
            tracing::info!(command = %self.name, status = ?status.ok(), "subprocess exited");
            if !self.restart {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                _ = sink.stopped() => break,
            }
        }
        while pending.join_next().await.is_some() {}
        Ok(())
    }
}

/// Builds the output (the program starts on the first write).
pub fn build_output(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<SharedOutput, ComponentError> {
    let (c, codec) = Config::read(cfg)?;
    Ok(Arc::new(SubprocessOutput {
        name: c.name,
        args: c.args,
        codec,
        running: Mutex::new(None),
    }))
}

struct SubprocessOutput {
    name: String,
    args: Vec<String>,
    codec: Codec,
    running: Mutex<Option<(Child, ChildStdin)>>,
}

#[async_trait]
impl Output for SubprocessOutput {
    async fn write(&self, batch: Batch, _r: Option<&ResponseStore>) -> Result<(), Nack> {
        let mut running = self.running.lock().await;
        if let Some((child, _)) = running.as_mut() {
            if child.try_wait().ok().flatten().is_some() {
                *running = None;
            }
        }
        if running.is_none() {
            let mut child = Command::new(&self.name)
                .args(&self.args)
                .stdin(std::process::Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| Nack(format!("failed to run '{}': {}", self.name, e)))?;
            let stdin = child.stdin.take().expect("piped");
            *running = Some((child, stdin));
        }
        let (_, stdin) = running.as_mut().expect("started above");
        let buf = super::codec::frame(&self.codec, &batch);
        let result = match stdin.write_all(&buf).await {
            Ok(()) => stdin.flush().await,
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            *running = None;
            return Err(Nack(format!("failed to write to '{}': {}", self.name, e)));
        }
        Ok(())
    }

    async fn close(&self) {
        if let Some((mut child, stdin)) = self.running.lock().await.take() {
            // Closing stdin lets the program finish what it read; it is killed if it lingers.
            drop(stdin);
            if tokio::time::timeout(Duration::from_secs(5), child.wait())
                .await
                .is_err()
            {
                let _ = child.kill().await;
            }
        }
    }
}
