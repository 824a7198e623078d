//! The `redis` processor: runs a command per message (`command` with `args_mapping`, or
//! one of upstream's older `operator`s: `keys`, `scard`, `sadd`, `incrby` on `key`) and
//! replaces the message with the reply as JSON. A failing command flags the message after
//! `retries` attempts `retry_period` apart.

use std::sync::Arc;
use std::time::Duration;

use sluice_compiler::interp::{Interpolation, Mapping};
use sluice_compiler::value::Object;
use sluice_compiler::{Message, Value};

use super::redis::{client_fields, error_text, is_connection_error, RedisTarget};
use crate::config::stream::ComponentConfig;
use crate::registry::{ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{Batch, BuildContext, ComponentError, Processor, SharedProcessor};

/// `redis` processor spec.
pub fn spec() -> ComponentSpec {
    let mut fields = client_fields();
    fields.extend([
        F::string("command", "The command to execute.").interpolated().optional(),
        F::string("args_mapping", "A Bloblang mapping which should evaluate to an array of values matching in size to the number of arguments required for the specified Redis command.")
            .bloblang()
            .optional(),
        F::string("operator", "The operator to apply.")
            .options(&["keys", "scard", "sadd", "incrby"])
            .optional()
            .advanced(),
        F::string("key", "A key to use for the target operator.").interpolated().optional().advanced(),
        F::int("retries", "The maximum number of retries before abandoning a request.")
            .default(3)
            .advanced(),
        F::duration("retry_period", "The time to wait before consecutive retry attempts.")
            .default("500ms")
            .advanced(),
    ]);
    ComponentSpec::new(
        "redis",
        ComponentKind::Processor,
        "Performs actions against Redis that aren't possible using a cache processor. Actions are performed for each message and the message contents are replaced with the result.",
        fields,
    )
}

enum Action {
    Command(Interpolation, Option<Box<Mapping>>),
    Operator(&'static str, Interpolation),
}

/// Builds it.
pub fn build(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<SharedProcessor, ComponentError> {
    let interp = |name: &str| {
        Interpolation::compile(cfg.str(name).unwrap_or(""))
            .map_err(|e| ComponentError::new(format!("{}: {}", name, e)))
    };
    let action = match (
        cfg.str("command").filter(|c| !c.is_empty()),
        cfg.str("operator").filter(|o| !o.is_empty()),
    ) {
        (Some(_), None) => Action::Command(
            interp("command")?,
            match cfg.str("args_mapping").filter(|s| !s.trim().is_empty()) {
                Some(src) => {
                    Some(Box::new(Mapping::compile(src).map_err(|e| {
                        ComponentError::new(format!("args_mapping: {}", e))
                    })?))
                }
                None => None,
            },
        ),
        (None, Some(op)) => Action::Operator(
            match op {
                "keys" => "KEYS",
                "scard" => "SCARD",
                "sadd" => "SADD",
                "incrby" => "INCRBY",
                other => {
                    return Err(ComponentError::new(format!(
                        "operator {} is not supported",
                        other
                    )))
                }
            },
            interp("key")?,
        ),
        _ => {
            return Err(ComponentError::new(
                "exactly one of command and operator must be set",
            ))
        }
    };
    let handle = tokio::runtime::Handle::try_current()
        .map_err(|_| ComponentError::new("the redis processor needs a runtime"))?;
    Ok(Arc::new(RedisProcessor {
        conn: RedisTarget::of(cfg)?.manager(Duration::from_secs(10))?,
        action,
        retries: cfg.int("retries").unwrap_or(3).max(0) as u32,
        retry_period: super::kafka::duration_field(cfg, "retry_period", "500ms")?,
        handle,
    }))
}

struct RedisProcessor {
    conn: redis::aio::ConnectionManager,
    action: Action,
    retries: u32,
    retry_period: Duration,
    handle: tokio::runtime::Handle,
}

/// A reply as a value.
fn value_of(v: redis::Value) -> Value {
    use redis::Value as R;
    match v {
        R::Nil => Value::Null,
        R::Int(i) => Value::Int(i),
        R::BulkString(b) => Value::Str(String::from_utf8_lossy(&b).into_owned()),
        R::Array(items) | R::Set(items) => Value::Array(items.into_iter().map(value_of).collect()),
        R::SimpleString(s) => Value::Str(s),
        R::Okay => Value::Str("OK".into()),
        R::Map(pairs) => {
            let mut o = Object::new();
            for (k, v) in pairs {
                o.insert(value_of(k).to_display_string(), value_of(v));
            }
            Value::Object(o)
        }
        R::Double(f) => Value::Float(f),
        R::Boolean(b) => Value::Bool(b),
        other => Value::Str(format!("{:?}", other)),
    }
}

impl RedisProcessor {
    fn command(&self, m: &Message) -> Result<redis::Cmd, String> {
        match &self.action {
            Action::Command(name, args) => {
                let name = name.render(m).map_err(|e| format!("command: {}", e))?;
                let mut cmd = redis::cmd(&name);
                if let Some(args) = args {
                    match args.query(m).map_err(|e| format!("args_mapping: {}", e))? {
                        Value::Array(items) => {
                            for a in items {
                                match a {
                                    Value::Bytes(b) => cmd.arg(&b[..]),
                                    other => cmd.arg(other.to_display_string()),
                                };
                            }
                        }
                        other => {
                            return Err(format!(
                                "args_mapping: expected an array, got {}",
                                other.type_name()
                            ))
                        }
                    }
                }
                Ok(cmd)
            }
            Action::Operator(op, key) => {
                let key = key.render(m).map_err(|e| format!("key: {}", e))?;
                let mut cmd = redis::cmd(op);
                cmd.arg(key);
                match *op {
                    "SADD" => {
                        cmd.arg(&m.payload[..]);
                    }
                    "INCRBY" => {
                        let n: i64 = String::from_utf8_lossy(&m.payload)
                            .trim()
                            .parse()
                            .map_err(|_| "incrby: the message is not an integer".to_string())?;
                        cmd.arg(n);
                    }
                    _ => {}
                }
                Ok(cmd)
            }
        }
    }

    async fn run(&self, cmd: &redis::Cmd) -> Result<redis::Value, String> {
        let mut conn = self.conn.clone();
        let mut attempt = 0;
        loop {
            match cmd.query_async::<redis::Value>(&mut conn).await {
                Ok(v) => return Ok(v),
                Err(e) if is_connection_error(&e) && attempt < self.retries => {
                    attempt += 1;
                    tokio::time::sleep(self.retry_period).await;
                }
                Err(e) => return Err(error_text(&e)),
            }
        }
    }
}

impl Processor for RedisProcessor {
    fn process(&self, mut batch: Batch) -> Batch {
        for m in batch.iter_mut() {
            // Processors run on the blocking pool, where waiting on the runtime is allowed.
            let result = self
                .command(m)
                .and_then(|cmd| self.handle.block_on(self.run(&cmd)));
            match result {
                Ok(v) => m.payload = bytes::Bytes::from(value_of(v).to_json_string()),
                Err(e) => m.error = Some(format!("redis: {}", e)),
            }
        }
        batch
    }
}
