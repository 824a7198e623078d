//! The `benchmark` processor: logs the throughput of the messages passing through it
//! every `interval` (messages, and bytes with `count_bytes`, per second), and the totals
//! when it is dropped. Messages pass through unchanged.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::stream::ComponentConfig;
use crate::registry::{ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{Batch, BuildContext, ComponentError, Processor, SharedProcessor};

/// The spec.
pub fn spec() -> ComponentSpec {
    ComponentSpec::new(
        "benchmark",
        ComponentKind::Processor,
        "Logs basic throughput statistics of messages that pass through this processor.",
        vec![
            F::duration("interval", "How often to emit rolling statistics. If set to 0, only a summary will be logged when the processor shuts down.").default("5s"),
            F::bool("count_bytes", "Whether or not to measure the number of bytes per second of throughput. Counting the number of bytes requires serializing structured data, which can cause an unnecessary performance hit if serialization is not required elsewhere in the pipeline.").default(true),
        ],
    )
}

/// The typed config (read from the spec's normalised output).
#[derive(serde::Deserialize)]
struct Config {
    interval: String,
    count_bytes: bool,
}

/// Builds it.
pub fn build(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<SharedProcessor, ComponentError> {
    let c: Config = cfg.typed()?;
    let interval = crate::duration::parse(&c.interval)
        .map_err(|e| ComponentError::new(format!("interval: {}", e)))?;
    let now = Instant::now();
    Ok(Arc::new(Benchmark {
        interval,
        count_bytes: c.count_bytes,
        state: Mutex::new(State {
            started: now,
            window_start: now,
            window: (0, 0),
            total: (0, 0),
        }),
    }))
}

struct State {
    started: Instant,
    window_start: Instant,
    window: (u64, u64),
    total: (u64, u64),
}

struct Benchmark {
    interval: Duration,
    count_bytes: bool,
    state: Mutex<State>,
}

fn log_stats(kind: &str, (msgs, bytes): (u64, u64), over: Duration, count_bytes: bool) {
    let secs = over.as_secs_f64().max(f64::EPSILON);
    let msg_per_sec = msgs as f64 / secs;
    if count_bytes {
        tracing::info!(
            msg_per_sec,
            bytes_per_sec = bytes as f64 / secs,
            "{} stats: {:.1} msg/sec, {:.1} B/sec",
            kind,
            msg_per_sec,
            bytes as f64 / secs
        );
    } else {
        tracing::info!(msg_per_sec, "{} stats: {:.1} msg/sec", kind, msg_per_sec);
    }
}

impl Processor for Benchmark {
    fn process(&self, batch: Batch) -> Batch {
        let bytes: u64 = if self.count_bytes {
            batch.iter().map(|m| m.payload.len() as u64).sum()
        } else {
            0
        };
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.window.0 += batch.len() as u64;
        s.window.1 += bytes;
        s.total.0 += batch.len() as u64;
        s.total.1 += bytes;
        let since = s.window_start.elapsed();
        if !self.interval.is_zero() && since >= self.interval {
            log_stats("rolling", s.window, since, self.count_bytes);
            s.window = (0, 0);
            s.window_start = Instant::now();
        }
        batch
    }
}

impl Drop for Benchmark {
    fn drop(&mut self) {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        log_stats("total", s.total, s.started.elapsed(), self.count_bytes);
    }
}
