//! Inputs made of inputs: `broker` (all children at once, their messages merged, each child
//! repeated `copies` times) and `sequence` (one child after another, each read to its end).
//! Children are built through the catalog under their own config paths; processors attached
//! to a child are refused (move them to the parent's `processors`).

use async_trait::async_trait;
use serde_json::json;

use crate::config::stream::{ComponentConfig, Field};
use crate::registry::{shared, ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{BuildContext, ComponentError, Input, InputSink};

/// `broker` spec.
pub fn broker_spec() -> ComponentSpec {
    ComponentSpec::new(
        "broker",
        ComponentKind::Input,
        "Allows you to combine multiple inputs into a single stream of data, where each input will be read in parallel.",
        vec![
            F::int("copies", "Whatever is specified within `inputs` will be created this many times.")
                .default(1)
                .advanced(),
            F::component("inputs", ComponentKind::Input, "A list of inputs to create.").array().default(json!([])),
            shared::batching("batching", false),
        ],
    )
}

/// `sequence` spec.
pub fn sequence_spec() -> ComponentSpec {
    ComponentSpec::new(
        "sequence",
        ComponentKind::Input,
        "Reads messages from a sequence of child inputs, starting with the first and once that input gracefully terminates starts consuming from the next, and so on.",
        vec![
            F::component("inputs", ComponentKind::Input, "An array of inputs to read from sequentially.")
                .array()
                .default(json!([])),
            F::any("sharded_join", "EXPERIMENTAL: Provides a way to perform outer joins of arbitrarily structured and unordered data resulting from the input sequence.")
                .optional()
                .advanced(),
        ],
    )
}

fn children(
    cfg: &ComponentConfig,
    ctx: &BuildContext,
    copies: usize,
) -> Result<Vec<Box<dyn Input>>, ComponentError> {
    let items = cfg.field("inputs").and_then(Field::as_array).unwrap_or(&[]);
    if items.is_empty() {
        return Err(ComponentError::new("at least one input is required"));
    }
    let mut out = Vec::new();
    for _ in 0..copies {
        for (i, f) in items.iter().enumerate() {
            let path = format!("{}.inputs.{}", ctx.path, i);
            let c = f
                .as_component()
                .ok_or_else(|| ComponentError::new(format!("{}: expected an input", path)))?;
            if !c.processors.is_empty() {
                return Err(ComponentError::new(format!(
                    "{}: processors of a child input are not supported yet; put them in the parent input's processors",
                    path
                )));
            }
            let child = ctx.child(path.clone(), c.label.clone());
            out.push(
                super::build_input(c, &child)
                    .map_err(|e| ComponentError::new(format!("{}: {}", path, e)))?,
            );
        }
    }
    Ok(out)
}

/// Builds `broker`.
pub fn build_broker(
    cfg: &ComponentConfig,
    ctx: &BuildContext,
) -> Result<Box<dyn Input>, ComponentError> {
    let copies = cfg.int("copies").unwrap_or(1).max(1) as usize;
    let batching = cfg.int("batching.count").unwrap_or(0) > 1
        || cfg.int("batching.byte_size").unwrap_or(0) > 0
        || !cfg.str("batching.period").unwrap_or("").is_empty();
    if batching {
        return Err(ComponentError::new(
            "batching of a broker input is not supported yet (batch at the output instead)",
        ));
    }
    Ok(Box::new(Broker(children(cfg, ctx, copies)?)))
}

/// Builds `sequence`.
pub fn build_sequence(
    cfg: &ComponentConfig,
    ctx: &BuildContext,
) -> Result<Box<dyn Input>, ComponentError> {
    if cfg.field("sharded_join").is_some() {
        return Err(ComponentError::new("sharded_join is not supported yet"));
    }
    Ok(Box::new(Sequence(children(cfg, ctx, 1)?)))
}

struct Broker(Vec<Box<dyn Input>>);

#[async_trait]
impl Input for Broker {
    fn attach(&mut self, sink: &InputSink) {
        self.0.iter_mut().for_each(|i| i.attach(sink));
    }

    async fn run(self: Box<Self>, sink: InputSink) -> Result<(), ComponentError> {
        let runs = self.0.into_iter().map(|i| i.run(sink.clone()));
        let errors: Vec<String> = futures::future::join_all(runs)
            .await
            .into_iter()
            .filter_map(|r| r.err().map(|e| e.to_string()))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ComponentError::new(errors.join("; ")))
        }
    }
}

struct Sequence(Vec<Box<dyn Input>>);

#[async_trait]
impl Input for Sequence {
    fn attach(&mut self, sink: &InputSink) {
        self.0.iter_mut().for_each(|i| i.attach(sink));
    }

    async fn run(self: Box<Self>, sink: InputSink) -> Result<(), ComponentError> {
        for input in self.0 {
            if sink.is_stopped() {
                break;
            }
            input.run(sink.clone()).await?;
        }
        Ok(())
    }
}
