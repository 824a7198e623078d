//! `nats_jetstream` input (a pull consumer on a JetStream stream: durable, or ephemeral
//! when no `durable`/`queue` is named) and output (publish and wait for the stream's
//! acknowledgement).
//!
//! Input, at-least-once: a message is acknowledged to JetStream only after the output
//! acknowledged it; a nack replays it from memory while `auto_replay_nacks` holds,
//! otherwise (and for whatever is still in flight when the stream stops) it is
//! negatively acknowledged so the server redelivers it; an acknowledgement lost with the
//! connection is redelivered after `ack_wait`. The client reconnects by itself.
//!
//! Messages carry `nats_subject`, `nats_sequence_stream`, `nats_sequence_consumer`,
//! `nats_num_delivered`, `nats_num_pending`, `nats_domain`, `nats_timestamp_unix_nano` and
//! the headers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, DeliverPolicy};
use async_nats::jetstream::AckKind;
use async_trait::async_trait;
use futures::StreamExt;
use sluice_compiler::interp::Interpolation;
use sluice_compiler::value::Object;
use sluice_compiler::{Message, Value};
use tokio::sync::OnceCell;
use tokio::task::JoinSet;

use super::nats::{
    client_fields, header_metadata, is_connected, output_header_fields, spawn_state_watch,
    HeaderWriter, NatsTarget,
};
use crate::config::stream::ComponentConfig;
use crate::registry::{shared, ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{
    Batch, BuildContext, ComponentError, Input, InputSink, Nack, Output, ResponseStore,
    SharedOutput, Transaction,
};

/// `nats_jetstream` input spec.
pub fn input_spec() -> ComponentSpec {
    let mut fields = client_fields();
    fields.extend([
        F::string("queue", "An optional queue group to consume as.").optional(),
        F::string("subject", "A subject to consume from. Supports wildcards for consuming multiple subjects. Either a subject or stream must be specified.")
            .optional(),
        F::string("durable", "Preserve the state of your consumer under a durable name.")
            .optional(),
        F::string("stream", "A stream to consume from. Either a subject or stream must be specified.")
            .optional(),
        F::bool("bind", "Indicates that the subscription should use an existing consumer.")
            .optional(),
        F::string("deliver", "Determines which messages to deliver when consuming without a durable subscriber.")
            .options(&["all", "last", "last_per_subject", "new"])
            .default("all"),
        F::duration("ack_wait", "The maximum amount of time NATS server should wait for an ack from consumer.")
            .default("30s")
            .advanced(),
        F::int("max_ack_pending", "The maximum number of outstanding acks to be allowed before consuming is halted.")
            .default(1024)
            .advanced(),
        shared::auto_replay_nacks(),
    ]);
    ComponentSpec::new(
        "nats_jetstream",
        ComponentKind::Input,
        "Reads messages from NATS JetStream subjects.",
        fields,
    )
}

/// `nats_jetstream` output spec.
pub fn output_spec() -> ComponentSpec {
    let mut fields = client_fields();
    fields.push(F::string("subject", "A subject to write to.").interpolated());
    fields.extend(output_header_fields());
    fields.push(
        F::int(
            "max_in_flight",
            "The maximum number of messages to have in flight at a given time.",
        )
        .default(1024),
    );
    ComponentSpec::new(
        "nats_jetstream",
        ComponentKind::Output,
        "Write messages to a NATS JetStream subject.",
        fields,
    )
}

/// Builds the input.
pub fn build_input(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<Box<dyn Input>, ComponentError> {
    let s = |k: &str| cfg.str(k).filter(|v| !v.is_empty()).map(str::to_string);
    let (subject, stream) = (s("subject"), s("stream"));
    if subject.is_none() && stream.is_none() {
        return Err(ComponentError::new(
            "either a subject or stream must be specified",
        ));
    }
    let durable = s("durable").or_else(|| s("queue"));
    let bind = cfg.bool("bind").unwrap_or(false);
    if bind && (stream.is_none() || durable.is_none()) {
        return Err(ComponentError::new(
            "bind requires both a stream and a durable consumer name",
        ));
    }
    let deliver = match cfg.str("deliver").unwrap_or("all") {
        "all" => DeliverPolicy::All,
        "last" => DeliverPolicy::Last,
        "last_per_subject" => DeliverPolicy::LastPerSubject,
        "new" => DeliverPolicy::New,
        other => {
            return Err(ComponentError::new(format!(
                "deliver {} is not supported",
                other
            )))
        }
    };
    Ok(Box::new(JetStreamInput {
        target: NatsTarget::of(cfg)?,
        subject,
        stream,
        durable,
        bind,
        deliver,
        ack_wait: super::kafka::duration_field(cfg, "ack_wait", "30s")?,
        max_ack_pending: cfg.int("max_ack_pending").unwrap_or(1024),
        replay: cfg.bool("auto_replay_nacks").unwrap_or(true),
        connected: Arc::new(AtomicBool::new(false)),
    }))
}

struct JetStreamInput {
    target: NatsTarget,
    subject: Option<String>,
    stream: Option<String>,
    durable: Option<String>,
    bind: bool,
    deliver: DeliverPolicy,
    ack_wait: Duration,
    max_ack_pending: i64,
    replay: bool,
    connected: Arc<AtomicBool>,
}

impl JetStreamInput {
    /// Finds the stream and creates (or binds to) the consumer.
    async fn consumer(
        &self,
        js: &async_nats::jetstream::Context,
    ) -> Result<async_nats::jetstream::consumer::Consumer<pull::Config>, String> {
        let name = match (&self.stream, &self.subject) {
            (Some(s), _) => s.clone(),
            (None, Some(subject)) => js
                .stream_by_subject(subject.clone())
                .await
                .map_err(|e| format!("no stream holds subject {}: {}", subject, e))?,
            (None, None) => unreachable!("checked at build"),
        };
        let stream = js
            .get_stream(&name)
            .await
            .map_err(|e| format!("stream {}: {}", name, e))?;
        if self.bind {
            let durable = self.durable.clone().unwrap_or_default();
            return stream
                .get_consumer(&durable)
                .await
                .map_err(|e| format!("consumer {}: {}", durable, e));
        }
        let config = pull::Config {
            durable_name: self.durable.clone(),
            filter_subject: self.subject.clone().unwrap_or_default(),
            deliver_policy: self.deliver,
            ack_wait: self.ack_wait,
            max_ack_pending: self.max_ack_pending,
            ..Default::default()
        };
        match &self.durable {
            Some(d) => stream.get_or_create_consumer(d, config).await,
            None => stream.create_consumer(config).await,
        }
        .map_err(|e| format!("consumer: {}", e))
    }
}

fn message_of(m: &async_nats::jetstream::Message) -> Message {
    let mut meta = Object::new();
    meta.insert("nats_subject".into(), Value::Str(m.subject.to_string()));
    if let Ok(info) = m.info() {
        meta.insert(
            "nats_sequence_stream".into(),
            Value::Int(info.stream_sequence as i64),
        );
        meta.insert(
            "nats_sequence_consumer".into(),
            Value::Int(info.consumer_sequence as i64),
        );
        meta.insert("nats_num_delivered".into(), Value::Int(info.delivered));
        meta.insert("nats_num_pending".into(), Value::Int(info.pending as i64));
        meta.insert(
            "nats_domain".into(),
            Value::Str(info.domain.unwrap_or("").to_string()),
        );
        meta.insert(
            "nats_timestamp_unix_nano".into(),
            Value::Int(info.published.unix_timestamp_nanos() as i64),
        );
    }
    header_metadata(m.headers.as_ref(), &mut meta);
    Message {
        payload: m.payload.clone(),
        metadata: meta,
        error: None,
    }
}

#[async_trait]
impl Input for JetStreamInput {
    fn connected_flag(&self) -> Option<Arc<AtomicBool>> {
        Some(self.connected.clone())
    }

    async fn run(self: Box<Self>, sink: InputSink) -> Result<(), ComponentError> {
        let client = tokio::select! {
            c = self.target.connect() => c.map_err(|e| ComponentError::new(format!("nats: {}", e)))?,
            _ = sink.stopped() => return Ok(()),
        };
        let watch = spawn_state_watch(client.clone(), self.connected.clone(), sink.clone());
        let js = async_nats::jetstream::new(client);
        let errors = crate::log_limit::LogLimiter::new(Duration::from_secs(1));
        let rejections = Arc::new(crate::log_limit::LogLimiter::new(Duration::from_secs(1)));
        let mut backoff = Duration::from_millis(100);
        let mut pending = JoinSet::new();
        'outer: while !sink.is_stopped() {
            let messages = match self.consumer(&js).await {
                Ok(c) => c.messages().await.map_err(|e| e.to_string()),
                Err(e) => Err(e),
            };
            let mut messages = match messages {
                Ok(m) => m,
                Err(e) => {
                    if let Some(suppressed) = errors.allow() {
                        tracing::warn!(error = %e, suppressed, "nats_jetstream cannot consume, retrying");
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = sink.stopped() => break,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            };
            backoff = Duration::from_millis(100);
            loop {
                let next = tokio::select! {
                    n = messages.next() => n,
                    _ = sink.stopped() => break 'outer,
                };
                let m = match next {
                    Some(Ok(m)) => m,
                    Some(Err(e)) => {
                        if let Some(suppressed) = errors.allow() {
                            tracing::warn!(error = %e, suppressed, "nats_jetstream consumer error");
                        }
                        continue;
                    }
                    None => break,
                };
                let msg = message_of(&m);
                let (t, ack) = Transaction::new(vec![msg.clone()]);
                if sink.send(t).await.is_err() {
                    let _ = m.ack_with(AckKind::Nak(None)).await;
                    break 'outer;
                }
                let (sink, replay, rejections) = (sink.clone(), self.replay, rejections.clone());
                pending.spawn(async move {
                    match super::acks::settle(&sink, &vec![msg], ack, replay, &rejections).await {
                        Ok(()) => {
                            if let Err(e) = m.ack().await {
                                tracing::warn!(error = %e, "nats_jetstream ack failed; the server redelivers after ack_wait");
                            }
                        }
                        // The server redelivers it.
                        Err(_) => {
                            let _ = m.ack_with(AckKind::Nak(None)).await;
                        }
                    }
});
                while pending.try_join_next().is_some() {}
            }
        }
        while pending.join_next().await.is_some() {}
        watch.abort();
        self.connected.store(false, Ordering::SeqCst);
        Ok(())
    }
}

/// Builds the output (it connects on the first write).
pub fn build_output(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<SharedOutput, ComponentError> {
    let subject = super::interpolated_field(cfg, "subject")?;
    Ok(Arc::new(JetStreamOutput {
        target: NatsTarget::of(cfg)?,
        js: OnceCell::new(),
        subject,
        headers: HeaderWriter::of(cfg)?,
    }))
}

struct JetStreamOutput {
    target: NatsTarget,
    js: OnceCell<(async_nats::Client, async_nats::jetstream::Context)>,
    subject: Interpolation,
    headers: HeaderWriter,
}

#[async_trait]
impl Output for JetStreamOutput {
    async fn write(&self, batch: Batch, _r: Option<&ResponseStore>) -> Result<(), Nack> {
        let (_, js) = self
            .js
            .get_or_try_init(|| async {
                let c = self.target.connect().await?;
                Ok::<_, String>((c.clone(), async_nats::jetstream::new(c)))
            })
            .await
            .map_err(|e| Nack(format!("nats: {}", e)))?;
        let mut acks = Vec::with_capacity(batch.len());
        for m in &batch {
            let subject = self
                .subject
                .render(m)
                .map_err(|e| Nack(format!("subject: {}", e)))?;
            let sent = match self.headers.headers(m)? {
                Some(h) => js.publish_with_headers(subject, h, m.payload.clone()).await,
                None => js.publish(subject, m.payload.clone()).await,
            };
            acks.push(sent.map_err(|e| Nack(format!("nats_jetstream publish: {}", e)))?);
        }
        for a in
            futures::future::join_all(acks.into_iter().map(std::future::IntoFuture::into_future))
                .await
        {
            a.map_err(|e| Nack(format!("nats_jetstream: {}", e)))?;
        }
        Ok(())
    }

    fn connected(&self) -> bool {
        self.js.get().is_none_or(|(c, _)| is_connected(c))
    }
}
