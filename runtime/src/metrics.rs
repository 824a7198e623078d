//! Stream metrics: counters and timers labelled with the component's `label`, its config
//! `path` (`root.input`, `root.pipeline.processors.0`, ...) and the `stream` id, under the
//! reference's names (`input_received`, `processor_sent`, `output_error`, ...).
//!
//! Each stream owns a [`StreamMetrics`]; components ask it for handles once, at build time,
//! so the hot path is one atomic add. The registry renders the flat JSON of
//! `GET /streams/{id}/stats` and the Prometheus text exposition of `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A counter (monotonically increasing, or a gauge when [`Counter::set`] is used).
#[derive(Debug, Clone, Default)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    /// Sets the value (a gauge's reading).
    pub fn set(&self, v: u64) {
        self.0.store(v, Ordering::Relaxed);
    }

    /// Adds one.
    pub fn incr(&self) {
        self.add(1);
    }
    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Number of recent samples a timer keeps for its percentiles.
const TIMER_SAMPLES: usize = 1024;

/// A latency timer in nanoseconds, keeping a ring of recent samples for percentiles.
#[derive(Debug, Clone, Default)]
pub struct Timer(Arc<Mutex<TimerState>>);

#[derive(Debug, Default)]
struct TimerState {
    samples: Vec<u64>,
    next: usize,
    count: u64,
    sum: u64,
}

impl Timer {
    /// Records one duration.
    pub fn record(&self, d: std::time::Duration) {
        let ns = d.as_nanos().min(u64::MAX as u128) as u64;
        let mut s = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if s.samples.len() < TIMER_SAMPLES {
            s.samples.push(ns);
        } else {
            let i = s.next;
            s.samples[i] = ns;
        }
        s.next = (s.next + 1) % TIMER_SAMPLES;
        s.count += 1;
        s.sum = s.sum.saturating_add(ns);
    }

    /// p50, p90 and p99 of the recent samples (0 when empty).
    pub fn percentiles(&self) -> (f64, f64, f64) {
        let s = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if s.samples.is_empty() {
            return (0.0, 0.0, 0.0);
        }
        let mut v = s.samples.clone();
        v.sort_unstable();
        let at = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize] as f64;
        (at(0.5), at(0.9), at(0.99))
    }

    fn count_sum(&self) -> (u64, u64) {
        let s = self.0.lock().unwrap_or_else(|p| p.into_inner());
        (s.count, s.sum)
    }
}

/// The labels of a metric: component label, config path, stream id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    name: String,
    label: String,
    path: String,
    /// Labels a `metric` processor adds, sorted by name.
    extra: Vec<(String, String)>,
}

/// The metrics of one stream.
#[derive(Debug, Clone)]
pub struct StreamMetrics {
    stream: String,
    inner: Arc<Mutex<Registry>>,
}

#[derive(Debug, Default)]
struct Registry {
    counters: BTreeMap<Key, Counter>,
    timers: BTreeMap<Key, Timer>,
}

impl StreamMetrics {
    /// Metrics for stream `stream`.
    pub fn new(stream: impl Into<String>) -> StreamMetrics {
        StreamMetrics {
            stream: stream.into(),
            inner: Arc::default(),
        }
    }

    /// The stream id.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// A counter (created on first use).
    pub fn counter(&self, name: &str, label: &str, path: &str) -> Counter {
        self.counter_with(name, label, path, Vec::new())
    }

    /// A counter with extra labels (a `metric` processor's), created on first use.
    pub fn counter_with(
        &self,
        name: &str,
        label: &str,
        path: &str,
        mut extra: Vec<(String, String)>,
    ) -> Counter {
        extra.sort();
        let key = Key {
            name: name.into(),
            label: label.into(),
            path: path.into(),
            extra,
        };
        let mut r = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        r.counters.entry(key).or_default().clone()
    }

