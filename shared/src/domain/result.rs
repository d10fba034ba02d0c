//! A run's per-charger results: what each CALL came to (`ResultRecord`, `Outcome`), what ending
//! it expects (`Expect`), and the bounds on what a result keeps of an answer.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::follow_up::FollowUp;
use super::run::ResultStatus;

/// The charger as a result embeds it (only for chargers the caller can access).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChargerRef {
    pub uuid: Uuid,
    pub identity: String,
    pub reference: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultRecord {
    /// Position in the run, in request order: the results' sort key and cursor.
    pub seq: u64,
    /// The id as the caller sent it (it may not even be a UUID when skipped).
    pub charger_uuid: String,
    pub status: ResultStatus,
    pub message: Option<String>,
    pub executed_at: Option<DateTime<Utc>>,
    pub response: Option<Value>,
    pub charger: Option<ChargerRef>,
    /// The message id of the CALL posted for this result, once one was.
    pub call_id: Option<String>,
    /// When that CALL's answer is due: an answer received later is late.
    pub call_expires_at: Option<DateTime<Utc>>,
    /// What was gathered of the report a report request asked for (`report.rs`), once a part came.
    pub report: Option<super::report::ReportSummary>,
    /// The outcome after the answer, for a run that follows it (`follow_up`), once answered.
    pub follow_up: Option<FollowUp>,
}

impl ResultRecord {
    pub fn pending(seq: u64, charger: ChargerRef) -> Self {
        ResultRecord {
            seq,
            charger_uuid: charger.uuid.to_string(),
            status: ResultStatus::Pending,
            message: None,
            executed_at: None,
            response: None,
            charger: Some(charger),
            call_id: None,
            call_expires_at: None,
            report: None,
            follow_up: None,
        }
    }

    pub fn skipped(seq: u64, charger_uuid: String) -> Self {
        ResultRecord {
            seq,
            charger_uuid,
            status: ResultStatus::SkippedForbidden,
            message: None,
            executed_at: None,
            response: None,
            charger: None,
            call_id: None,
            call_expires_at: None,
            report: None,
            follow_up: None,
        }
    }

    /// Whether a transition guarded by `expect` may leave this result's current state.
    pub fn admits(&self, expect: &Expect) -> bool {
        self.status == ResultStatus::Pending
            && match expect {
                Expect::Uncalled => self.call_id.is_none(),
                Expect::Call(id) => self.call_id.as_deref() == Some(id.as_str()),
                Expect::Answer { call_id, identity, received_at } => {
                    self.call_id.as_deref() == Some(call_id.as_str())
                        && self.charger.as_ref().is_some_and(|c| c.identity == *identity)
                        && self.call_expires_at.is_none_or(|due| due > *received_at)
                }
            }
    }

    pub fn apply(&mut self, outcome: Outcome) {
        self.status = outcome.status;
        self.message = outcome.message;
        self.response = outcome.response;
        if outcome.executed_at.is_some() {
            self.executed_at = outcome.executed_at;
        }
        if outcome.follow_up.is_some() {
            self.follow_up = outcome.follow_up;
        }
    }
}

/// The condition a transition out of `pending` requires: what makes every write conditional.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// No CALL was posted yet (offline at dispatch, cancelled before dispatch).
    Uncalled,
    /// The CALL with this message id is the one in flight (its timeout, its failure).
    Call(String),
    /// The CALL with this message id is the one in flight, sent to the charger `identity`, and
    /// its answer came at `received_at`, before the CALL expired.
    Answer { call_id: String, identity: String, received_at: DateTime<Utc> },
}

/// Where a result goes when it leaves `pending`.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub status: ResultStatus,
    pub message: Option<String>,
    pub response: Option<Value>,
    pub executed_at: Option<DateTime<Utc>>,
    /// The follow-up a sent answer opens (or ends at once), for a run that follows outcomes.
    pub follow_up: Option<FollowUp>,
    /// An `error` because the CALL went unanswered (counted apart as `timeout` too).
    pub timed_out: bool,
}

impl Outcome {
    pub fn sent(response: Value) -> Self {
        let message = response.get("status").and_then(Value::as_str).map(str::to_owned);
        Outcome {
            status: ResultStatus::Sent,
            message,
            response: Some(response),
            executed_at: None,
            follow_up: None,
            timed_out: false,
        }
    }

    pub fn offline(message: &str, at: DateTime<Utc>) -> Self {
        Outcome {
            status: ResultStatus::Offline,
            message: Some(message.to_owned()),
            response: None,
            executed_at: Some(at),
            follow_up: None,
            timed_out: false,
        }
    }

    pub fn error(message: impl Into<String>) -> Self {
        Outcome {
            status: ResultStatus::Error,
            message: Some(message.into()),
            response: None,
            executed_at: None,
            follow_up: None,
            timed_out: false,
        }
    }

    /// The CALL went unanswered: an `error`, counted as a timeout too.
    pub fn timeout(message: impl Into<String>) -> Self {
        Outcome { timed_out: true, ..Outcome::error(message) }
    }

    /// What a result keeps of what a charger sent: a `message` of at most `MAX_KEPT_MESSAGE_BYTES`
    /// (cut, saying so) and a `response` of at most `MAX_KEPT_RESPONSE_BYTES` as JSON (dropped
    /// whole, the message saying so). A run's page of 100 results then stays far inside Lambda's
    /// 6 MB response, each result item inside DynamoDB's 400 KB.
    pub fn bounded(mut self) -> Self {
        let oversized = self.response.as_ref().and_then(|response| {
            let bytes = json_size(response, <[u8]>::len);
            (bytes > MAX_KEPT_RESPONSE_BYTES).then_some(bytes)
        });
        let Some(bytes) = oversized else {
            self.message = self.message.map(|m| truncated(m, MAX_KEPT_MESSAGE_BYTES));
            return self;
        };
        let note = format!("(the response, {bytes} bytes, is not kept: a result keeps {MAX_KEPT_RESPONSE_BYTES})");
        let said = self.message.take().map(|m| truncated(m, MAX_KEPT_MESSAGE_BYTES - note.len() - 1) + " ");
        self.message = Some(said.unwrap_or_default() + &note);
        self.response = None;
        self
    }
}

/// The size of `value` as compact JSON, each written piece weighed by `weigh` (`<[u8]>::len` for
/// its text), counted as it is written without building the text.
pub fn json_size(value: &Value, weigh: impl Fn(&[u8]) -> usize) -> usize {
    struct Count<F> {
        bytes: usize,
        weigh: F,
    }
    impl<F: Fn(&[u8]) -> usize> std::io::Write for Count<F> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.bytes += (self.weigh)(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count { bytes: 0, weigh };
    serde_json::to_writer(&mut count, value).map_or(usize::MAX, |()| count.bytes)
}

/// The longest `message` a result keeps of a charger's text, in bytes.
pub const MAX_KEPT_MESSAGE_BYTES: usize = 1_024;
/// The largest `response` payload a result keeps, in bytes of JSON.
pub const MAX_KEPT_RESPONSE_BYTES: usize = 16 * 1_024;

/// `text` cut to at most `max` bytes (on a character boundary), saying how long it was.
pub fn truncated(mut text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let note = format!("… (truncated from {} bytes)", text.len());
    let (keep, note) = if note.len() < max { (max - note.len(), note) } else { (max, String::new()) };
    let cut = (0..=keep).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
    text.truncate(cut);
    text.push_str(&note);
    text
}
