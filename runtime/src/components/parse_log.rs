//! The `parse_log` processor: parses syslog lines (`syslog_rfc5424`, `syslog_rfc3164`) into
//! a JSON document with upstream's field names (`message`, `timestamp` as RFC 3339,
//! `facility`, `severity`, `priority`, `version`, `hostname`, `procid`, `appname`, `msgid`,
//! `structureddata`). With `best_effort` a line that does not parse keeps what could be read
//! (at least the whole line as `message`); otherwise it flags the message.

use std::sync::Arc;

use chrono::{Datelike, FixedOffset, SecondsFormat};
use sluice_compiler::value::Object;
use sluice_compiler::Value;
use syslog_loose::{Protocol, Variant};

use crate::config::stream::ComponentConfig;
use crate::registry::{ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{Batch, BuildContext, ComponentError, Processor, SharedProcessor};

/// The spec.
pub fn spec() -> ComponentSpec {
    ComponentSpec::new(
        "parse_log",
        ComponentKind::Processor,
        "Parses common log formats into structured data. This is easier and often much faster than `grok`.",
        vec![
            F::string("format", "A common log format to parse.").options(&["syslog_rfc5424", "syslog_rfc3164"]),
            F::bool("best_effort", "Still returns partially parsed messages even if an error occurs.").default(true).advanced(),
            F::bool("allow_rfc3339", "Also accept timestamps in rfc3339 format while parsing. Applicable to format `syslog_rfc3164`.").default(true).advanced(),
            F::string("default_year", "Sets the strategy used to set the year for rfc3164 timestamps. Applicable to format `syslog_rfc3164`. When set to `current` the current year will be set, when set to an integer that value will be used. Leave this field empty to not set a default year at all.").default("current").advanced(),
            F::string("default_timezone", "Sets the strategy to decide the timezone for rfc3164 timestamps. Applicable to format `syslog_rfc3164`. This value should follow the time.LoadLocation format (sluice takes `UTC`, `Local` or a fixed offset such as `+02:00`).").default("UTC").advanced(),
            F::string("codec", "Specifies the structured format to parse a log into.").optional().advanced(),
        ],
    )
}

/// The typed config (read from the spec's normalised output).
#[derive(serde::Deserialize)]
struct Config {
    format: String,
    best_effort: bool,
    default_year: String,
    default_timezone: String,
}

/// Builds it.
pub fn build(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<SharedProcessor, ComponentError> {
    let c: Config = cfg.typed()?;
    let variant = match c.format.as_str() {
        "syslog_rfc5424" => Variant::RFC5424,
        "syslog_rfc3164" => Variant::RFC3164,
        other => {
            return Err(ComponentError::new(format!(
                "format not recognised: {}",
                other
            )))
        }
    };
    let year = match c.default_year.as_str() {
        "current" | "" => None,
        y => Some(y.parse::<i32>().map_err(|e| {
            ComponentError::new(format!("failed to convert year {} into integer: {}", y, e))
        })?),
    };
    let tz = match c.default_timezone.as_str() {
        "" | "UTC" => FixedOffset::east_opt(0).expect("zero offset"),
        "Local" => *chrono::Local::now().offset(),
        other => other.parse::<FixedOffset>().map_err(|_| {
            ComponentError::new(format!(
                "failed to lookup timezone {}: sluice takes UTC, Local or a fixed offset such as +02:00",
                other
            ))
        })?,
    };
    Ok(Arc::new(ParseLog {
        variant,
        best_effort: c.best_effort,
        year,
        tz,
    }))
}

struct ParseLog {
    variant: Variant,
    best_effort: bool,
    year: Option<i32>,
    tz: FixedOffset,
}

impl ParseLog {
    fn parse(&self, line: &str) -> Result<Value, String> {
        let year = self.year.unwrap_or_else(|| chrono::Utc::now().year());
        let get_year = move |_| year;
        let msg = if self.best_effort {
            syslog_loose::parse_message_with_year_tz(line, get_year, Some(self.tz), self.variant)
        } else {
            syslog_loose::parse_message_with_year_exact_tz(
                line,
                get_year,
                Some(self.tz),
                self.variant,
            )?
        };
        let mut o = Object::new();
        let s = |v: &str| Value::Str(v.to_string());
        o.insert("message".into(), s(msg.msg));
        if let Some(t) = msg.timestamp {
            o.insert(
                "timestamp".into(),
                Value::Str(t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
            );
        }
        if let Some(f) = msg.facility {
            o.insert("facility".into(), Value::Int(f as i64));
        }
        if let Some(sev) = msg.severity {
            o.insert("severity".into(), Value::Int(sev as i64));
        }
        if let (Some(f), Some(sev)) = (msg.facility, msg.severity) {
            o.insert("priority".into(), Value::Int(f as i64 * 8 + sev as i64));
        }
        if let Protocol::RFC5424(v) = msg.protocol {
            if v != 0 {
                o.insert("version".into(), Value::Int(v as i64));
            }
        }
        if let Some(h) = msg.hostname {
            o.insert("hostname".into(), s(h));
        }
        if let Some(p) = &msg.procid {
            o.insert("procid".into(), Value::Str(p.to_string()));
        }
        if let Some(a) = msg.appname {
            o.insert("appname".into(), s(a));
        }
        if let Some(m) = msg.msgid {
            o.insert("msgid".into(), s(m));
        }
        if matches!(msg.protocol, Protocol::RFC5424(_)) && !msg.structured_data.is_empty() {
            let mut sd = Object::new();
            for el in &msg.structured_data {
                let mut params = Object::new();
                for (k, v) in &el.params {
                    params.insert(k.to_string(), s(v));
                }
                sd.insert(el.id.to_string(), Value::Object(params));
            }
            o.insert("structureddata".into(), Value::Object(sd));
        }
        Ok(Value::Object(o))
    }
}

impl Processor for ParseLog {
    fn process(&self, mut batch: Batch) -> Batch {
        for m in batch.iter_mut() {
            let line = String::from_utf8_lossy(&m.payload).into_owned();
            match self.parse(&line) {
                Ok(v) => m.payload = v.to_payload(),
                Err(e) => {
                    tracing::debug!(error = %e, "failed to parse log line");
                    m.error = Some(e);
                }
            }
        }
        batch
    }
}
