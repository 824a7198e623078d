//! The service's logs, configured as Redpanda Connect's `logger` section: `level`, `format`
//! (`logfmt`, the default, or `json`), `add_timestamp`, `static_fields` (default
//! `{"@service": "sluice"}`), `level_name`/`timestamp_name`/`message_name`, and `file.path`.
//! Logs go to stdout, as upstream's do in streams mode, or to the file.
//!
//! Only sluice's own crates log at the configured level; third-party crates (Cranelift, hyper,
//! librdkafka's bindings...) log at `warn` and above, so compiling a mapping never dumps its IR.
//! `SLUICE_LOG` (an `EnvFilter` directive list) overrides the filter entirely.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The `logger` section of the root config.
#[derive(Debug, Clone)]
pub struct LoggerConfig {
    /// `off`, `error`, `warn`, `info`, `debug`, `trace` (case-insensitive; `none`, `fatal`,
    /// `warning`, `all` as upstream).
    pub level: String,
    /// `logfmt` or `json`.
    pub format: String,
    /// Prefix each line with the time.
    pub add_timestamp: bool,
    /// Fields added to every line.
    pub static_fields: BTreeMap<String, String>,
    /// Names of the level, timestamp and message fields.
    pub level_name: String,
    /// See `level_name`.
    pub timestamp_name: String,
    /// See `level_name`.
    pub message_name: String,
    /// Write to this file (appending) instead of stdout.
    pub file: Option<std::path::PathBuf>,
    /// Write to stderr instead of stdout (`sluice run` of a stream whose output is `stdout`,
    /// as upstream does, so logs do not mix with the data).
    pub stderr: bool,
}

impl Default for LoggerConfig {
    fn default() -> LoggerConfig {
        LoggerConfig {
            level: "info".into(),
            format: "logfmt".into(),
            add_timestamp: false,
            static_fields: BTreeMap::from([("@service".to_string(), "sluice".to_string())]),
            level_name: "level".into(),
            timestamp_name: "time".into(),
            message_name: "msg".into(),
            file: None,
            stderr: false,
        }
    }
}

/// Why the `logger` section is wrong.
#[derive(Debug, thiserror::Error)]
pub enum LoggerError {
    /// An unknown format.
    #[error("logger.format: unknown format {0:?} (expected logfmt or json)")]
    Format(String),
    /// An unknown level.
    #[error("logger.level: unknown level {0:?}")]
    Level(String),
    /// The log file cannot be opened.
    #[error("logger.file.path: {0}")]
    File(std::io::Error),
}

impl LoggerConfig {
    /// Reads the `logger` section (a JSON view of the root config's `logger` key).
    pub fn from_json(v: Option<&serde_json::Value>) -> LoggerConfig {
        let mut c = LoggerConfig::default();
        let Some(v) = v else { return c };
        let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
        if let Some(l) = s("level") {
            c.level = l.to_ascii_lowercase();
        }
        if let Some(f) = s("format") {
            c.format = f;
        }
        if let Some(b) = v.get("add_timestamp").and_then(|x| x.as_bool()) {
            c.add_timestamp = b;
        }
        if let Some(o) = v.get("static_fields").and_then(|x| x.as_object()) {
            c.static_fields = o
                .iter()
                .map(|(k, v)| {
                    let text = v
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string());
                    (k.clone(), text)
                })
                .collect();
        }
        for (key, slot) in [
            ("level_name", &mut c.level_name),
            ("timestamp_name", &mut c.timestamp_name),
            ("message_name", &mut c.message_name),
        ] {
            if let Some(n) = s(key).filter(|n| !n.is_empty()) {
                *slot = n;
            }
        }
        c.file = v
            .pointer("/file/path")
            .and_then(|p| p.as_str())
            .filter(|p| !p.is_empty())
            .map(Into::into);
        c
    }

    /// The level as a filter directive.
    fn directive(&self) -> Result<&'static str, LoggerError> {
        Ok(match self.level.as_str() {
            "off" | "none" => "off",
            "error" | "fatal" => "error",
            "warn" | "warning" => "warn",
            "info" => "info",
            "debug" => "debug",
            "trace" | "all" => "trace",
            other => return Err(LoggerError::Level(other.to_string())),
        })
    }
}

/// The log writer thread's guard: dropping it writes out the queued lines.
static LOG_FLUSH: std::sync::Mutex<Option<tracing_appender::non_blocking::WorkerGuard>> =
    std::sync::Mutex::new(None);

/// Writes out every queued log line (call before the process exits).
pub fn flush() {
    drop(LOG_FLUSH.lock().unwrap_or_else(|p| p.into_inner()).take());
}

