//! What travels on the dispatch queue. One `Dispatch` per accessible charger; one `Timeouts` per
//! run per worker batch, for the CALLs the batch posted, delayed by the run's `timeout_seconds` and
//! a grace for handed-off answers; an `Answer` for each charger answer the WebSocket handler handed off.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::Result;
pub use crate::messages::{DispatchMessage, TimedCall};
use crate::ports::{DispatchQueue, InflightCalls, Outgoing};

/// SQS's longest delay; later rollout slots re-queue themselves.
pub const MAX_DELAY_SECONDS: u32 = 900;
/// How long a CALL waits when its charger is busy with another run's CALL.
pub const BUSY_RETRY_SECONDS: u32 = 1;
/// A CALL's timeout message comes this long after its expiry (the latest of its batch's), and its
/// charger's slot is taken by no other CALL before then unless its answer freed it, so an answer
/// that arrived in time but was handed off to the queue is recorded before the timeout is. Longer
/// than the WebSocket handler's retries before a hand-off.
pub const ANSWER_GRACE_SECONDS: u32 = 5;
/// API Gateway refuses posts (Gone) to a connection until its handshake completes; a connection
/// younger than this that answers Gone is taken to be opening, not closed.
pub const HANDSHAKE_GRACE_SECONDS: i64 = 10;
/// Receives after which a failing message is given up (the template's maxReceiveCount).
pub const MAX_RECEIVES: u32 = 5;

/// How many times a message is tried again within seconds (`DispatchMessage::Again`) before it is
/// left to the queue's visibility timeout and receive count.
pub const QUICK_RETRIES: u32 = 10;

/// The delay before quick retry `attempt` (1, 2, 4, then 8 s each): ten retries span about a
/// minute, past the 60 s after which an Idempotency-Key's creation is taken over (a chunk's run may
/// appear only then).
pub fn quick_retry_delay(attempt: u32) -> u32 {
    1 << attempt.saturating_sub(1).min(3)
}

/// Where a message sits in a rate-limited rollout that started at `start`: its queue delay from
/// `now` and the time it may go.
pub fn rollout_slot(
    max_per_second: Option<u32>,
    slot: u64,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> (u32, Option<DateTime<Utc>>) {
    let Some(rate) = max_per_second else {
        return (0, None);
    };
    let millis = slot.saturating_mul(1000) / u64::from(rate.max(1));
    let at = start + chrono::Duration::milliseconds(i64::try_from(millis).unwrap_or(i64::MAX / 2));
    let wait = (at - now).num_seconds().max(0);
    let delay = u32::try_from(wait).unwrap_or(u32::MAX).min(MAX_DELAY_SECONDS);
    (delay, Some(at))
}

/// The `Dispatch` messages of `results` that name a charger (the others are skipped), for run
/// `run` paced at `max_per_second` by position from `start`: how a run created in chunks, or
/// recovered, queues its CALLs.
pub fn dispatches(
    run: Uuid,
    max_per_second: Option<u32>,
    start: DateTime<Utc>,
    results: &[crate::domain::ResultRecord],
    now: DateTime<Utc>,
) -> Vec<Outgoing<DispatchMessage>> {
    results
        .iter()
        .filter_map(|result| {
            let charger = result.charger.as_ref()?;
            let (delay_seconds, not_before) = rollout_slot(max_per_second, result.seq, start, now);
            let message = DispatchMessage::Dispatch {
                run,
                seq: result.seq,
                charger: charger.uuid,
                identity: charger.identity.clone(),
                not_before,
            };
            Some(Outgoing { message, delay_seconds })
        })
        .collect()
}

/// Frees a charger's in-flight slot held by `call_id` and wakes the messages parked on it. A wake
/// that fails to queue is only logged: each parked message has its own backstop on the queue.
pub async fn release_slot(
    inflight: &dyn InflightCalls,
    queue: &dyn DispatchQueue,
    identity: &str,
    call_id: &str,
) -> Result<()> {
    let waiters = inflight.release(identity, call_id).await?;
    if !waiters.is_empty() {
        let count = waiters.len();
        let wake = waiters.into_iter().map(|message| Outgoing { message, delay_seconds: 0 }).collect();
        match queue.send(wake).await {
            Ok(()) => tracing::debug!(identity, count, "woke the messages waiting for the charger"),
            Err(err) => {
                tracing::warn!(identity, count, error = %err, "waking waiting messages failed; their backstops remain")
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollout_slots_spread_messages() {
        let now = Utc::now();
        assert_eq!(rollout_slot(None, 5, now, now), (0, None));
        let (delay, at) = rollout_slot(Some(10), 25, now, now);
        assert_eq!(delay, 2);
        assert_eq!(at, Some(now + chrono::Duration::milliseconds(2500)));
        assert_eq!(rollout_slot(Some(1), 100_000, now, now).0, MAX_DELAY_SECONDS);
        let later = now + chrono::Duration::seconds(2);
        assert_eq!(rollout_slot(Some(10), 25, now, later).0, 0, "a chunk resolved late waits what is left");
    }

    #[test]
    fn messages_round_trip_as_json() {
        let message = DispatchMessage::Timeout {
            run: Uuid::new_v4(),
            seq: 7,
            charger: Uuid::new_v4(),
            identity: "CP1".into(),
            call_id: "c".into(),
            not_before: None,
        };
        let text = serde_json::to_string(&message).unwrap();
        assert!(text.contains("\"kind\":\"timeout\""));
        assert_eq!(serde_json::from_str::<DispatchMessage>(&text).unwrap(), message);

        let again = DispatchMessage::Again { attempt: 2, message: Box::new(message.clone()) };
        let text = serde_json::to_string(&again).unwrap();
        assert!(text.starts_with("{\"kind\":\"again\",\"attempt\":2,\"message\":{\"kind\":\"timeout\""), "{text}");
        let read = serde_json::from_str::<DispatchMessage>(&text).unwrap();
        assert_eq!(read.result_key(), message.result_key());
        assert_eq!(read.unwrapped(), (message, 2));
    }

    #[test]
    fn quick_retries_span_about_a_minute() {
        let delays: Vec<u32> = (1..=QUICK_RETRIES).map(quick_retry_delay).collect();
        assert_eq!(delays[..5], [1, 2, 4, 8, 8]);
        assert!((60..=90).contains(&delays.iter().sum::<u32>()), "{delays:?}");
    }
}
