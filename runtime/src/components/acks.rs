//! How an input waits for its messages' fate: [`settle`] waits for a transaction's
//! acknowledgement and replays the batch after a nack while `auto_replay_nacks` holds, so
//! each connector only says what an acknowledgement or a final rejection means to its
//! broker (commit, `XACK`, `ack`/`nak`, push back).

use std::time::Duration;

use crate::log_limit::LogLimiter;
use crate::stream::{AckReceiver, Batch, InputSink, Nack, Transaction};

/// Waits for `ack`. After a nack, while `replay` holds and the sink is running, sends
/// `batch` again (backoff from 100 ms doubling to 5 s; the rejection is logged through
/// `rejections`) and waits for that. `Ok` once acknowledged; otherwise the last nack: not
/// replayed, the stream stopping, or the sink gone.
pub(crate) async fn settle(
    sink: &InputSink,
    batch: &Batch,
    mut ack: AckReceiver,
    replay: bool,
    rejections: &LogLimiter,
) -> Result<(), Nack> {
    let mut backoff = Duration::from_millis(100);
    loop {
        match ack.wait().await {
            Ok(()) => return Ok(()),
            Err(e) if replay && !sink.is_stopped() => {
                if let Some(suppressed) = rejections.allow() {
                    tracing::warn!(error = %e, suppressed, "message rejected, replaying it");
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                let (t, next) = Transaction::new(batch.clone());
                if sink.send(t).await.is_err() {
                    return Err(e);
                }
                ack = next;
            }
            Err(e) => return Err(e),
        }
    }
}