    /// A timer (created on first use).
    pub fn timer(&self, name: &str, label: &str, path: &str) -> Timer {
        self.timer_with(name, label, path, Vec::new())
    }

    /// A timer with extra labels (a `metric` processor's), created on first use.
    pub fn timer_with(
        &self,
        name: &str,
        label: &str,
        path: &str,
        mut extra: Vec<(String, String)>,
    ) -> Timer {
        extra.sort();
        let key = Key {
            name: name.into(),
            label: label.into(),
            path: path.into(),
            extra,
        };
        let mut r = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        r.timers.entry(key).or_default().clone()
    }

    fn key_string(&self, k: &Key) -> String {
        format!("{}{{{}}}", k.name, self.labels(k))
    }

    /// The label list of a metric (extra labels first, in name order, then `label`, `path`
    /// and `stream`).
    fn labels(&self, k: &Key) -> String {
        let mut out = String::new();
        for (n, v) in &k.extra {
            let _ = write!(out, "{}={},", n, quote(v));
        }
        let _ = write!(
            out,
            "label={},path={},stream={}",
            quote(&k.label),
            quote(&k.path),
            quote(&self.stream)
        );
        out
    }

    /// The flat stats object of `GET /streams/{id}/stats` (without `uptime_ns`).
    pub fn stats(&self) -> serde_json::Map<String, serde_json::Value> {
        let r = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = serde_json::Map::new();
        for (k, c) in &r.counters {
            out.insert(self.key_string(k), serde_json::Value::from(c.get()));
        }
        for (k, t) in &r.timers {
            let (p50, p90, p99) = t.percentiles();
            out.insert(
                self.key_string(k),
                serde_json::json!({"p50": p50, "p90": p90, "p99": p99}),
            );
        }
        out
    }

    /// Appends this stream's metrics in the Prometheus text format. Timers are exported as
    /// summaries (quantiles in nanoseconds, `_sum`, `_count`).
    pub fn write_prometheus(
        &self,
        out: &mut String,
        typed: &mut std::collections::HashSet<String>,
    ) {
        let r = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        for (k, c) in &r.counters {
            if typed.insert(k.name.clone()) {
                let kind = if k.name.ends_with("_up") {
                    "gauge"
                } else {
                    "counter"
                };
                let _ = writeln!(out, "# TYPE {} {}", k.name, kind);
            }
            let _ = writeln!(out, "{} {}", self.key_string(k), c.get());
        }
        for (k, t) in &r.timers {
            if typed.insert(k.name.clone()) {
                let _ = writeln!(out, "# TYPE {} summary", k.name);
            }
            let (p50, p90, p99) = t.percentiles();
            let labels = self.labels(k);
            for (q, v) in [("0.5", p50), ("0.9", p90), ("0.99", p99)] {
                let _ = writeln!(out, "{}{{{},quantile=\"{}\"}} {}", k.name, labels, q, v);
            }
            let (count, sum) = t.count_sum();
            let _ = writeln!(out, "{}_sum{{{}}} {}", k.name, labels, sum);
            let _ = writeln!(out, "{}_count{{{}}} {}", k.name, labels, count);
        }
    }
}

/// Go's `%q`-style quoting for label values (ASCII, escapes for quotes, backslashes and
/// control characters).
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if !c.is_ascii() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_keys_follow_the_reference_format() {
        let m = StreamMetrics::new("foo");
        m.counter("input_received", "", "root.input").add(3);
        let s = m.stats();
        assert_eq!(
            s["input_received{label=\"\",path=\"root.input\",stream=\"foo\"}"],
            3
        );
    }

    #[test]
    fn timer_percentiles() {
        let t = Timer::default();
        for i in 1..=100 {
            t.record(std::time::Duration::from_nanos(i));
        }
        let (p50, _, p99) = t.percentiles();
        assert!((49.0..=51.0).contains(&p50));
        assert!(p99 >= 98.0);
    }
}
