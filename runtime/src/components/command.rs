//! The `command` processor: runs a program per message (`name`, interpolated, with the
//! arguments `args_mapping` returns), the payload as its stdin; its stdout replaces the
//! payload. A non-zero exit flags the message with the program's stderr. The program is
//! killed when the stream is forced to stop.

use std::io::{Read, Write};
use std::process::{Command as Proc, Stdio};
use std::sync::Arc;
use std::time::Duration;

use sluice_compiler::interp::Interpolation;
use sluice_compiler::{Mapping, Message, Value};

use crate::config::stream::ComponentConfig;
use crate::registry::{ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{Batch, BuildContext, ComponentError, Processor, SharedProcessor};

/// The spec.
pub fn spec() -> ComponentSpec {
    ComponentSpec::new(
        "command",
        ComponentKind::Processor,
        "Executes a command for each message.",
        vec![
            F::string("name", "The name of the command to execute.").interpolated(),
            F::string("args_mapping", "An optional Bloblang mapping that, when specified, should resolve into an array of arguments to pass to the command. Command arguments are expressed this way in order to support dynamic behaviour.").bloblang().optional(),
        ],
    )
}

/// The typed config (read from the spec's normalised output).
#[derive(serde::Deserialize)]
struct Config {
    name: String,
    args_mapping: Option<String>,
}

/// Builds it.
pub fn build(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<SharedProcessor, ComponentError> {
    let c: Config = cfg.typed()?;
    let name =
        Interpolation::compile(&c.name).map_err(|e| ComponentError::new(format!("name: {}", e)))?;
    let args = c
        .args_mapping
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            Mapping::compile(s).map_err(|e| ComponentError::new(format!("args_mapping: {}", e)))
        })
        .transpose()?;
    Ok(Arc::new(Command { name, args }))
}

struct Command {
    name: Interpolation,
    args: Option<Mapping>,
}

impl Command {
    fn run(&self, m: &Message) -> Result<Vec<u8>, String> {
        let name = self.name.render(m).map_err(|e| format!("name: {}", e))?;
        let args: Vec<String> = match &self.args {
            None => Vec::new(),
            Some(map) => match map.query(m).map_err(|e| format!("args_mapping: {}", e))? {
                Value::Array(a) => a.iter().map(Value::to_display_string).collect(),
                other => {
                    return Err(format!(
                        "args mapping result: expected array value, got {}",
                        other.type_name()
                    ))
                }
            },
        };
        let mut child = Proc::new(&name)
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("failed to run command '{}': {}", name, e))?;
        let mut stdin = child.stdin.take().expect("piped");
        let payload = m.payload.clone();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&payload);
        });
        let mut stdout = child.stdout.take().expect("piped");
        let mut stderr = child.stderr.take().expect("piped");
        let out_reader = std::thread::spawn(move || {
            let mut b = Vec::new();
            let _ = stdout.read_to_end(&mut b);
            b
        });
        let err_reader = std::thread::spawn(move || {
            let mut b = Vec::new();
            let _ = stderr.read_to_end(&mut b);
            b
        });
        let status = loop {
            if let Some(s) = child.try_wait().map_err(|e| e.to_string())? {
                break s;
            }
            if let Err(e) = sluice_compiler::limits::check() {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e.message);
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        let _ = writer.join();
        let out = out_reader.join().unwrap_or_default();
        let err = err_reader.join().unwrap_or_default();
        if !status.success() {
            return Err(format!(
                "command '{}' failed ({}): {}",
                name,
                status,
                String::from_utf8_lossy(&err).trim()
            ));
        }
        Ok(out)
    }
}

impl Processor for Command {
    fn process(&self, mut batch: Batch) -> Batch {
        for m in batch.iter_mut() {
            match self.run(m) {
                Ok(out) => m.payload = out.into(),
                Err(e) => {
                    tracing::debug!(error = %e, "command failed");
                    m.error = Some(e);
                }
            }
        }
        batch
    }
}
