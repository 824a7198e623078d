//! The `workflow` processor: a graph of `branch`es run in tiers, as upstream's. The tiers are
//! `order` when given, otherwise inferred: a branch runs after every branch whose
//! `result_map` writes a path its `request_map` reads (a written path that is a prefix of a
//! read one). Branches of one tier run in parallel on the same input; their results are
//! mapped back in tier order. Branches may be inline (`branches`) or `branch` processor
//! resources (`branch_resources`, or names in `order`).
//!
//! With `meta_path` (default `meta.workflow`) each message records, at that path of its
//! document, which branches `succeeded`, were `skipped` or `failed` (with why), keeping the
//! previous record under `previous`; branches listed as succeeded or skipped there are
//! skipped, and a non-empty `apply` list runs only the branches it names. With an empty
//! `meta_path`, a message whose branches failed is flagged `workflow branches failed: [..]`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::json;
use sluice_compiler::{Message, Value};

use super::branch::{self, Branch, Outcome};
use crate::config::stream::{ComponentConfig, Field};
use crate::registry::{ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{Batch, BuildContext, ComponentError, Processor, SharedProcessor};

/// The spec.
pub fn spec() -> ComponentSpec {
    ComponentSpec::new(
        "workflow",
        ComponentKind::Processor,
        "Executes a topology of `branch` processors, performing them in parallel where possible.",
        vec![
            F::string("meta_path", "A dot path indicating where to store and reference structured metadata about the workflow execution.")
                .default("meta.workflow"),
            F::any("order", "An explicit declaration of branch ordered tiers, which describes the order in which parallel tiers of branches should be executed. Branches should be identified by the name as they are configured in the field `branches`. It's also possible to specify branch processors configured as a resource.")
                .default(json!([])),
            F::string("branch_resources", "An optional list of `branch` processor names that are configured as resources. These resources will be included in the workflow with any branches configured inline within the `branches` field.")
                .array()
                .default(json!([]))
                .advanced(),
            F::object("branches", "An object of named `branch` processors that make up the workflow. The order and parallelism in which branches are executed can either be made explicit with the field `order`, or if omitted an attempt is made to automatically resolve an ordering based on the mappings of each branch.", branch::fields())
                .map()
                .default(json!({})),
        ],
    )
}

/// A list of names as Go prints a `[]string` (`[a b]`), as upstream's messages show them.
fn go_list<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> String {
    let names: Vec<String> = names.into_iter().map(|n| n.as_ref().to_string()).collect();
    format!("[{}]", names.join(" "))
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Builds it.
pub fn build(cfg: &ComponentConfig, ctx: &BuildContext) -> Result<SharedProcessor, ComponentError> {
    let mut branches: BTreeMap<String, Branch> = BTreeMap::new();
    for (name, b) in cfg
        .field("branches")
        .and_then(Field::as_object)
        .unwrap_or(&[])
    {
        if !valid_name(name) {
            return Err(ComponentError::new(format!(
                "workflow branch name '{}' contains invalid characters",
                name
            )));
        }
        let bctx = ctx.child(format!("{}.branches.{}", ctx.path, name), String::new());
        let built = Branch::new(
            b.get("request_map").and_then(Field::as_str),
            b.get("processors").and_then(Field::as_array),
            b.get("result_map").and_then(Field::as_str),
            &bctx,
        )?;
        branches.insert(name.clone(), built);
    }
    let order = order(cfg)?;
    let mut resources: Vec<String> = cfg
        .field("branch_resources")
        .and_then(Field::as_array)
        .unwrap_or(&[])
        .iter()
        .filter_map(|f| f.as_str().map(str::to_string))
        .collect();
    for name in &resources {
        if branches.contains_key(name) {
            return Err(ComponentError::new(format!(
                "branch resource name '{}' collides with an explicit branch",
                name
            )));
        }
    }
    for name in order.iter().flatten() {
        if !branches.contains_key(name) && !resources.contains(name) {
            resources.push(name.clone());
        }
    }
    for name in resources {
        if ctx.offline && ctx.resources.get(ComponentKind::Processor, &name).is_none() {
            // compile --check: a branch made over the API; it cannot be checked here.
            continue;
        }
        let rc = ctx.resources.require(ComponentKind::Processor, &name)?;
        if rc.name != "branch" {
            return Err(ComponentError::new(format!(
                "processor resource '{}' is a {}, not a branch",
                name, rc.name
            )));
        }
        let bctx = ctx.child(format!("resource.processor.{}", name), name.clone());
        let built = Branch::new(
            rc.field("request_map").and_then(Field::as_str),
            rc.field("processors").and_then(Field::as_array),
            rc.field("result_map").and_then(Field::as_str),
            &bctx,
        )?;
        branches.insert(name, built);
    }
    let tiers = if order.is_empty() {
        let tiers = resolve(&branches)?;
        tracing::info!(stream = %ctx.stream, path = %ctx.path, ?tiers, "automatically resolved workflow DAG");
        tiers
    } else {
        verify(&order, &branches)?;
        order
    };
    let meta_path: Vec<String> = match cfg.str("meta_path").unwrap_or("meta.workflow") {
        "" => Vec::new(),
        p => p.split('.').map(str::to_string).collect(),
    };
    Ok(Arc::new(Workflow {
        branches,
        tiers,
        meta_path,
    }))
}

fn order(cfg: &ComponentConfig) -> Result<Vec<Vec<String>>, ComponentError> {
    let bad = || ComponentError::new("order: expected an array of arrays of branch names");
    let Some(tiers) = cfg.field("order") else {
        return Ok(Vec::new());
    };
    let tiers = tiers.as_array().ok_or_else(bad)?;
    tiers
        .iter()
        .map(|t| {
            t.as_array()
                .ok_or_else(bad)?
                .iter()
                .map(|n| n.as_str().map(str::to_string).ok_or_else(bad))
                .collect()
        })
        .collect()
}

fn verify(
    order: &[Vec<String>],
    branches: &BTreeMap<String, Branch>,
) -> Result<(), ComponentError> {
    let mut seen = BTreeSet::new();
    for (i, tier) in order.iter().enumerate() {
        if tier.is_empty() {
            return Err(ComponentError::new(format!(
                "explicit order tier '{}' was empty",
                i
            )));
        }
        for t in tier {
            if !seen.insert(t.clone()) {
                return Err(ComponentError::new(format!(
                    "branch specified in order listed multiple times: {}",
                    t
                )));
            }
        }
    }
    let missing: Vec<&String> = branches.keys().filter(|k| !seen.contains(*k)).collect();
    if !missing.is_empty() {
        return Err(ComponentError::new(format!(
            "the following branches were missing from order: {}",
            go_list(missing)
        )));
    }
    Ok(())
}

/// Orders branches in tiers by their dependencies (a layered topological sort).
fn resolve(branches: &BTreeMap<String, Branch>) -> Result<Vec<Vec<String>>, ComponentError> {
    let provided: BTreeMap<&String, Vec<Vec<String>>> = branches
        .iter()
        .map(|(k, b)| (k, b.targets_provided()))
        .collect();
    let mut deps: BTreeMap<&String, BTreeSet<&String>> = BTreeMap::new();
    for (id, b) in branches {
        let wanted = b.targets_used();
        let mine = deps.entry(id).or_default();
        for (other, paths) in &provided {
            if *other == id {
                continue;
            }
            if paths
                .iter()
                .any(|p| wanted.iter().any(|w| w.starts_with(p)))
            {
                mine.insert(other);
            }
        }
    }
    let mut done: BTreeSet<&String> = BTreeSet::new();
    let mut tiers = Vec::new();
    while done.len() < deps.len() {
        let tier: Vec<&String> = deps
            .iter()
            .filter(|(id, d)| !done.contains(*id) && d.iter().all(|x| done.contains(x)))
            .map(|(id, _)| *id)
            .collect();
        if tier.is_empty() {
            let rest: Vec<&String> = deps
                .keys()
                .filter(|k| !done.contains(*k))
                .copied()
                .collect();
            return Err(ComponentError::new(format!(
                "failed to automatically resolve DAG, circular dependencies detected for branches: {}",
                go_list(rest)
            )));
        }
        done.extend(tier.iter().copied());
        tiers.push(tier.into_iter().cloned().collect());
    }
    Ok(tiers)
}

struct Workflow {
    branches: BTreeMap<String, Branch>,
    tiers: Vec<Vec<String>>,
    meta_path: Vec<String>,
}

/// What happened to each branch for one message.
#[derive(Default)]
struct Record {
    succeeded: BTreeSet<String>,
    skipped: BTreeSet<String>,
    failed: BTreeMap<String, String>,
}

impl Record {
    fn to_value(&self) -> Value {
        let strings =
            |s: &BTreeSet<String>| Value::Array(s.iter().map(|k| Value::Str(k.clone())).collect());
        let mut o = sluice_compiler::value::Object::new();
        if !self.succeeded.is_empty() {
            o.insert("succeeded".into(), strings(&self.succeeded));
        }
        if !self.skipped.is_empty() {
            o.insert("skipped".into(), strings(&self.skipped));
        }
        if !self.failed.is_empty() {
            let mut f = sluice_compiler::value::Object::new();
            for (k, v) in &self.failed {
                f.insert(k.clone(), Value::Str(v.clone()));
            }
            o.insert("failed".into(), Value::Object(f));
        }
        Value::Object(o)
    }
}

impl Workflow {
    /// The branches a message's previous record says to skip.
    fn skip_list(&self, doc: Option<&Value>) -> BTreeSet<String> {
        let mut skip = BTreeSet::new();
        let Some(meta) = doc.and_then(|d| sluice_compiler::interp::get_path(d, &self.meta_path))
        else {
            return skip;
        };
        let names = |key: &str| -> Vec<String> {
            match sluice_compiler::interp::get_path(meta, &[key.to_string()]) {
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(|v| match v {
                        Value::Str(s) => Some(s.clone()),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            }
        };
        let apply = names("apply");
        if !apply.is_empty() {
            skip.extend(self.branches.keys().filter(|k| !apply.contains(k)).cloned());
        }
        for k in names("succeeded").into_iter().chain(names("skipped")) {
            if self.branches.contains_key(&k) {
                skip.insert(k);
            }
        }
        skip
    }
}

impl Processor for Workflow {
    fn process(&self, mut batch: Batch) -> Batch {
        let docs: Vec<Option<Value>> = if self.meta_path.is_empty() {
            vec![None; batch.len()]
        } else {
            batch
                .iter()
                .map(|m| Value::from_json_slice(&m.payload).ok())
                .collect()
        };
        let skips: Vec<BTreeSet<String>> =
            docs.iter().map(|d| self.skip_list(d.as_ref())).collect();
        let mut records: Vec<Record> = (0..batch.len()).map(|_| Record::default()).collect();
        for tier in &self.tiers {
            // Every branch of a tier sees the messages as they were when the tier began.
            let snapshot: &Batch = &batch;
            let run = |id: &String| -> Vec<Outcome> {
                let refs: Vec<Option<&Message>> = snapshot
                    .iter()
                    .zip(&skips)
                    .map(|(m, s)| (!s.contains(id)).then_some(m))
                    .collect();
                self.branches[id].request(&refs)
            };
            let results: Vec<Vec<Outcome>> = if tier.len() == 1 {
                vec![run(&tier[0])]
            } else {
                super::parallel::map_in_threads(tier.iter().collect(), run)
            };
            for (id, outcomes) in tier.iter().zip(results) {
                let branch = &self.branches[id];
                for (i, o) in outcomes.into_iter().enumerate() {
                    let r = &mut records[i];
                    match o {
                        Outcome::Skipped => {
                            r.skipped.insert(id.clone());
                        }
                        Outcome::Failed(e) => {
                            r.failed.insert(id.clone(), e);
                        }
                        Outcome::Result(res) => match branch.overlay(&mut batch[i], &res) {
                            Ok(()) => {
                                r.succeeded.insert(id.clone());
                            }
                            Err(e) => {
                                r.failed.insert(id.clone(), e);
                            }
                        },
                    }
                }
            }
        }
        for (m, r) in batch.iter_mut().zip(&records) {
            if r.failed.is_empty() && self.meta_path.is_empty() {
                continue;
            }
            if self.meta_path.is_empty() {
                m.error = Some(format!(
                    "workflow branches failed: {}",
                    go_list(r.failed.keys())
                ));
                continue;
            }
            let mut doc = match Value::from_json_slice(&m.payload) {
                Ok(d) => d,
                Err(e) => {
                    m.error = Some(format!("failed to parse message for meta update: {}", e));
                    continue;
                }
            };
            let mut current = r.to_value();
            if let (Some(prev), Value::Object(o)) = (
                sluice_compiler::interp::get_path(&doc, &self.meta_path).cloned(),
                &mut current,
            ) {
                o.insert("previous".into(), prev);
            }
            sluice_compiler::interp::set_path(&mut doc, &self.meta_path, current);
            m.payload = doc.to_payload();
        }
        batch
    }
}
