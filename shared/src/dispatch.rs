//! What travels on the dispatch queue. One `Dispatch` per accessible charger; one `Timeout` per
//! posted CALL, delayed by the run's `timeout_seconds`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// SQS's longest delay; later rollout slots re-queue themselves.
pub const MAX_DELAY_SECONDS: u32 = 900;
/// How long a CALL waits when its charger is busy with another run's CALL.
pub const BUSY_RETRY_SECONDS: u32 = 1;
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
    /// The CALL `call_id` had its time: if still unanswered, it failed.
    Timeout { run: Uuid, seq: u64, charger: Uuid, identity: String, call_id: String },
}

impl DispatchMessage {
    pub fn run(&self) -> Uuid {
        match self {
            DispatchMessage::Dispatch { run, .. } | DispatchMessage::Timeout { run, .. } => *run,
        }
    }

    pub fn seq(&self) -> u64 {
        match self {
            DispatchMessage::Dispatch { seq, .. } | DispatchMessage::Timeout { seq, .. } => *seq,
        }
    }

    pub fn charger(&self) -> Uuid {
        match self {
            DispatchMessage::Dispatch { charger, .. } | DispatchMessage::Timeout { charger, .. } => *charger,
        }
    }

    pub fn identity(&self) -> &str {
        match self {
            DispatchMessage::Dispatch { identity, .. } | DispatchMessage::Timeout { identity, .. } => identity,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_as_json() {
        let message = DispatchMessage::Timeout {
            run: Uuid::new_v4(),
            seq: 7,
            charger: Uuid::new_v4(),
            identity: "CP1".into(),
            call_id: "c".into(),
        };
        let text = serde_json::to_string(&message).unwrap();
        assert!(text.contains("\"kind\":\"timeout\""));
        assert_eq!(serde_json::from_str::<DispatchMessage>(&text).unwrap(), message);
    }
}
