//! NATS JetStream key-value stores: the `nats_kv` input (watches a key pattern and emits
//! each change), output (puts each message at the interpolated `key`), processor (`get`,
//! `get_revision`, `create`, `put`, `update`, `delete`, `purge`, `history`, `keys`) and
//! cache. Entries carry `nats_kv_key`, `nats_kv_bucket`, `nats_kv_revision`,
//! `nats_kv_delta`, `nats_kv_operation` and `nats_kv_created`.
//!
//! A key-value watch has no acknowledgements: a nacked change is replayed from memory while
//! `auto_replay_nacks` holds.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::kv::{Entry, Operation, Store};
use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use sluice_compiler::interp::Interpolation;
use sluice_compiler::value::Object;
use sluice_compiler::{Message, Value};
use tokio::sync::OnceCell;
use tokio::task::JoinSet;

use super::cache::{Cache, CacheError, SharedCache};
use super::nats::{client_fields, NatsTarget};
use super::reading::send_tracked;
use crate::config::stream::ComponentConfig;
use crate::registry::{shared, ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{
    Batch, BuildContext, ComponentError, Input, InputSink, Nack, Output, Processor, ResponseStore,
    SharedOutput, SharedProcessor,
};

fn with_bucket(extra: Vec<F>) -> Vec<F> {
    let mut fields = client_fields();
    fields.push(F::string("bucket", "The name of the KV bucket."));
    fields.extend(extra);
    fields
}

/// `nats_kv` input spec.
pub fn input_spec() -> ComponentSpec {
    ComponentSpec::new(
        "nats_kv",
        ComponentKind::Input,
        "Watches for updates in a NATS key-value bucket.",
        with_bucket(vec![
            F::string("key", "Key to watch for updates, can include wildcards.").default(">"),
            shared::auto_replay_nacks(),
            F::bool("ignore_deletes", "Do not send delete markers as messages.").default(false),
            F::bool(
                "include_history",
                "Include all the history per key, not just the last one.",
            )
            .default(false),
            F::bool("meta_only", "Retrieve only the metadata of the entry").default(false),
        ]),
    )
}

/// `nats_kv` output spec.
pub fn output_spec() -> ComponentSpec {
    ComponentSpec::new(
        "nats_kv",
        ComponentKind::Output,
        "Put messages in a NATS key-value bucket.",
        with_bucket(vec![
            F::string("key", "The key for each message.").interpolated(),
            F::int(
                "max_in_flight",
                "The maximum number of messages to have in flight at a given time.",
            )
            .default(1024),
        ]),
    )
}

/// `nats_kv` processor spec.
pub fn processor_spec() -> ComponentSpec {
    ComponentSpec::new(
        "nats_kv",
        ComponentKind::Processor,
        "Perform operations on a NATS key-value bucket.",
        with_bucket(vec![
            F::string("operation", "The operation to perform on the KV bucket.").options(&[
                "get", "get_revision", "create", "put", "update", "delete", "purge", "history", "keys",
            ]),
            F::string("key", "The key for each message. Supports wildcards for the `history` and `keys` operations.")
                .interpolated(),
            F::string("revision", "The revision of the key to operate on. Used for `get_revision` and `update` operations.")
                .interpolated()
                .optional()
                .advanced(),
            F::duration("timeout", "The maximum period to wait on an operation before aborting and returning an error.")
                .default("5s")
                .advanced(),
        ]),
    )
}

/// `nats_kv` cache spec.
pub fn cache_spec() -> ComponentSpec {
    ComponentSpec::new(
        "nats_kv",
        ComponentKind::Cache,
        "Cache key/value pairs in a NATS key-value bucket.",
        with_bucket(Vec::new()),
    )
}

/// A bucket, opened on first use.
struct Bucket {
    target: NatsTarget,
    name: String,
    store: OnceCell<Store>,
}

impl Bucket {
    fn of(cfg: &ComponentConfig) -> Result<Bucket, ComponentError> {
        let name = cfg.str("bucket").unwrap_or("").to_string();
        if name.is_empty() {
            return Err(ComponentError::new("bucket must not be empty"));
        }
        Ok(Bucket {
            target: NatsTarget::of(cfg)?,
            name,
            store: OnceCell::new(),
        })
    }

    async fn store(&self) -> Result<&Store, String> {
        self.store
            .get_or_try_init(|| async {
                let client = self.target.connect().await?;
                async_nats::jetstream::new(client)
                    .get_key_value(&self.name)
                    .await
                    .map_err(|e| format!("bucket {}: {}", self.name, e))
            })
            .await
    }
}

fn operation_name(op: &Operation) -> &'static str {
    match op {
        Operation::Put => "PUT",
        Operation::Delete => "DEL",
        Operation::Purge => "PURGE",
    }
}

