//! Metrics exporter and tracer component specs (root config only).

use serde_json::json;

use super::{ComponentKind::Metrics, ComponentKind::Tracer, ComponentSpec, FieldSpec as F};

/// `metrics: json_api`: serves metrics as JSON at `/metrics` and `/stats`.
pub fn metrics_json_api() -> ComponentSpec {
    ComponentSpec::new("json_api", Metrics, "Serves metrics as JSON object with the service wide HTTP service at the endpoints `/stats` and `/metrics`.", vec![])
}

/// `metrics: none`: disables metrics.
pub fn metrics_none() -> ComponentSpec {
    ComponentSpec::new("none", Metrics, "Disable metrics entirely.", vec![])
}

/// `metrics: prometheus`: serves metrics in the Prometheus exposition format.
pub fn metrics_prometheus() -> ComponentSpec {
    ComponentSpec::new(
        "prometheus",
        Metrics,
        "Host endpoints (`/metrics` and `/stats`) for Prometheus scraping.",
        vec![
            F::bool(
                "use_histogram_timing",
                "Whether to export timing metrics as a histogram.",
            )
            .default(false)
            .advanced(),
            F::float(
                "histogram_buckets",
                "Timing metrics histogram buckets (in seconds).",
            )
            .array()
            .default(json!([]))
            .advanced(),
            F::bool("add_process_metrics", "Whether to export process metrics.")
                .default(false)
                .advanced(),
            F::bool("add_go_metrics", "Whether to export Go runtime metrics.")
                .default(false)
                .advanced(),
            F::string(
                "push_url",
                "An optional Push Gateway URL to push metrics to.",
            )
            .optional()
            .url()
            .advanced(),
            F::duration(
                "push_interval",
                "The period of time between each push when sending metrics to a Push Gateway.",
            )
            .optional()
            .advanced(),
            F::string("push_job_name", "An identifier for push jobs.")
                .default("benthos_push")
                .advanced(),
            F::object(
                "push_basic_auth",
                "The Basic Authentication credentials.",
                vec![
                    F::string("username", "The Basic Authentication username.").default(""),
                    F::string("password", "The Basic Authentication password.")
                        .default("")
                        .secret(),
                ],
            )
            .advanced(),
            F::string(
                "file_output_path",
                "An optional file path to write all prometheus metrics on service shutdown.",
            )
            .default("")
            .advanced(),
        ],
    )
}

/// `tracer: none`: no tracing.
pub fn tracer_none() -> ComponentSpec {
    ComponentSpec::new(
        "none",
        Tracer,
        "Do not send tracing events anywhere.",
        vec![],
    )
}
