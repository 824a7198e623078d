//! The `nats_request_reply` processor: sends each message as a request to the interpolated
//! `subject` (with `headers` and the metadata `metadata` admits) and replaces it with the
//! reply, whose subject and headers become metadata. No reply within `timeout` flags it.

use std::sync::Arc;
use std::time::Duration;

use sluice_compiler::interp::Interpolation;
use sluice_compiler::{Message, Value};
use tokio::sync::OnceCell;

use super::nats::{client_fields, header_metadata, output_header_fields, HeaderWriter, NatsTarget};
use crate::config::stream::ComponentConfig;
use crate::registry::{ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{Batch, BuildContext, ComponentError, Processor, SharedProcessor};

/// `nats_request_reply` processor spec.
pub fn spec() -> ComponentSpec {
    let mut fields = client_fields();
    fields.push(F::string("subject", "A subject to write to.").interpolated());
    fields.push(
        F::string(
            "inbox_prefix",
            "Set an explicit inbox prefix for the response subject",
        )
        .optional()
        .advanced(),
    );
    fields.extend(output_header_fields());
    fields.push(F::duration("timeout", "A duration string is a possibly signed sequence of decimal numbers, each with optional fraction and a unit suffix, such as 300ms, -1.5h or 2h45m.").default("3s"));
    ComponentSpec::new(
        "nats_request_reply",
        ComponentKind::Processor,
        "Sends a message to a NATS subject and expects a reply, from a NATS subscriber acting as a request handler, back.",
        fields,
    )
}

/// Builds it (the client connects on first use).
pub fn build(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<SharedProcessor, ComponentError> {
    if cfg.str("inbox_prefix").is_some_and(|s| !s.is_empty()) {
        return Err(ComponentError::new("inbox_prefix is not supported yet"));
    }
    let handle = tokio::runtime::Handle::try_current()
        .map_err(|_| ComponentError::new("the nats_request_reply processor needs a runtime"))?;
    Ok(Arc::new(RequestReply {
        target: NatsTarget::of(cfg)?,
        client: OnceCell::new(),
        subject: super::interpolated_field(cfg, "subject")?,
        headers: HeaderWriter::of(cfg)?,
        timeout: super::kafka::duration_field(cfg, "timeout", "3s")?,
        handle,
    }))
}

struct RequestReply {
    target: NatsTarget,
    client: OnceCell<async_nats::Client>,
    subject: Interpolation,
    headers: HeaderWriter,
    timeout: Duration,
    handle: tokio::runtime::Handle,
}

impl RequestReply {
    async fn call(&self, m: &Message) -> Result<Message, String> {
        let client = self
            .client
            .get_or_try_init(|| self.target.connect())
            .await?;
        let subject = self
            .subject
            .render(m)
            .map_err(|e| format!("subject: {}", e))?;
        let headers = self
            .headers
            .headers(m)
            .map_err(|e| e.0)?
            .unwrap_or_default();
        let request = client.request_with_headers(subject, headers, m.payload.clone());
        let reply = tokio::time::timeout(self.timeout, request)
            .await
            .map_err(|_| "timed out waiting for a reply".to_string())?
            .map_err(|e| e.to_string())?;
        let mut out = m.clone();
        out.payload = reply.payload;
        out.metadata
            .insert("nats_subject".into(), Value::Str(reply.subject.to_string()));
        header_metadata(reply.headers.as_ref(), &mut out.metadata);
        Ok(out)
    }
}

impl Processor for RequestReply {
    fn process(&self, batch: Batch) -> Batch {
        batch
            .into_iter()
            .map(|m| {
                // Processors run on the blocking pool, where waiting on the runtime is allowed.
                match self.handle.block_on(self.call(&m)) {
                    Ok(out) => out,
                    Err(e) => {
                        let mut m = m;
                        m.error = Some(format!("nats_request_reply: {}", e));
                        m
                    }
                }
            })
            .collect()
    }
}