fn entry_message(e: Entry, meta_only: bool) -> Message {
    let mut meta = Object::new();
    meta.insert("nats_kv_key".into(), Value::Str(e.key.clone()));
    meta.insert("nats_kv_bucket".into(), Value::Str(e.bucket.clone()));
    meta.insert("nats_kv_revision".into(), Value::Int(e.revision as i64));
    meta.insert("nats_kv_delta".into(), Value::Int(e.delta as i64));
    meta.insert(
        "nats_kv_operation".into(),
        Value::Str(operation_name(&e.operation).into()),
    );
    meta.insert(
        "nats_kv_created".into(),
        Value::Str(
            chrono::DateTime::from_timestamp(e.created.unix_timestamp(), e.created.nanosecond())
                .map(|t| t.to_rfc3339())
                .unwrap_or_default(),
        ),
    );
    Message {
        payload: if meta_only { Bytes::new() } else { e.value },
        metadata: meta,
        error: None,
    }
}

/// Builds the input.
pub fn build_input(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<Box<dyn Input>, ComponentError> {
    Ok(Box::new(KvInput {
        bucket: Bucket::of(cfg)?,
        key: cfg.str("key").unwrap_or(">").to_string(),
        replay: cfg.bool("auto_replay_nacks").unwrap_or(true),
        ignore_deletes: cfg.bool("ignore_deletes").unwrap_or(false),
        history: cfg.bool("include_history").unwrap_or(false),
        meta_only: cfg.bool("meta_only").unwrap_or(false),
    }))
}

struct KvInput {
    bucket: Bucket,
    key: String,
    replay: bool,
    ignore_deletes: bool,
    history: bool,
    meta_only: bool,
}

#[async_trait]
impl Input for KvInput {
    async fn run(self: Box<Self>, sink: InputSink) -> Result<(), ComponentError> {
        let mut pending = JoinSet::new();
        let errors = crate::log_limit::LogLimiter::new(Duration::from_secs(1));
        // After a lost watch, resume after the last revision seen.
        let mut last_revision: Option<u64> = None;
        'outer: while !sink.is_stopped() {
            let watch = async {
                let store = self.bucket.store().await?;
                let w = match last_revision {
                    Some(r) if self.key == ">" => store.watch_all_from_revision(r + 1).await,
                    Some(r) => store.watch_from_revision(&self.key, r + 1).await,
                    None if self.history => store.watch_with_history(&self.key).await,
                    None => store.watch(&self.key).await,
                };
                w.map_err(|e| e.to_string())
            };
            let mut watch = match tokio::select! { w = watch => w, _ = sink.stopped() => break } {
                Ok(w) => w,
                Err(e) => {
                    if let Some(suppressed) = errors.allow() {
                        tracing::warn!(error = %e, suppressed, "nats_kv cannot watch, retrying");
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = sink.stopped() => break,
                    }
                    continue;
                }
            };
            loop {
                let next =
                    tokio::select! { n = watch.next() => n, _ = sink.stopped() => break 'outer };
                let entry = match next {
                    Some(Ok(e)) => e,
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "nats_kv watch failed, resuming");
                        break;
                    }
                    None => break,
                };
                last_revision = Some(entry.revision);
                if self.ignore_deletes && !matches!(entry.operation, Operation::Put) {
                    continue;
                }
                if !send_tracked(
                    &sink,
                    vec![entry_message(entry, self.meta_only)],
                    self.replay,
                    &mut pending,
                )
                .await
                {
                    break 'outer;
                }
            }
        }
        while pending.join_next().await.is_some() {}
        Ok(())
    }
}

