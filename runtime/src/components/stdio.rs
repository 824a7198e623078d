//! The standard streams: the `stdin` input (reads standard input with its scanner) and the
//! `stdout` output (writes messages framed by the codec, one write per batch under the
//! process-wide lock).

use std::io::Write;

use async_trait::async_trait;

use super::codec::{codec_field, frame, Codec};
use crate::config::stream::ComponentConfig;
use crate::registry::{shared, ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{Batch, ComponentError, Nack, Output, ResponseStore};

/// `stdin`: reads messages from standard input.
pub fn input_spec() -> ComponentSpec {
    ComponentSpec::new(
        "stdin",
        ComponentKind::Input,
        "Consumes data piped to stdin, chopping it into individual messages according to the specified scanner.",
        vec![
            F::string("codec", "The way in which the bytes of a data source should be converted into discrete messages.")
                .optional()
                .advanced(),
            F::int("max_buffer", "The largest token size expected when consuming delimited data.")
                .default(1_000_000)
                .advanced(),
            shared::input_scanner(),
            shared::auto_replay_nacks(),
        ],
    )
}

/// `stdout`: writes each message to standard output, framed by the codec.
pub struct Stdout {
    codec: Codec,
}

impl Stdout {
    /// Builds the output.
    pub fn new(cfg: &ComponentConfig) -> Result<Stdout, ComponentError> {
        Ok(Stdout {
            codec: codec_field(cfg)?,
        })
    }
}

#[async_trait]
impl Output for Stdout {
    async fn write(&self, batch: Batch, _r: Option<&ResponseStore>) -> Result<(), Nack> {
        let buf = frame(&self.codec, &batch);
        let mut out = std::io::stdout().lock();
        out.write_all(&buf)
            .and_then(|_| out.flush())
            .map_err(|e| Nack(format!("failed to write to stdout: {}", e)))
    }
}

/// `stdout`: writes messages to standard output.
pub fn output_spec() -> ComponentSpec {
    ComponentSpec::new(
        "stdout",
        ComponentKind::Output,
        "Prints messages to stdout as a continuous stream of data.",
        vec![shared::output_codec()],
    )
}
