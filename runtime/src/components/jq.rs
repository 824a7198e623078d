//! The `jq` processor: a jq query over each message's JSON document, run by jaq (an
//! embedded jq implementation). As upstream's: no output filters the message, one output
//! replaces it, several become an array; `raw` feeds the payload as a string, `output_raw`
//! writes string results without quotes. A failing query flags the message.

use std::sync::Arc;

use jaq_core::load::{Arena, File, Loader};
use jaq_core::{data, unwrap_valr, Ctx, Vars};
use jaq_json::Val;

use crate::config::stream::ComponentConfig;
use crate::registry::{ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{Batch, BuildContext, ComponentError, Processor, SharedProcessor};

/// The spec.
pub fn spec() -> ComponentSpec {
    ComponentSpec::new(
        "jq",
        ComponentKind::Processor,
        "Transforms and filters messages using jq queries.",
        vec![
            F::string("query", "The jq query to filter and transform messages with."),
            F::bool("raw", "Whether to process the input as a raw string instead of as JSON.")
                .default(false)
                .advanced(),
            F::bool("output_raw", "Whether to output raw text (unquoted) instead of JSON strings when the emitted values are string types.")
                .default(false)
                .advanced(),
        ],
    )
}

type Filter = jaq_core::compile::Filter<jaq_core::Native<data::JustLut<Val>>>;

fn compile(query: &str) -> Result<Filter, String> {
    let defs = jaq_core::defs()
        .chain(jaq_std::defs())
        .chain(jaq_json::defs());
    let funs = jaq_core::funs()
        .chain(jaq_std::funs())
        .chain(jaq_json::funs());
    let loader = Loader::new(defs);
    let arena = Arena::default();
    let modules = loader
        .load(
            &arena,
            File {
                code: query,
                path: (),
            },
        )
        .map_err(|errs| format!("error parsing jq query: {:?}", errs))?;
    jaq_core::Compiler::default()
        .with_funs(funs)
        .compile(modules)
        .map_err(|errs| format!("error compiling jq query: {:?}", errs))
}

/// The typed config (read from the spec's normalised output).
#[derive(serde::Deserialize)]
struct Config {
    query: String,
    raw: bool,
    output_raw: bool,
}

/// Builds it.
pub fn build(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<SharedProcessor, ComponentError> {
    let c: Config = cfg.typed()?;
    let filter = compile(&c.query).map_err(ComponentError::new)?;
    Ok(Arc::new(Jq {
        filter,
        raw: c.raw,
        output_raw: c.output_raw,
    }))
}

struct Jq {
    filter: Filter,
    raw: bool,
    output_raw: bool,
}

impl Jq {
    fn run(&self, payload: &[u8]) -> Result<Option<Vec<u8>>, String> {
        let input = if self.raw {
            Val::utf8_str(payload.to_vec())
        } else {
            jaq_json::read::parse_single(payload)
                .map_err(|e| format!("failed to parse message as JSON: {}", e))?
        };
        let ctx = Ctx::<data::JustLut<Val>>::new(&self.filter.lut, Vars::new([]));
        let mut outputs = Vec::new();
        for v in self.filter.id.run((ctx, input)).map(unwrap_valr) {
            sluice_compiler::limits::check().map_err(|e| e.message)?;
            outputs.push(v.map_err(|e| format!("jq query failed: {}", e))?);
        }
        Ok(match outputs.len() {
            0 => None,
            1 => Some(self.render(&outputs[0])),
            _ => Some(self.render(&outputs.into_iter().collect::<Val>())),
        })
    }

    fn render(&self, v: &Val) -> Vec<u8> {
        match v {
            Val::TStr(s) if self.output_raw => s.to_vec(),
            Val::BStr(s) if self.output_raw => s.to_vec(),
            v => v.to_string().into_bytes(),
        }
    }
}

impl Processor for Jq {
    fn process(&self, batch: Batch) -> Batch {
        let mut out = Vec::with_capacity(batch.len());
        for mut m in batch {
            match self.run(&m.payload) {
                Ok(Some(p)) => {
                    m.payload = p.into();
                    out.push(m);
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "jq failed");
                    m.error = Some(e);
                    out.push(m);
                }
            }
        }
        out
    }
}
