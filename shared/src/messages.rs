//! What travels between the functions: the dispatch queue's messages (`DispatchMessage`: one per
//! accessible charger, timeouts, handed-off answers, big runs' chunks, webhook steps) and what they
//! carry — a charger's answer (`ChargerAnswer`) and the CALL it answers (`InflightCall`). Plain data,
//! above `domain` and `ocpp` and below the ports that send and keep them: the services that make
//! and handle them (`queue_message`, `answers`) sit above the ports.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::domain::report::ReportPart;
use crate::domain::{FollowKind, OcppVersion};

/// What the charger answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum Reply {
    /// A CALLRESULT's payload.
    Result(Value),
    /// A CALLERROR, as `code: description`.
    Error(String),
}

/// One answer and what is known of it so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChargerAnswer {
    pub connection: String,
    /// The charger behind `connection`, once looked up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    pub call_id: String,
    pub reply: Reply,
    /// The version the connection speaks: the answer is checked against that version's schema.
    #[serde(default)]
    pub version: OcppVersion,
    /// When the frame arrived: an answer is in time if it arrived before the CALL expired,
    /// however late it is recorded.
    pub received_at: DateTime<Utc>,
    /// The in-flight CALL it answers, once looked up and matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<InflightCall>,
}

/// The one CALL a charger may have in flight (OCPP-J: no second CALL before the first is answered).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InflightCall {
    pub call_id: String,
    /// The OCPP action of the CALL, to check the answer against its response schema.
    pub action: String,
    pub run: Uuid,
    pub charger: Uuid,
    /// The result's position in its run (its key).
    pub seq: u64,
    /// The slot is free again after this, answered or not.
    pub expires_at: DateTime<Utc>,
}

/// A report a charger was asked for (OCPP 2.0.1 GetBaseReport, GetReport): its parts, sent later
/// as NotifyReport CALLs naming `request_id`, are gathered onto the result at `run`/`seq`. Kept per
/// charger by the worker before the request is posted, so a part never comes before it; for
/// `REPORT_KEPT_HOURS`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportExpected {
    pub run: Uuid,
    pub seq: u64,
    pub request_id: i64,
}

/// How long a charger's report is expected after its request (every store keeps it this long).
pub const REPORT_KEPT_HOURS: i64 = 24;

/// A job a charger was sent whose outcome it reports later (`domain::follow_up`): its status
/// notifications of `kind` go to the result at `run`/`seq`. Kept per charger and kind by the worker
/// before the CALL is posted, for `FOLLOW_KEPT_DAYS`. A notification that names a `requestId` other
/// than `request_id` is for another job and goes nowhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowExpected {
    pub run: Uuid,
    pub seq: u64,
    pub kind: FollowKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<i64>,
    /// The firmware version the run expects the charger to boot with (`OutcomePolicy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware_version: Option<String>,
}

/// How long a charger's status notifications are expected after its CALL: past the longest
/// outcome timeout (`MAX_OUTCOME_TIMEOUT_SECONDS`, 7 days) and its trigger.
pub const FOLLOW_KEPT_DAYS: i64 = 8;

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
    /// A part of a charger's report the WebSocket handler could not keep (see `crate::reports`).
    ReportPart { identity: String, part: ReportPart },
    /// A charger's status notification (or boot) the WebSocket handler could not follow onto its
    /// job's result (see `crate::follow_ups`).
    Notified { identity: String, version: OcppVersion, action: String, payload: Value, at: DateTime<Utc> },
    /// The outcomes of results of run `run` one worker batch posted CALLs for, looked at when
    /// their outcome timeout comes (`not_before`): a charger that reported no final status is asked
    /// for it once (TriggerMessage), and stalled if it still says nothing. Each look queues the
    /// next for those still open; SQS delays at most 900 s, so one that arrives early waits again.
    FollowUps { run: Uuid, seqs: Vec<u64>, not_before: DateTime<Utc> },
    /// A paused run resumed (or a rollout whose window opened): its pending results not yet called
    /// among the first `released` of its rollout order (all of a run without one) dispatched again,
    /// a page at a time from after `after` (a dispatch found the run held and dropped them).
    Redispatch {
        run: Uuid,
        released: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<u64>,
        /// A paced run's next slot: where this page's CALLs start.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<DateTime<Utc>>,
    },
    /// A cancelled run's results not yet dispatched, ended a page at a time from after `after`
    /// (the cancel request itself writes once and queues the first page).
    Cancel {
        run: Uuid,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<u64>,
        /// Why, when a request did not cancel it (an abort threshold crossed); else the gate says.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
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
    /// comes `ANSWER_GRACE_SECONDS` after its CALL's expiry, a chunk, which may come before its run,
    /// and a report part or a status notification, which nothing would send again.
    pub fn retried_quickly(&self) -> bool {
        matches!(
            self,
            DispatchMessage::Answer(_)
                | DispatchMessage::CreateChunk { .. }
                | DispatchMessage::ReportPart { .. }
                | DispatchMessage::Notified { .. }
        )
    }

    /// What the message is about, where it says: the result (run and position), the charger's
    /// identity and its id. An answer says them once matched to its CALL (its identity once looked up).
    fn about(&self) -> (Option<(Uuid, u64)>, Option<&str>, Option<Uuid>) {
        match self {
            DispatchMessage::Dispatch { run, seq, identity, charger, .. }
            | DispatchMessage::Timeout { run, seq, identity, charger, .. } => {
                (Some((*run, *seq)), Some(identity), Some(*charger))
            }
            DispatchMessage::Answer(answer) => (
                answer.call.as_ref().map(|call| (call.run, call.seq)),
                answer.identity.as_deref(),
                answer.call.as_ref().map(|call| call.charger),
            ),
            DispatchMessage::Again { message, .. } => message.about(),
            DispatchMessage::ReportPart { identity, .. } | DispatchMessage::Notified { identity, .. } => {
                (None, Some(identity), None)
            }
            DispatchMessage::Timeouts { .. }
            | DispatchMessage::Cancel { .. }
            | DispatchMessage::WebhookWatch { .. }
            | DispatchMessage::WebhookSend { .. }
            | DispatchMessage::CreateChunk { .. }
            | DispatchMessage::FollowUps { .. }
            | DispatchMessage::Redispatch { .. }
            | DispatchMessage::Recover { .. } => (None, None, None),
        }
    }

    /// The run and position of the result this message is about; `None` for an answer not yet
    /// matched to its CALL.
    pub fn result_key(&self) -> Option<(Uuid, u64)> {
        self.about().0
    }

    /// The charger's identity, where known.
    pub fn identity(&self) -> Option<&str> {
        self.about().1
    }

    /// The charger's id, where known.
    pub fn charger(&self) -> Option<Uuid> {
        self.about().2
    }
}
