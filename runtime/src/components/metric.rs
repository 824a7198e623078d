//! The `metric` processor: records a custom metric per message (`counter`, `counter_by`,
//! `gauge`, `timing`), named `name`, with interpolated `labels` and `value`, in the stream's
//! metrics (`/stats`, `/metrics`). Messages pass through unchanged.

use std::sync::Arc;
use std::time::Duration;

use sluice_compiler::interp::Interpolation;

use crate::config::stream::ComponentConfig;
use crate::metrics::StreamMetrics;
use crate::registry::{ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{Batch, BuildContext, ComponentError, Processor, SharedProcessor};

/// The spec.
pub fn spec() -> ComponentSpec {
    ComponentSpec::new(
        "metric",
        ComponentKind::Processor,
        "Emit custom metrics by extracting values from messages.",
        vec![
            F::string("type", "The metric type to create.").options(&["counter", "counter_by", "gauge", "timing"]),
            F::string("name", "The name of the metric to create, this must be unique across all components.").interpolated(),
            F::string("labels", "A map of label names and values that can be used to enrich metrics. Labels are not supported by some metric destinations, in which case the metrics series are combined.").map().interpolated().optional(),
            F::string("value", "For some metric types specifies a value to set, increment. Certain metrics exporters such as Prometheus support floating point values, but those that do not will cast a floating point value into an integer.")
                .default("")
                .interpolated(),
        ],
    )
}

#[derive(Clone, Copy)]
enum Kind {
    Counter,
    CounterBy,
    Gauge,
    Timing,
}

/// The typed config (read from the spec's normalised output).
#[derive(serde::Deserialize)]
struct Config {
    #[serde(rename = "type")]
    kind: String,
    name: String,
    #[serde(default)]
    labels: std::collections::BTreeMap<String, String>,
    value: String,
}

/// Builds it.
pub fn build(cfg: &ComponentConfig, ctx: &BuildContext) -> Result<SharedProcessor, ComponentError> {
    let c: Config = cfg.typed()?;
    let kind = match c.kind.as_str() {
        "counter" => Kind::Counter,
        "counter_by" => Kind::CounterBy,
        "gauge" => Kind::Gauge,
        "timing" => Kind::Timing,
        other => {
            return Err(ComponentError::new(format!(
                "metric type unrecognised: {}",
                other
            )))
        }
    };
    let name = c.name.as_str();
    if name.is_empty() {
        return Err(ComponentError::new("name is required"));
    }
    let interp = |t: &str, f: &str| {
        Interpolation::compile(t).map_err(|e| ComponentError::new(format!("{}: {}", f, e)))
    };
    let mut labels = Vec::new();
    for (k, v) in &c.labels {
        labels.push((k.clone(), interp(v, "labels")?));
    }
    let value = interp(&c.value, "value")?;
    if matches!(kind, Kind::CounterBy | Kind::Gauge | Kind::Timing)
        && value.is_static()
        && c.value.is_empty()
    {
        return Err(ComponentError::new(
            "value is required for this metric type",
        ));
    }
    Ok(Arc::new(Metric {
        kind,
        name: name.to_string(),
        labels,
        value,
        metrics: ctx.metrics.clone(),
        label: ctx.label.clone(),
        path: ctx.path.clone(),
    }))
}

struct Metric {
    kind: Kind,
    name: String,
    labels: Vec<(String, Interpolation)>,
    value: Interpolation,
    metrics: StreamMetrics,
    label: String,
    path: String,
}

impl Processor for Metric {
    fn process(&self, batch: Batch) -> Batch {
        for m in &batch {
            let labels: Vec<(String, String)> = self
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.render(m).unwrap_or_default()))
                .collect();
            let value = || -> Option<f64> {
                let text = self.value.render(m).ok()?;
                let v = text.trim().parse::<f64>();
                if v.is_err() {
                    tracing::debug!(value = %text, "metric value is not a number");
                }
                v.ok()
            };
            match self.kind {
                Kind::Counter => self
                    .metrics
                    .counter_with(&self.name, &self.label, &self.path, labels)
                    .incr(),
                Kind::CounterBy => {
                    if let Some(v) = value().filter(|v| *v >= 0.0) {
                        self.metrics
                            .counter_with(&self.name, &self.label, &self.path, labels)
                            .add(v as u64);
                    }
                }
                Kind::Gauge => {
                    if let Some(v) = value().filter(|v| *v >= 0.0) {
                        self.metrics
                            .counter_with(&self.name, &self.label, &self.path, labels)
                            .set(v as u64);
                    }
                }
                Kind::Timing => {
                    if let Some(v) = value().filter(|v| *v >= 0.0) {
                        self.metrics
                            .timer_with(&self.name, &self.label, &self.path, labels)
                            .record(Duration::from_nanos(v as u64));
                    }
                }
            }
        }
        batch
    }
}
