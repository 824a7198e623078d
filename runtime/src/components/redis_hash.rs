//! `redis_hash` output: sets fields of a Redis hash per message (`HSET`), from the
//! metadata (`walk_metadata`), the payload's top-level JSON fields (`walk_json_object`) and
//! the interpolated `fields`, in that order (later ones win, as upstream's).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::ConnectionManager;
use serde_json::json;
use sluice_compiler::interp::Interpolation;
use sluice_compiler::Value;

use super::redis::{client_fields, RedisTarget};
use crate::config::stream::ComponentConfig;
use crate::registry::{shared, ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{
    Batch, BuildContext, ComponentError, Nack, Output, ResponseStore, SharedOutput,
};

/// `redis_hash` output spec.
pub fn output_spec() -> ComponentSpec {
    let mut fields = client_fields();
    fields.extend([
        F::string("key", "The key for each message, function interpolations should be used to create a unique key per message.")
            .interpolated(),
        F::bool("walk_metadata", "Whether all metadata fields of messages should be walked and added to the list of hash fields to set.")
            .default(false),
        F::bool("walk_json_object", "Whether to walk each message as a JSON object and add each key/value pair to the list of hash fields to set.")
            .default(false),
        F::string("fields", "A map of key/value pairs to set as hash fields.")
            .map()
            .interpolated()
            .default(json!({})),
        shared::max_in_flight(),
    ]);
    ComponentSpec::new(
        "redis_hash",
        ComponentKind::Output,
        "Sets Redis hash objects using the HMSET command.",
        fields,
    )
}

/// Builds the output.
pub fn build_output(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<SharedOutput, ComponentError> {
    let key = super::interpolated_field(cfg, "key")?;
    let fields = cfg
        .field("fields")
        .and_then(|f| f.as_object())
        .unwrap_or(&[])
        .iter()
        .map(|(k, v)| {
            Interpolation::compile(v.as_str().unwrap_or(""))
                .map(|i| (k.clone(), i))
                .map_err(|e| ComponentError::new(format!("fields.{}: {}", k, e)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let walk_metadata = cfg.bool("walk_metadata").unwrap_or(false);
    let walk_json = cfg.bool("walk_json_object").unwrap_or(false);
    if !walk_metadata && !walk_json && fields.is_empty() {
        return Err(ComponentError::new(
            "at least one mechanism for setting fields must be enabled",
        ));
    }
    Ok(Arc::new(RedisHashOutput {
        conn: RedisTarget::of(cfg)?.manager(Duration::from_secs(10))?,
        key,
        walk_metadata,
        walk_json,
        fields,
    }))
}

struct RedisHashOutput {
    conn: ConnectionManager,
    key: Interpolation,
    walk_metadata: bool,
    walk_json: bool,
    fields: Vec<(String, Interpolation)>,
}

#[async_trait]
impl Output for RedisHashOutput {
    async fn write(&self, batch: Batch, _r: Option<&ResponseStore>) -> Result<(), Nack> {
        let mut pipe = redis::pipe();
        for m in &batch {
            let key = self
                .key
                .render(m)
                .map_err(|e| Nack(format!("key: {}", e)))?;
            let mut pairs: Vec<(String, String)> = Vec::new();
            if self.walk_metadata {
                for (k, v) in &m.metadata {
                    pairs.push((k.clone(), v.to_display_string()));
                }
            }
            if self.walk_json {
                match Value::from_json_slice(&m.payload) {
                    Ok(Value::Object(o)) => {
                        for (k, v) in &o {
                            pairs.push((k.clone(), v.to_display_string()));
                        }
                    }
                    _ => {
                        return Err(Nack(
                            "walk_json_object: the message is not a JSON object".into(),
                        ))
                    }
                }
            }
            for (k, v) in &self.fields {
                let value = v
                    .render(m)
                    .map_err(|e| Nack(format!("fields.{}: {}", k, e)))?;
                pairs.push((k.clone(), value));
            }
            if pairs.is_empty() {
                continue;
            }
            let cmd = pipe.cmd("HSET").arg(&key);
            for (k, v) in &pairs {
                cmd.arg(k).arg(v);
            }
            cmd.ignore();
        }
        super::redis::send_pipeline(&self.conn, &pipe, "redis_hash").await
    }
}
