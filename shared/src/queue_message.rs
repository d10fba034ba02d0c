//! What travels on the dispatch queue. One `Dispatch` per accessible charger; one `Timeouts` per
//! run per worker batch, for the CALLs the batch posted, delayed by the run's `timeout_seconds` and
//! a grace for handed-off answers; an `Answer` for each charger answer the WebSocket handler handed off.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::answers::ChargerAnswer;
use crate::error::Result;
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DispatchMessage {
    /// Post the run's CALL to this charger.
    Dispatch {
        run: Uuid,
        /// The result's position in the run.
        seq: u64,
        charger: Uuid,
        identity: String,
        /// Rollout slot (`max_per_second`): not before this time.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        not_before: Option<DateTime<Utc>>,
    },
    /// The CALLs of run `run` one worker batch posted had their time: those still unanswered failed.
    Timeouts {
        run: Uuid,
        calls: Vec<TimedCall>,
        /// Not before this time (the latest expiry among them and the answer grace): SQS delays
        /// at most 900 s, so a message that arrives early waits again.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        not_before: Option<DateTime<Utc>>,
    },
    /// One CALL's timeout, as versions before `Timeouts` queued it: read and handled as a
    /// `Timeouts` of one, so such messages still on a queue after an upgrade end their results.
    Timeout {
        run: Uuid,
        seq: u64,
        charger: Uuid,
        identity: String,
        call_id: String,
        /// Not before this time (the CALL's expiry and the answer grace): SQS delays at most 900 s,
        /// so a message that arrives early waits again.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        not_before: Option<DateTime<Utc>>,
    },
    /// A charger's answer the WebSocket handler could not record (see `crate::answers`).
    Answer(ChargerAnswer),
    /// A cancelled run's results not yet dispatched, ended a page at a time from after `after`
    /// (the cancel request itself writes once and queues the first page).
    Cancel {
        run: Uuid,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<u64>,
    },
    /// A run with a webhook, looked at again (`crate::webhook`): its progress events, and its
    /// completion event once it completes. Each step queues the next until then.
    WebhookWatch { run: Uuid, step: u32 },
    /// Attempt `attempt` of a run's completion event; the first was made at `first_at`.
    WebhookSend { run: Uuid, attempt: u32, first_at: DateTime<Utc> },
    /// A run created inline, looked at a minute later: if nothing of it has moved (the request
    /// that created it died before queueing its messages), its pending results are dispatched.
    Recover { run: Uuid },
    /// One chunk of a big run's requested ids, from position `first_seq` on: resolved against the
    /// directory for the owner's `teams`, written, skipped or dispatched by the worker.
    CreateChunk { run: Uuid, chunk: u32, first_seq: u64, ids: Vec<String>, teams: Vec<String> },
    /// `message` again, after it failed `attempt` times: a handed-off answer or a chunk that came
    /// before its run is tried again within seconds (`quick_retry`), not after the queue's visibility
    /// timeout, which would lose an answer to its own timeout and start a big run minutes late.
    Again { attempt: u32, message: Box<DispatchMessage> },
}

/// How many times a message is tried again within seconds (`DispatchMessage::Again`) before it is
/// left to the queue's visibility timeout and receive count.
pub const QUICK_RETRIES: u32 = 10;

/// The delay before quick retry `attempt` (1, 2, 4, then 8 s each): ten retries span about a
/// minute, past the 60 s after which an Idempotency-Key's creation is taken over (a chunk's run may
/// appear only then).
pub fn quick_retry_delay(attempt: u32) -> u32 {
    1 << attempt.saturating_sub(1).min(3)
}

/// One posted CALL whose timeout a `Timeouts` message carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimedCall {
    pub seq: u64,
    pub charger: Uuid,
    pub identity: String,
    pub call_id: String,
}

impl DispatchMessage {
    /// The message itself, and how many times it was tried again (`Again`).
    pub fn unwrapped(self) -> (DispatchMessage, u32) {
        match self {
            DispatchMessage::Again { attempt, message } => (message.unwrapped().0, attempt),
            message => (message, 0),
        }
    }

    /// Whether a failure of this message is worth a quick retry (`Again`): an answer, whose timeout
    /// comes `ANSWER_GRACE_SECONDS` after its CALL's expiry, and a chunk, which may come before its run.
    pub fn retried_quickly(&self) -> bool {
        matches!(self, DispatchMessage::Answer(_) | DispatchMessage::CreateChunk { .. })
    }

    /// The run and position of the result this message is about; `None` for an answer not yet
    /// matched to its CALL.
    pub fn result_key(&self) -> Option<(Uuid, u64)> {
        match self {
            DispatchMessage::Dispatch { run, seq, .. } | DispatchMessage::Timeout { run, seq, .. } => {
                Some((*run, *seq))
            }
            DispatchMessage::Answer(answer) => answer.call.as_ref().map(|call| (call.run, call.seq)),
            DispatchMessage::Again { message, .. } => message.result_key(),
            DispatchMessage::Timeouts { .. }
            | DispatchMessage::Cancel { .. }
            | DispatchMessage::WebhookWatch { .. }
            | DispatchMessage::WebhookSend { .. }
            | DispatchMessage::CreateChunk { .. }
            | DispatchMessage::Recover { .. } => None,
        }
    }

    /// The charger's identity, where known.
    pub fn identity(&self) -> Option<&str> {
        match self {
            DispatchMessage::Dispatch { identity, .. } | DispatchMessage::Timeout { identity, .. } => Some(identity),
            DispatchMessage::Answer(answer) => answer.identity.as_deref(),
            DispatchMessage::Again { message, .. } => message.identity(),
            DispatchMessage::Timeouts { .. }
            | DispatchMessage::Cancel { .. }
            | DispatchMessage::WebhookWatch { .. }
            | DispatchMessage::WebhookSend { .. }
            | DispatchMessage::CreateChunk { .. }
            | DispatchMessage::Recover { .. } => None,
        }
    }

    /// The charger's id, where known.
    pub fn charger(&self) -> Option<Uuid> {
        match self {
            DispatchMessage::Dispatch { charger, .. } | DispatchMessage::Timeout { charger, .. } => Some(*charger),
            DispatchMessage::Answer(answer) => answer.call.as_ref().map(|call| call.charger),
            DispatchMessage::Again { message, .. } => message.charger(),
            DispatchMessage::Timeouts { .. }
            | DispatchMessage::Cancel { .. }
            | DispatchMessage::WebhookWatch { .. }
            | DispatchMessage::WebhookSend { .. }
            | DispatchMessage::CreateChunk { .. }
            | DispatchMessage::Recover { .. } => None,
        }
    }
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
