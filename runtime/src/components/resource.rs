//! Resources by name: the table of `input`, `processor` and `output` resource configs (from
//! `/resources/{type}/{id}` and from a config's `input_resources`, `processor_resources`,
//! `output_resources`), and the `resource` input, processor and output that use one.
//!
//! A `resource` component builds the named resource's config where it is used, when its
//! stream's plan is built: a missing resource is a build error naming it. A resource
//! replaced later applies to streams built after the change (Redpanda Connect swaps the
//! shared instance at once). Offline (`compile --check`), a resource the config does not
//! declare may be one made over the API, so it is not an error.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::config::stream::ComponentConfig;
use crate::registry::{ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{BuildContext, ComponentError, Input, SharedOutput, SharedProcessor};

/// Resource configs by kind and name, shared by the manager and every build.
#[derive(Clone, Default)]
pub struct ResourceConfigs(Arc<RwLock<HashMap<(ComponentKind, String), ComponentConfig>>>);

impl std::fmt::Debug for ResourceConfigs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let table = self.0.read().unwrap_or_else(|p| p.into_inner());
        let names: Vec<String> = table
            .keys()
            .map(|(k, n)| format!("{}/{}", k.as_str(), n))
            .collect();
        f.debug_tuple("ResourceConfigs").field(&names).finish()
    }
}

impl ResourceConfigs {
    /// Stores (or replaces) a resource.
    pub fn set(&self, kind: ComponentKind, name: &str, cfg: ComponentConfig) {
        self.0
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert((kind, name.to_string()), cfg);
    }

    /// The config of a resource.
    pub fn get(&self, kind: ComponentKind, name: &str) -> Option<ComponentConfig> {
        self.0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(kind, name.to_string()))
            .cloned()
    }

    /// The config of a resource, or upstream's error for a missing one.
    pub fn require(
        &self,
        kind: ComponentKind,
        name: &str,
    ) -> Result<ComponentConfig, ComponentError> {
        self.get(kind, name).ok_or_else(|| {
            ComponentError::new(format!(
                "{} resource '{}' was not found",
                kind.as_str(),
                name
            ))
        })
    }
}

fn spec(kind: ComponentKind, description: &'static str) -> ComponentSpec {
    ComponentSpec::with_value("resource", kind, description, F::string("", "").default(""))
}

/// The `resource` input spec.
pub fn input_spec() -> ComponentSpec {
    spec(ComponentKind::Input, "Resource is an input type that channels messages from a resource input, identified by its name.")
}

/// The `resource` processor spec.
pub fn processor_spec() -> ComponentSpec {
    spec(
        ComponentKind::Processor,
        "Resource is a processor type that runs a processor resource identified by its label.",
    )
}

/// The `resource` output spec.
pub fn output_spec() -> ComponentSpec {
    spec(ComponentKind::Output, "Resource is an output type that channels messages to a resource output, identified by its name.")
}

thread_local! {
    /// The resources being built on this thread, outermost first: a resource that refers to
    /// itself (directly or through others) is an error rather than endless recursion.
    static BUILDING: std::cell::RefCell<Vec<(ComponentKind, String)>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Builds resource `name` of `kind` with `f`, refusing a cycle of resources.
fn building<T>(
    kind: ComponentKind,
    name: &str,
    f: impl FnOnce() -> Result<T, ComponentError>,
) -> Result<T, ComponentError> {
    let key = (kind, name.to_string());
    let cycle = BUILDING.with(|b| {
        let mut b = b.borrow_mut();
        if b.contains(&key) {
            true
        } else {
            b.push(key.clone());
            false
        }
    });
    if cycle {
        return Err(ComponentError::new(format!(
            "{} resource '{}' refers to itself",
            kind.as_str(),
            name
        )));
    }
    let out = f();
    BUILDING.with(|b| b.borrow_mut().retain(|k| k != &key));
    out
}

/// Offline (`compile --check`), a processor resource the config does not declare may be one
/// made over the API: it stands in for it (and is never run).
struct Unresolved;

impl crate::stream::Processor for Unresolved {
    fn process(&self, batch: crate::stream::Batch) -> crate::stream::Batch {
        batch
    }
}

fn name(cfg: &ComponentConfig) -> Result<&str, ComponentError> {
    match cfg.config.as_str() {
        Some(n) if !n.is_empty() => Ok(n),
        _ => Err(ComponentError::new("a resource name is required")),
    }
}

/// Builds the `resource` input: the named input resource, built here.
pub fn build_input(
    cfg: &ComponentConfig,
    ctx: &BuildContext,
) -> Result<Box<dyn Input>, ComponentError> {
    let name = name(cfg)?;
    let target = ctx.resources.require(ComponentKind::Input, name)?;
    let child = ctx.child(format!("resource.input.{}", name), name.to_string());
    let input = building(ComponentKind::Input, name, || {
        super::build_input(&target, &child)
    })?;
    if target.processors.is_empty() {
        return Ok(input);
    }
    Err(ComponentError::new(format!(
        "input resource '{}': processors of a resource input are not supported yet; put them in the stream's pipeline",
        name
    )))
}

/// Builds the `resource` processor: the named processor resource, built here.
pub fn build_processor(
    cfg: &ComponentConfig,
    ctx: &BuildContext,
) -> Result<SharedProcessor, ComponentError> {
    let name = name(cfg)?;
    if ctx.offline && ctx.resources.get(ComponentKind::Processor, name).is_none() {
        return Ok(Arc::new(Unresolved));
    }
    let target = ctx.resources.require(ComponentKind::Processor, name)?;
    let child = ctx.child(format!("resource.processor.{}", name), name.to_string());
    building(ComponentKind::Processor, name, || {
        super::processors::build(&target, &child)
    })
}

/// Builds the `resource` output: the named output resource (with its own processors), built
/// here.
pub fn build_output(
    cfg: &ComponentConfig,
    ctx: &BuildContext,
) -> Result<SharedOutput, ComponentError> {
    let name = name(cfg)?;
    let target = ctx.resources.require(ComponentKind::Output, name)?;
    building(ComponentKind::Output, name, || {
        super::child_outputs::build(&target, ctx, &format!("resource.output.{}", name))
    })
}
