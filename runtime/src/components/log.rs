//! The `log` processor: a log line per message at `level`, with `message` interpolated and
//! `fields_mapping` evaluated; messages pass through unchanged.

use std::sync::Arc;

use sluice_compiler::interp::Interpolation;
use sluice_compiler::Mapping;

use crate::config::stream::ComponentConfig;
use crate::registry::{ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{Batch, BuildContext, ComponentError, Processor, SharedProcessor};

/// `log`.
pub fn build(cfg: &ComponentConfig, ctx: &BuildContext) -> Result<SharedProcessor, ComponentError> {
    Ok(Arc::new(Log::new(cfg, ctx)?))
}

/// `log`: emits a log line per message at `level`, with `message` interpolated and
/// `fields_mapping` evaluated; messages pass through unchanged.
pub struct Log {
    level: tracing::Level,
    message: Interpolation,
    fields: Option<Mapping>,
    path: String,
}

impl Log {
    fn new(cfg: &ComponentConfig, ctx: &BuildContext) -> Result<Log, ComponentError> {
        let level = match cfg
            .str("level")
            .unwrap_or("INFO")
            .to_ascii_uppercase()
            .as_str()
        {
            "TRACE" | "ALL" => tracing::Level::TRACE,
            "DEBUG" => tracing::Level::DEBUG,
            "WARN" => tracing::Level::WARN,
            "ERROR" | "FATAL" => tracing::Level::ERROR,
            _ => tracing::Level::INFO,
        };
        let message = Interpolation::compile(cfg.str("message").unwrap_or(""))
            .map_err(|e| ComponentError::new(format!("message: {}", e)))?;
        let fields = match cfg.str("fields_mapping") {
            Some(s) if !s.trim().is_empty() => Some(
                Mapping::compile(s)
                    .map_err(|e| ComponentError::new(format!("fields_mapping: {}", e)))?,
            ),
            _ => None,
        };
        Ok(Log {
            level,
            message,
            fields,
            path: ctx.path.clone(),
        })
    }
}

impl Processor for Log {
    fn process(&self, batch: Batch) -> Batch {
        for msg in &batch {
            let text = self
                .message
                .render(msg)
                .unwrap_or_else(|e| format!("<log message failed: {}>", e));
            let fields = match &self.fields {
                Some(m) => match m.query(msg) {
                    Ok(v) => v.to_json_string(),
                    Err(e) => format!("<fields_mapping failed: {}>", e),
                },
                None => String::new(),
            };
            let path = self.path.as_str();
            match self.level {
                tracing::Level::TRACE => tracing::trace!(path, fields = %fields, "{}", text),
                tracing::Level::DEBUG => tracing::debug!(path, fields = %fields, "{}", text),
                tracing::Level::INFO => tracing::info!(path, fields = %fields, "{}", text),
                tracing::Level::WARN => tracing::warn!(path, fields = %fields, "{}", text),
                tracing::Level::ERROR => tracing::error!(path, fields = %fields, "{}", text),
            }
        }
        batch
    }
}

/// `log`: logs a message (and structured fields) for each message passing through.
pub fn spec() -> ComponentSpec {
    ComponentSpec::new(
        "log",
        ComponentKind::Processor,
        "Prints a log event for each message. Messages always remain unchanged.",
        vec![
            F::string("level", "The log level to use.")
                .default("INFO")
                .options(&["ERROR", "WARN", "INFO", "DEBUG", "TRACE", "FATAL", "ALL"]),
            F::string("fields_mapping", "An optional Bloblang mapping that can be used to specify extra fields to add to the log.")
                .bloblang()
                .optional(),
            F::string("message", "The message to print.").default("").interpolated(),
            F::string("fields", "A map of fields to print along with the log message.")
                .map()
                .interpolated()
                .optional()
                .advanced(),
        ],
    )
}
