//! `aws_s3` output (one object per message at the interpolated `path`, with its content
//! headers, user metadata, tags and storage class) and input (lists the bucket under
//! `prefix` and reads each object through the scanner; with `delete_objects` an object is
//! deleted once every message of it was acknowledged), on object_store's S3 client.
//! `endpoint` and `force_path_style_urls` reach S3-compatible servers; credentials come
//! from `credentials.id`/`secret`/`token` or the standard AWS environment variables.
//!
//! Input messages carry `s3_key`, `s3_bucket`, `s3_last_modified`,
//! `s3_last_modified_unix`, `s3_content_type`, `s3_content_encoding`, `s3_version_id` and
//! the object's user metadata.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{
    Attribute, AttributeValue, Attributes, ClientOptions, ObjectStore, ObjectStoreExt, PutOptions,
    TagSet,
};
use serde_json::json;
use sluice_compiler::interp::Interpolation;
use sluice_compiler::value::Object;
use sluice_compiler::{Message, Value};
use tokio::task::JoinSet;

use crate::config::stream::ComponentConfig;
use crate::registry::{shared, ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{
    Batch, BuildContext, ComponentError, Input, InputSink, Nack, Output, ResponseStore,
    SharedOutput, Transaction,
};

/// The AWS session fields (`region`, `endpoint`, `credentials`).
fn session_fields() -> Vec<F> {
    vec![
        F::string("region", "The AWS region to target.").default("").advanced(),
        F::string("endpoint", "Allows you to specify a custom endpoint for the AWS API.")
            .default("")
            .advanced(),
        F::object(
            "credentials",
            "Optional manual configuration of AWS credentials to use.",
            vec![
                F::string("profile", "A profile from `~/.aws/credentials` to use.").default(""),
                F::string("id", "The ID of credentials to use.").default(""),
                F::string("secret", "The secret for the credentials being used.").default("").secret(),
                F::string("token", "The token for the credentials being used, required when using short term credentials.")
                    .default("")
                    .secret(),
                F::bool("from_ec2_role", "Use the credentials of a host EC2 machine configured to assume an IAM role associated with the instance.")
                    .default(false),
                F::string("role", "A role ARN to assume.").default(""),
                F::string("role_external_id", "An external ID to provide when assuming a role.").default(""),
            ],
        )
        .advanced(),
        F::bool("force_path_style_urls", "Forces the client API to use path style URLs, which helps when connecting to custom endpoints.")
            .default(false)
            .advanced(),
    ]
}

/// The client for `bucket` that a component's session fields describe.
fn store(cfg: &ComponentConfig, timeout: Duration) -> Result<AmazonS3, ComponentError> {
    let bucket = cfg.str("bucket").unwrap_or("");
    if bucket.is_empty() {
        return Err(ComponentError::new("bucket must not be empty"));
    }
    for unsupported in ["credentials.profile", "credentials.role"] {
        if cfg.str(unsupported).is_some_and(|s| !s.is_empty()) {
            return Err(ComponentError::new(format!(
                "{} is not supported yet",
                unsupported
            )));
        }
    }
    let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
    if let Some(r) = cfg.str("region").filter(|r| !r.is_empty()) {
        b = b.with_region(r);
    }
    let endpoint = cfg.str("endpoint").unwrap_or("");
    let mut client = ClientOptions::new().with_timeout(timeout);
    if !endpoint.is_empty() {
        let url = if endpoint.contains("://") {
            endpoint.to_string()
        } else {
            format!("https://{}", endpoint)
        };
        b = b.with_endpoint(url.trim_end_matches('/'));
        client = client.with_allow_http(url.starts_with("http://"));
    }
    if !cfg.bool("force_path_style_urls").unwrap_or(false) && endpoint.is_empty() {
        b = b.with_virtual_hosted_style_request(true);
    }
    if let Some(id) = cfg.str("credentials.id").filter(|s| !s.is_empty()) {
        b = b
            .with_access_key_id(id)
            .with_secret_access_key(cfg.str("credentials.secret").unwrap_or(""));
        if let Some(t) = cfg.str("credentials.token").filter(|s| !s.is_empty()) {
            b = b.with_token(t);
        }
    }
    // The client options carry `allow_http` too: set them once, after the endpoint.
    b.with_client_options(client)
        .build()
        .map_err(|e| ComponentError::new(format!("aws_s3: {}", e)))
}

/// `aws_s3` output spec.
pub fn output_spec() -> ComponentSpec {
    let mut fields = vec![
        F::string("bucket", "The bucket to upload messages to."),
        F::string("path", "The path of each message to upload.")
            .interpolated()
            .default("${!counter()}-${!timestamp_unix_nano()}.txt"),
        F::string("tags", "Key/value pairs to store with the object as tags.")
            .map()
            .interpolated()
            .default(json!({})),
        F::string("content_type", "The content type to set for each object.")
            .interpolated()
            .default("application/octet-stream"),
        F::string("content_encoding", "An optional content encoding to set for each object.")
            .interpolated()
            .default("")
            .advanced(),
        F::string("cache_control", "The cache control to set for each object.")
            .interpolated()
            .default("")
            .advanced(),
        F::string("content_disposition", "The content disposition to set for each object.")
            .interpolated()
            .default("")
            .advanced(),
        F::string("content_language", "The content language to set for each object.")
            .interpolated()
            .default("")
            .advanced(),
        F::string("content_md5", "The content MD5 to set for each object.")
            .interpolated()
            .default("")
            .advanced(),
        F::string("website_redirect_location", "The website redirect location to set for each object.")
            .interpolated()
            .default("")
            .advanced(),
        F::object(
            "metadata",
            "Specify criteria for which metadata values are attached to objects as headers.",
            vec![F::string("exclude_prefixes", "Provide a list of explicit metadata key prefixes to be excluded when adding metadata to sent messages.")
                .array()
                .default(json!([]))],
        ),
        F::string("storage_class", "The storage class to set for each object.")
            .interpolated()
            .options(&["STANDARD", "REDUCED_REDUNDANCY", "GLACIER", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "DEEP_ARCHIVE"])
            .default("STANDARD")
            .advanced(),
        F::string("kms_key_id", "An optional server side encryption key.").default("").advanced(),
        F::string("checksum_algorithm", "The algorithm used to validate each object during its upload to the Amazon S3 bucket.")
            .default("")
            .advanced(),
        F::string("server_side_encryption", "An optional server side encryption algorithm.")
            .default("")
            .advanced(),
        shared::max_in_flight(),
        F::duration("timeout", "The maximum period to wait on an upload before abandoning it and reattempting.")
            .default("5s")
            .advanced(),
        shared::batching("batching", false),
    ];
    fields.extend(session_fields());
    ComponentSpec::new(
        "aws_s3",
        ComponentKind::Output,
        "Sends message parts as objects to an Amazon S3 bucket. Each object is uploaded with the path specified with the `path` field.",
        fields,
    )
}

/// `aws_s3` input spec.
pub fn input_spec() -> ComponentSpec {
    let mut fields = vec![
        F::string("bucket", "The bucket to consume from."),
        F::string("prefix", "An optional path prefix, if set only objects with the prefix are consumed.")
            .default(""),
        F::bool("delete_objects", "Whether to delete downloaded objects from the bucket once they are processed.")
            .default(false)
            .advanced(),
        F::object(
            "sqs",
            "Consume SQS messages in order to trigger key downloads.",
            vec![F::string("url", "An optional SQS URL to connect to. When specified this queue will control which objects are downloaded.")
                .default("")],
        )
        .optional()
        .advanced(),
        shared::input_scanner().default(json!({"to_the_end": {}})),
        shared::auto_replay_nacks(),
    ];
    fields.extend(session_fields());
    ComponentSpec::new(
        "aws_s3",
        ComponentKind::Input,
        "Downloads objects within an Amazon S3 bucket, optionally filtered by a prefix, either by walking the items in the bucket or by streaming upload notifications in realtime.",
        fields,
    )
}

/// The interpolated object settings of the output.
struct ObjectFields {
    content_type: Interpolation,
    content_encoding: Interpolation,
    cache_control: Interpolation,
    content_disposition: Interpolation,
    content_language: Interpolation,
    storage_class: Interpolation,
    tags: Vec<(String, Interpolation)>,
}

/// Builds the output.
pub fn build_output(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<SharedOutput, ComponentError> {
    let i = |name: &str| super::interpolated_field(cfg, name);
    for unsupported in [
        "kms_key_id",
        "server_side_encryption",
        "website_redirect_location",
        "content_md5",
    ] {
        if cfg.str(unsupported).is_some_and(|s| !s.is_empty()) {
            return Err(ComponentError::new(format!(
                "{} is not supported yet",
                unsupported
            )));
        }
    }
    let tags = cfg
        .field("tags")
        .and_then(|f| f.as_object())
        .unwrap_or(&[])
        .iter()
        .map(|(k, v)| {
            Interpolation::compile(v.as_str().unwrap_or(""))
                .map(|i| (k.clone(), i))
                .map_err(|e| ComponentError::new(format!("tags.{}: {}", k, e)))
        })
        .collect::<Result<_, _>>()?;
    let timeout = super::kafka::duration_field(cfg, "timeout", "5s")?;
    Ok(Arc::new(S3Output {
        store: store(cfg, timeout.max(Duration::from_secs(1)))?,
        path: i("path")?,
        fields: ObjectFields {
            content_type: i("content_type")?,
            content_encoding: i("content_encoding")?,
            cache_control: i("cache_control")?,
            content_disposition: i("content_disposition")?,
            content_language: i("content_language")?,
            storage_class: i("storage_class")?,
            tags,
        },
        exclude: super::kafka::strings(cfg, "metadata.exclude_prefixes"),
    }))
}

struct S3Output {
    store: AmazonS3,
    path: Interpolation,
    fields: ObjectFields,
    exclude: Vec<String>,
}

impl S3Output {
    fn options(&self, m: &Message) -> Result<PutOptions, Nack> {
        let r = |i: &Interpolation, name: &str| {
            i.render(m).map_err(|e| Nack(format!("{}: {}", name, e)))
        };
        let mut attributes = Attributes::new();
        let f = &self.fields;
        for (attr, interp, name) in [
            (Attribute::ContentType, &f.content_type, "content_type"),
            (
                Attribute::ContentEncoding,
                &f.content_encoding,
                "content_encoding",
            ),
            (Attribute::CacheControl, &f.cache_control, "cache_control"),
            (
                Attribute::ContentDisposition,
                &f.content_disposition,
                "content_disposition",
            ),
            (
                Attribute::ContentLanguage,
                &f.content_language,
                "content_language",
            ),
            (Attribute::StorageClass, &f.storage_class, "storage_class"),
        ] {
            let v = r(interp, name)?;
            if !v.is_empty() {
                attributes.insert(attr, AttributeValue::from(v));
            }
        }
        for (k, v) in &m.metadata {
            if self.exclude.iter().any(|p| k.starts_with(p.as_str())) {
                continue;
            }
            attributes.insert(
                Attribute::Metadata(k.clone().into()),
                AttributeValue::from(v.to_display_string()),
            );
        }
        let mut tags = TagSet::default();
        for (k, v) in &f.tags {
            tags.push(k, &r(v, "tags")?);
        }
        Ok(PutOptions {
            attributes,
            tags,
            ..Default::default()
        })
    }
}

#[async_trait]
impl Output for S3Output {
    async fn write(&self, batch: Batch, _r: Option<&ResponseStore>) -> Result<(), Nack> {
        let mut puts = Vec::with_capacity(batch.len());
        for m in &batch {
            let path = self
                .path
                .render(m)
                .map_err(|e| Nack(format!("path: {}", e)))?;
            let path = Path::parse(&path).map_err(|e| Nack(format!("path: {}", e)))?;
            let opts = self.options(m)?;
            let payload = m.payload.clone();
            puts.push(async move { self.store.put_opts(&path, payload.into(), opts).await });
        }
        for r in futures::future::join_all(puts).await {
            r.map_err(|e| {
                Nack(format!(
                    "aws_s3: {}",
                    crate::secrets::scrub_text(&e.to_string())
                ))
            })?;
        }
        Ok(())
    }
}

/// Builds the input.
pub fn build_input(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<Box<dyn Input>, ComponentError> {
    if cfg.str("sqs.url").is_some_and(|s| !s.is_empty()) {
        return Err(ComponentError::new(
            "sqs notifications are not supported yet",
        ));
    }
    Ok(Box::new(S3Input {
        store: Arc::new(store(cfg, Duration::from_secs(30))?),
        bucket: cfg.str("bucket").unwrap_or("").to_string(),
        prefix: cfg.str("prefix").unwrap_or("").to_string(),
        delete: cfg.bool("delete_objects").unwrap_or(false),
        codec: super::reading::codec_of(cfg)?,
        replay: cfg.bool("auto_replay_nacks").unwrap_or(true),
    }))
}

struct S3Input {
    store: Arc<AmazonS3>,
    bucket: String,
    prefix: String,
    delete: bool,
    codec: super::codec::Codec,
    replay: bool,
}

#[async_trait]
impl Input for S3Input {
    async fn run(self: Box<Self>, sink: InputSink) -> Result<(), ComponentError> {
        let prefix = (!self.prefix.is_empty()).then(|| Path::from(self.prefix.as_str()));
        let mut listing = self.store.list(prefix.as_ref());
        let mut objects = JoinSet::new();
        let rejections = Arc::new(crate::log_limit::LogLimiter::new(Duration::from_secs(1)));
        while let Some(meta) = tokio::select! {
            m = listing.next() => m,
            _ = sink.stopped() => None,
        } {
            let meta = meta.map_err(|e| ComponentError::new(format!("aws_s3 list: {}", e)))?;
            let got =
                self.store.get(&meta.location).await.map_err(|e| {
                    ComponentError::new(format!("aws_s3 get {}: {}", meta.location, e))
                })?;
            let attrs = got.attributes.clone();
            let body = got
                .bytes()
                .await
                .map_err(|e| ComponentError::new(format!("aws_s3 get {}: {}", meta.location, e)))?;
            let mut md = Object::new();
            md.insert("s3_key".into(), Value::Str(meta.location.to_string()));
            md.insert("s3_bucket".into(), Value::Str(self.bucket.clone()));
            md.insert(
                "s3_last_modified".into(),
                Value::Str(meta.last_modified.to_rfc3339()),
            );
            md.insert(
                "s3_last_modified_unix".into(),
                Value::Int(meta.last_modified.timestamp()),
            );
            md.insert(
                "s3_version_id".into(),
                Value::Str(meta.version.clone().unwrap_or_default()),
            );
            let mut content_type = String::new();
            let mut content_encoding = String::new();
            for (k, v) in attrs.iter() {
                match k {
                    Attribute::ContentType => content_type = v.to_string(),
                    Attribute::ContentEncoding => content_encoding = v.to_string(),
                    Attribute::Metadata(name) => {
                        md.insert(name.to_string(), Value::Str(v.to_string()));
                    }
                    _ => {}
                }
            }
            md.insert("s3_content_type".into(), Value::Str(content_type));
            md.insert("s3_content_encoding".into(), Value::Str(content_encoding));
            let parts = self
                .codec
                .messages_named(&body, meta.location.as_ref())
                .map_err(|e| ComponentError::new(format!("aws_s3 {}: {}", meta.location, e)))?;
            let batch: Vec<Message> = parts
                .into_iter()
                .map(|p| Message {
                    payload: bytes::Bytes::from(p),
                    metadata: md.clone(),
                    error: None,
                })
                .collect();
            if batch.is_empty() {
                continue;
            }
            // One transaction per object: it is deleted (when asked) once all of it is done.
            let (t, ack) = Transaction::new(batch.clone());
            if sink.send(t).await.is_err() {
                break;
            }
            let (sink, store, location, replay, delete, rejections) = (
                sink.clone(),
                self.store.clone(),
                meta.location.clone(),
                self.replay,
                self.delete,
                rejections.clone(),
            );
            objects.spawn(async move {
                if super::acks::settle(&sink, &batch, ack, replay, &rejections).await.is_err() {
                    return;
                }
                if delete {
                    if let Err(e) = store.delete(&location).await {
                        tracing::warn!(error = %e, key = %location, "aws_s3 cannot delete a processed object");
                    }
                }
});
            while objects.try_join_next().is_some() {}
        }
        while objects.join_next().await.is_some() {}
        Ok(())
    }
}