/// Installs the global subscriber.
pub fn init(cfg: &LoggerConfig) -> Result<(), LoggerError> {
    let level = cfg.directive()?;
    let filter = tracing_subscriber::EnvFilter::try_from_env("SLUICE_LOG").unwrap_or_else(|_| {
        let own = if level == "off" { "off" } else { level };
        tracing_subscriber::EnvFilter::new(format!(
            // lapin logs every connection failure itself; the amqp components report them.
            "{},sluice={own},sluice_runtime={own},sluice_compiler={own},lapin=off",
            if level == "off" { "off" } else { "warn" }
        ))
    });
    let json = match cfg.format.as_str() {
        "logfmt" | "" => false,
        "json" => true,
        other => return Err(LoggerError::Format(other.to_string())),
    };
    let format = LineFormat {
        json,
        cfg: cfg.clone(),
    };
    // Log lines go through a bounded queue to a writer thread and are dropped (counted by
    // tracing-appender) when it is full: a stalled log reader (a pipe nobody drains, a slow
    // disk) never blocks the API or a pipeline thread that logs.
    let sink: Box<dyn std::io::Write + Send> = match &cfg.file {
        Some(path) => Box::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(LoggerError::File)?,
        ),
        None if cfg.stderr => Box::new(std::io::stderr()),
        None => Box::new(std::io::stdout()),
    };
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(8 * 1024)
        .thread_name("sluice-log")
        .finish(sink);
    *LOG_FLUSH.lock().unwrap_or_else(|p| p.into_inner()) = Some(guard);
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .event_format(format)
        .try_init();
    Ok(())
}

/// Formats one event as a logfmt or JSON line.
struct LineFormat {
    json: bool,
    cfg: LoggerConfig,
}

/// Collects an event's fields in order.
#[derive(Default)]
struct Fields {
    message: String,
    rest: Vec<(String, String)>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_string();
        } else {
            self.rest
                .push((field.name().to_string(), value.to_string()));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let text = format!("{:?}", value);
        if field.name() == "message" {
            self.message = text;
        } else {
            self.rest.push((field.name().to_string(), text));
        }
    }
}

fn level_name(l: &Level) -> &'static str {
    match *l {
        Level::ERROR => "error",
        Level::WARN => "warn",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

/// A logfmt value: bare when it needs no quoting, else Go-quoted.
fn logfmt_value(v: &str) -> String {
    let bare = !v.is_empty()
        && v.chars()
            .all(|c| c > ' ' && c != '"' && c != '=' && c != '\\' && !c.is_control());
    if bare {
        v.to_string()
    } else {
        serde_json::Value::from(v).to_string()
    }
}

impl<S, N> FormatEvent<S, N> for LineFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let cfg = &self.cfg;
        let mut pairs: Vec<(&str, String)> = Vec::new();
        let time = cfg
            .add_timestamp
            .then(|| chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
        if let Some(t) = &time {
            pairs.push((&cfg.timestamp_name, t.clone()));
        }
        pairs.push((&cfg.level_name, level_name(event.metadata().level()).into()));
        pairs.push((&cfg.message_name, fields.message.clone()));
        for (k, v) in &cfg.static_fields {
            pairs.push((k, v.clone()));
        }
        for (k, v) in &fields.rest {
            pairs.push((k, v.clone()));
        }
        let mut line = String::new();
        if self.json {
            let mut obj = serde_json::Map::new();
            for (k, v) in pairs {
                obj.insert(k.to_string(), serde_json::Value::from(v));
            }
            line = serde_json::Value::Object(obj).to_string();
        } else {
            for (i, (k, v)) in pairs.iter().enumerate() {
                if i > 0 {
                    line.push(' ');
                }
                let _ = write!(line, "{}={}", k, logfmt_value(v));
            }
        }
        writeln!(writer, "{}", line)
    }
}

/// Writes a line to stderr when logging could not be set up.
pub fn report(e: &LoggerError) {
    let _ = writeln!(std::io::stderr(), "failed to set up logging: {}", e);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logfmt_quotes_only_what_needs_it() {
        assert_eq!(logfmt_value("info"), "info");
        assert_eq!(logfmt_value("two words"), "\"two words\"");
        assert_eq!(logfmt_value(""), "\"\"");
        assert_eq!(logfmt_value("a=b"), "\"a=b\"");
    }

    #[test]
    fn reads_the_logger_section() {
        let v = serde_json::json!({
            "level": "DEBUG", "format": "json", "add_timestamp": true,
            "static_fields": {"app": "x"}, "file": {"path": "/tmp/x.log"}
        });
        let c = LoggerConfig::from_json(Some(&v));
        assert_eq!(c.level, "debug");
        assert_eq!(c.format, "json");
        assert!(c.add_timestamp);
        assert_eq!(c.static_fields.get("app").map(String::as_str), Some("x"));
        assert_eq!(c.file.as_deref(), Some(std::path::Path::new("/tmp/x.log")));
        assert!(LoggerConfig {
            format: "xml".into(),
            ..LoggerConfig::default()
        }
        .directive()
        .is_ok());
    }
}
