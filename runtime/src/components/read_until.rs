//! The `read_until` input: reads from a child input until a message satisfies `check` (that
//! message is the last one sent), or until no message arrived for `idle_timeout`. With
//! `restart_input`, a child that ends before the check holds is started again. Transactions
//! pass through unchanged, so acknowledgements reach the child.

use std::time::Duration;

use async_trait::async_trait;
use sluice_compiler::{Mapping, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::stream::{ComponentConfig, Field};
use crate::registry::{ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{BuildContext, ComponentError, Input, InputSink};

/// The spec.
pub fn spec() -> ComponentSpec {
    ComponentSpec::new(
        "read_until",
        ComponentKind::Input,
        "Reads messages from a child input until a consumed message passes a Bloblang query, at which point the input closes. It is also possible to configure a timeout after which the input is closed if no new messages arrive in that period.",
        vec![
            F::component("input", ComponentKind::Input, "The child input to consume from."),
            F::string("check", "A Bloblang query that should return a boolean value indicating whether the input should now be closed.").bloblang().optional(),
            F::duration("idle_timeout", "The maximum amount of time without receiving new messages after which the input is closed.").optional(),
            F::bool("restart_input", "Whether the input should be reopened if it closes itself before the condition has resolved to true.").default(false),
        ],
    )
}

/// Builds it.
pub fn build(cfg: &ComponentConfig, ctx: &BuildContext) -> Result<Box<dyn Input>, ComponentError> {
    let child = cfg
        .field("input")
        .and_then(Field::as_component)
        .ok_or_else(|| ComponentError::new("an input is required"))?
        .clone();
    let check = cfg
        .str("check")
        .filter(|c| !c.trim().is_empty())
        .map(|c| Mapping::compile(c).map_err(|e| ComponentError::new(format!("check: {}", e))))
        .transpose()?;
    let idle = cfg
        .str("idle_timeout")
        .filter(|t| !t.is_empty())
        .map(|t| {
            crate::duration::parse(t)
                .map_err(|e| ComponentError::new(format!("idle_timeout: {}", e)))
        })
        .transpose()?;
    if check.is_none() && idle.is_none() {
        return Err(ComponentError::new(
            "it is required to set either check or idle_timeout",
        ));
    }
    let cctx = ctx.child(format!("{}.input", ctx.path), child.label.clone());
    // Built now so a bad child fails the plan; a restart builds it again.
    let first = super::build_input(&child, &cctx)?;
    Ok(Box::new(ReadUntil {
        first,
        reader: Reader {
            child,
            ctx: cctx,
            check,
            idle,
            restart: cfg.bool("restart_input").unwrap_or(false),
        },
    }))
}

struct ReadUntil {
    first: Box<dyn Input>,
    reader: Reader,
}

/// What each run of the child needs.
struct Reader {
    child: ComponentConfig,
    ctx: BuildContext,
    check: Option<Mapping>,
    idle: Option<Duration>,
    restart: bool,
}

/// How one run of the child ended.
enum End {
    /// The check held, the idle timeout passed or the stream stopped: read no more.
    Done,
    /// The child ended by itself.
    ChildEnded,
}

impl Reader {
    fn holds(&self, t: &crate::stream::Transaction) -> bool {
        let Some(check) = &self.check else {
            return false;
        };
        t.batch
            .iter()
            .any(|m| matches!(check.query(m), Ok(Value::Bool(true))))
    }

    async fn run_once(&self, mut input: Box<dyn Input>, sink: &InputSink) -> End {
        let (tx, mut rx) = mpsc::channel(1);
        let stop = CancellationToken::new();
        let child_sink = sink.derive(tx, stop.clone());
        input.attach(&child_sink);
        let handle = tokio::spawn(async move { input.run(child_sink).await });
        let mut end = End::ChildEnded;
        loop {
            let idle = async {
                match self.idle {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                t = rx.recv() => match t {
                    None => break,
                    Some(t) => {
                        let last = self.holds(&t);
                        if sink.send(t).await.is_err() || last {
                            end = End::Done;
                            break;
                        }
                    }
                },
                _ = idle => {
                    end = End::Done;
                    break;
                }
                _ = sink.stopped() => {
                    end = End::Done;
                    break;
                }
            }
        }
        stop.cancel();
        // What the child still sends is dropped (a nack it does not replay while stopping).
        drop(rx);
        match handle.await {
            Ok(Err(e)) => tracing::error!(error = %e, "read_until child input failed"),
            Err(e) => tracing::error!(error = %e, "read_until child input panicked"),
            Ok(Ok(())) => {}
        }
        end
    }
}

#[async_trait]
impl Input for ReadUntil {
    async fn run(self: Box<Self>, sink: InputSink) -> Result<(), ComponentError> {
        let ReadUntil { first, reader } = *self;
        let mut next = Some(first);
        loop {
            let input = match next.take() {
                Some(i) => i,
                None => super::build_input(&reader.child, &reader.ctx)?,
            };
            match reader.run_once(input, &sink).await {
                End::Done => break,
                End::ChildEnded if reader.restart && !sink.is_stopped() => continue,
                End::ChildEnded => break,
            }
        }
        Ok(())
    }
}
