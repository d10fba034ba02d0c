//! A charger's status notifications (and, for a run that expects a firmware version, its next
//! boot) followed onto the result of the job they report on (`domain::follow_up`). The worker kept
//! which result that is, per charger and kind of job (`FollowExpected`), before it posted the CALL,
//! so no notification comes before it. The WebSocket handler follows each as it comes; one whose
//! writes keep failing is handed to the queue and followed by the worker, as an answer is. Every
//! write is conditional on the revision it replaces: a notification followed twice changes the
//! result once.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::domain::charger_state::Boot;
use crate::domain::{FollowKind, FollowUp, OcppVersion, ResultStatus};
use crate::error::Result;
use crate::ports::{InflightCalls, RunStore};

/// What became of a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Followed {
    /// It moved its result's outcome.
    Moved,
    /// It changed nothing (a repeat, an outcome ended already, a boot that says nothing new).
    Unchanged,
    /// No job of its kind (or of its `requestId`) was sent to this charger.
    Unasked,
}

/// How often a change is tried again when another one got in first (two notifications at once).
const ATTEMPTS: usize = 3;
/// The pauses before a result whose answer is not recorded yet is read again.
const UNRECORDED_WAITS: [std::time::Duration; 3] = [
    std::time::Duration::from_millis(100),
    std::time::Duration::from_millis(300),
    std::time::Duration::from_millis(900),
];

/// A charger's own CALL `action` with `payload` (it passed its schema), followed if it reports on a
/// job: a status notification moves the job's result; a BootNotification ends a firmware job whose
/// run expects a version. Anything else is `Unasked`.
pub async fn follow(
    inflight: &dyn InflightCalls,
    runs: &dyn RunStore,
    identity: &str,
    version: OcppVersion,
    action: &str,
    payload: &Value,
    at: DateTime<Utc>,
) -> Result<Followed> {
    if action == "BootNotification" {
        let Some(firmware) = Boot::from_payload(version, payload, at).and_then(|boot| boot.firmware) else {
            return Ok(Followed::Unasked);
        };
        let Some(expected) = inflight.follow_up_expected(identity, FollowKind::Firmware).await? else {
            return Ok(Followed::Unasked);
        };
        let Some(wanted) = expected.firmware_version.clone() else {
            return Ok(Followed::Unasked);
        };
        return advance(runs, expected.run, expected.seq, |follow| follow.booted(&firmware, &wanted, at)).await;
    }
    let Some(kind) = FollowKind::of_notification(action) else {
        return Ok(Followed::Unasked);
    };
    let Some(status) = payload.get("status").and_then(Value::as_str) else {
        return Ok(Followed::Unasked);
    };
    let Some(expected) = inflight.follow_up_expected(identity, kind).await? else {
        return Ok(Followed::Unasked);
    };
    let named = payload.get("requestId").and_then(Value::as_i64);
    if named.is_some() && expected.request_id.is_some() && named != expected.request_id {
        return Ok(Followed::Unasked);
    }
    let waits_for_boot = expected.firmware_version.is_some();
    let followed =
        advance(runs, expected.run, expected.seq, |follow| follow.notified(status, waits_for_boot, at)).await?;
    if followed == Followed::Moved {
        tracing::debug!(identity, run = %expected.run, seq = expected.seq, status, "outcome moved");
    }
    Ok(followed)
}

/// Reads the result at `run`/`seq` and writes what `change` makes of its follow-up, conditionally;
/// read again and retried when another change got in first.
pub async fn advance(
    runs: &dyn RunStore,
    run: uuid::Uuid,
    seq: u64,
    change: impl Fn(&FollowUp) -> Option<FollowUp>,
) -> Result<Followed> {
    let mut waits = UNRECORDED_WAITS.iter();
    let mut attempts = 0;
    while attempts < ATTEMPTS {
        let Some(result) = runs.result(run, seq).await? else {
            return Ok(Followed::Unasked);
        };
        if result.follow_up.is_none() && result.status == ResultStatus::Pending && result.call_id.is_some() {
            // The charger's notification came before its answer was recorded (a charger may send
            // it at once, and recording an answer may take a moment): read again in a moment, then
            // tried again from the queue (`DispatchMessage::Notified`), never dropped.
            match waits.next() {
                Some(wait) => {
                    tokio::time::sleep(*wait).await;
                    continue;
                }
                None => {
                    return Err(crate::Error::transient(
                        "follow-up",
                        "the answer that opens this outcome is not recorded yet",
                    ))
                }
            }
        }
        attempts += 1;
        let Some(next) = result.follow_up.as_ref().and_then(&change) else {
            return Ok(Followed::Unchanged);
        };
        if runs.advance_follow_up(run, seq, &next).await? {
            return Ok(Followed::Moved);
        }
    }
    Err(crate::Error::transient("follow-up", "the outcome kept changing while it was written"))
}

#[cfg(test)]
mod tests {
    use crate::domain::{FollowKind, OcppVersion};
    use crate::ocpp::Command;

    /// The CALL asking for a status again is one the charger's schema takes.
    #[test]
    fn every_trigger_passes_its_schema() {
        for version in [OcppVersion::V16, OcppVersion::V201] {
            for command in ["UpdateFirmware", "SignedUpdateFirmware", "GetDiagnostics", "GetLog"] {
                if Command::find(version, command).is_none() {
                    continue;
                }
                let (action, payload) = FollowKind::trigger(version, command).expect(command);
                let trigger = Command::find(version, action).expect(action);
                assert!(trigger.check_request(&payload, "data").is_ok(), "{version:?} {action} {payload}");
            }
        }
    }
}