/// Builds the output.
pub fn build_output(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<SharedOutput, ComponentError> {
    Ok(Arc::new(KvOutput {
        bucket: Bucket::of(cfg)?,
        key: super::interpolated_field(cfg, "key")?,
    }))
}

struct KvOutput {
    bucket: Bucket,
    key: Interpolation,
}

#[async_trait]
impl Output for KvOutput {
    async fn write(&self, batch: Batch, _r: Option<&ResponseStore>) -> Result<(), Nack> {
        let store = self
            .bucket
            .store()
            .await
            .map_err(|e| Nack(format!("nats_kv: {}", e)))?;
        for m in &batch {
            let key = self
                .key
                .render(m)
                .map_err(|e| Nack(format!("key: {}", e)))?;
            store
                .put(&key, m.payload.clone())
                .await
                .map_err(|e| Nack(format!("nats_kv put {}: {}", key, e)))?;
        }
        Ok(())
    }
}

/// Builds the processor.
pub fn build_processor(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<SharedProcessor, ComponentError> {
    let handle = tokio::runtime::Handle::try_current()
        .map_err(|_| ComponentError::new("the nats_kv processor needs a runtime"))?;
    let revision = match cfg.str("revision").filter(|s| !s.is_empty()) {
        Some(r) => Some(
            Interpolation::compile(r)
                .map_err(|e| ComponentError::new(format!("revision: {}", e)))?,
        ),
        None => None,
    };
    let operation = cfg.str("operation").unwrap_or("").to_string();
    if matches!(operation.as_str(), "get_revision" | "update") && revision.is_none() {
        return Err(ComponentError::new(format!(
            "{} needs a revision",
            operation
        )));
    }
    Ok(Arc::new(KvProcessor {
        bucket: Bucket::of(cfg)?,
        operation,
        key: super::interpolated_field(cfg, "key")?,
        revision,
        timeout: super::kafka::duration_field(cfg, "timeout", "5s")?,
        handle,
    }))
}

struct KvProcessor {
    bucket: Bucket,
    operation: String,
    key: Interpolation,
    revision: Option<Interpolation>,
    timeout: Duration,
    handle: tokio::runtime::Handle,
}

impl KvProcessor {
    async fn apply(&self, m: &Message) -> Result<Message, String> {
        let store = self.bucket.store().await?;
        let key = self.key.render(m).map_err(|e| format!("key: {}", e))?;
        let revision = || -> Result<u64, String> {
            let r = self
                .revision
                .as_ref()
                .expect("checked at build")
                .render(m)
                .map_err(|e| format!("revision: {}", e))?;
            r.trim()
                .parse()
                .map_err(|_| format!("revision: {:?} is not a number", r))
        };
        let keep = |mut out: Message| {
            out.metadata
                .extend(m.metadata.iter().map(|(k, v)| (k.clone(), v.clone())));
            out
        };
        let mut with_meta = m.clone();
        let mut put_meta = |rev: u64| {
            with_meta
                .metadata
                .insert("nats_kv_key".into(), Value::Str(key.clone()));
            with_meta.metadata.insert(
                "nats_kv_bucket".into(),
                Value::Str(self.bucket.name.clone()),
            );
            with_meta
                .metadata
                .insert("nats_kv_revision".into(), Value::Int(rev as i64));
            with_meta.clone()
        };
        match self.operation.as_str() {
            "get" => match store.entry(&key).await.map_err(|e| e.to_string())? {
                Some(e) if matches!(e.operation, Operation::Put) => {
                    Ok(keep(entry_message(e, false)))
                }
                _ => Err(format!("key {} not found", key)),
            },
            "get_revision" => match store
                .entry_for_revision(&key, revision()?)
                .await
                .map_err(|e| e.to_string())?
            {
                Some(e) => Ok(keep(entry_message(e, false))),
                None => Err(format!("key {} revision not found", key)),
            },
            "create" => {
                let rev = store
                    .create(&key, m.payload.clone())
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(put_meta(rev))
            }
            "put" => {
                let rev = store
                    .put(&key, m.payload.clone())
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(put_meta(rev))
            }
            "update" => {
                let rev = store
                    .update(&key, m.payload.clone(), revision()?)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(put_meta(rev))
            }
            "delete" => {
                store.delete(&key).await.map_err(|e| e.to_string())?;
                Ok(m.clone())
            }
            "purge" => {
                store.purge(&key).await.map_err(|e| e.to_string())?;
                Ok(m.clone())
            }
            "history" => {
                let mut h = store.history(&key).await.map_err(|e| e.to_string())?;
                let mut items = Vec::new();
                while let Some(e) = h.next().await {
                    let e = e.map_err(|e| e.to_string())?;
                    let em = entry_message(e, false);
                    let mut o = em.metadata.clone();
                    o.insert(
                        "value".into(),
                        Value::Str(String::from_utf8_lossy(&em.payload).into_owned()),
                    );
                    items.push(Value::Object(o));
                }
                let mut out = m.clone();
                out.payload = Bytes::from(Value::Array(items).to_json_string());
                Ok(out)
            }
            "keys" => {
                let mut keys = store.keys().await.map_err(|e| e.to_string())?;
                let pattern = key.clone();
                let mut items = Vec::new();
                while let Some(k) = keys.next().await {
                    let k = k.map_err(|e| e.to_string())?;
                    if subject_matches(&pattern, &k) {
                        items.push(Value::Str(k));
                    }
                }
                let mut out = m.clone();
                out.payload = Bytes::from(Value::Array(items).to_json_string());
                Ok(out)
            }
            other => Err(format!("operation {} is not supported", other)),
        }
    }
}

/// Whether a NATS subject pattern (`*` one token, `>` the rest) matches `key`.
fn subject_matches(pattern: &str, key: &str) -> bool {
    let mut p = pattern.split('.');
    let mut k = key.split('.');
    loop {
        match (p.next(), k.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

impl Processor for KvProcessor {
    fn process(&self, batch: Batch) -> Batch {
        batch
            .into_iter()
            .map(|m| {
                // Processors run on the blocking pool, where waiting on the runtime is allowed.
                let r = self.handle.block_on(async {
                    tokio::time::timeout(self.timeout, self.apply(&m))
                        .await
                        .unwrap_or_else(|_| Err("timed out".into()))
                });
                match r {
                    Ok(out) => out,
                    Err(e) => {
                        let mut m = m;
                        m.error = Some(format!("nats_kv {}: {}", self.operation, e));
                        m
                    }
                }
            })
            .collect()
    }
}

/// Builds the cache (caches are called on blocking threads: they wait on the runtime).
pub fn build_cache(
    cfg: &ComponentConfig,
    _caches: &super::cache::Caches,
) -> Result<SharedCache, ComponentError> {
    let handle = tokio::runtime::Handle::try_current()
        .map_err(|_| ComponentError::new("the nats_kv cache needs a runtime"))?;
    Ok(Arc::new(KvCache {
        bucket: Bucket::of(cfg)?,
        handle,
    }))
}

struct KvCache {
    bucket: Bucket,
    handle: tokio::runtime::Handle,
}

impl KvCache {
    fn run<T>(
        &self,
        f: impl std::future::Future<Output = Result<T, CacheError>>,
    ) -> Result<T, CacheError> {
        self.handle.block_on(async {
            tokio::time::timeout(Duration::from_secs(10), f)
                .await
                .unwrap_or_else(|_| Err(CacheError::Failed("nats_kv: timed out".into())))
        })
    }
}

impl Cache for KvCache {
    fn get(&self, key: &str) -> Result<Bytes, CacheError> {
        self.run(async {
            let store = self.bucket.store().await.map_err(CacheError::Failed)?;
            store
                .get(key)
                .await
                .map_err(|e| CacheError::Failed(e.to_string()))?
                .ok_or(CacheError::NotFound)
        })
    }

    fn set(&self, key: &str, value: Bytes, _ttl: Option<Duration>) -> Result<(), CacheError> {
        self.run(async {
            let store = self.bucket.store().await.map_err(CacheError::Failed)?;
            store
                .put(key, value)
                .await
                .map(|_| ())
                .map_err(|e| CacheError::Failed(e.to_string()))
        })
    }

    fn add(&self, key: &str, value: Bytes, _ttl: Option<Duration>) -> Result<(), CacheError> {
        self.run(async {
            let store = self.bucket.store().await.map_err(CacheError::Failed)?;
            match store.create(key, value).await {
                Ok(_) => Ok(()),
                Err(e) if e.kind() == async_nats::jetstream::kv::CreateErrorKind::AlreadyExists => {
                    Err(CacheError::KeyExists)
                }
                Err(e) => Err(CacheError::Failed(e.to_string())),
            }
        })
    }

    fn delete(&self, key: &str) -> Result<(), CacheError> {
        self.run(async {
            let store = self.bucket.store().await.map_err(CacheError::Failed)?;
            store
                .delete(key)
                .await
                .map_err(|e| CacheError::Failed(e.to_string()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::subject_matches;

    #[test]
    fn subject_patterns() {
        assert!(subject_matches(">", "a.b"));
        assert!(subject_matches("a.*", "a.b"));
        assert!(!subject_matches("a.*", "a.b.c"));
        assert!(subject_matches("a.>", "a.b.c"));
        assert!(!subject_matches("b", "a"));
    }
}
