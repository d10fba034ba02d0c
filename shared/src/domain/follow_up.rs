//! The outcome after the answer: for a command whose `Accepted` only starts the work (a firmware
//! update, a log upload), the charger's later status notifications, followed to an end.
//!
//! A result of such a run, once answered, holds a `FollowUp`: `open` while the charger works,
//! then `succeeded` (Installed, Uploaded), `failed` (a failure status, a refusal in the answer, a
//! boot with another firmware than the run expects) or `stalled` (nothing final within the run's
//! outcome timeout, even after one TriggerMessage asking for the status again). Each change bumps
//! `rev`, the condition of the store's write, so a repeated notification changes nothing twice.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::ocpp_version::OcppVersion;

/// The work a command starts whose progress the charger reports later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FollowKind {
    /// UpdateFirmware (1.6, 2.0.1), SignedUpdateFirmware (1.6): FirmwareStatusNotification,
    /// SignedFirmwareStatusNotification.
    Firmware,
    /// GetDiagnostics (1.6), GetLog (1.6, 2.0.1): DiagnosticsStatusNotification, LogStatusNotification.
    Log,
}

impl FollowKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FollowKind::Firmware => "firmware",
            FollowKind::Log => "log",
        }
    }

    /// The work `action` starts, if its answer is not its end.
    pub fn of_command(action: &str) -> Option<FollowKind> {
        match action {
            "UpdateFirmware" | "SignedUpdateFirmware" => Some(FollowKind::Firmware),
            "GetDiagnostics" | "GetLog" => Some(FollowKind::Log),
            _ => None,
        }
    }

    /// The work a charger's own CALL `action` reports on, if it is such a status notification.
    pub fn of_notification(action: &str) -> Option<FollowKind> {
        match action {
            "FirmwareStatusNotification" | "SignedFirmwareStatusNotification" => Some(FollowKind::Firmware),
            "DiagnosticsStatusNotification" | "LogStatusNotification" => Some(FollowKind::Log),
            _ => None,
        }
    }

    /// The CALL that asks a charger of `version`, sent `command`, for its status notification
    /// again (OCPP 1.6 TriggerMessage, or ExtendedTriggerMessage for the security extension's
    /// commands; 2.0.1 TriggerMessage): its action and payload.
    pub fn trigger(version: OcppVersion, command: &str) -> Option<(&'static str, Value)> {
        let requested = match (version, command) {
            (OcppVersion::V16, "UpdateFirmware") => ("TriggerMessage", "FirmwareStatusNotification"),
            (OcppVersion::V16, "GetDiagnostics") => ("TriggerMessage", "DiagnosticsStatusNotification"),
            (OcppVersion::V16, "SignedUpdateFirmware") => ("ExtendedTriggerMessage", "FirmwareStatusNotification"),
            (OcppVersion::V16, "GetLog") => ("ExtendedTriggerMessage", "LogStatusNotification"),
            (OcppVersion::V201, "UpdateFirmware") => ("TriggerMessage", "FirmwareStatusNotification"),
            (OcppVersion::V201, "GetLog") => ("TriggerMessage", "LogStatusNotification"),
            _ => return None,
        };
        Some((requested.0, json!({"requestedMessage": requested.1})))
    }
}

/// Where a follow-up stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FollowState {
    Open,
    Succeeded,
    Failed,
    Stalled,
}

impl FollowState {
    pub const FINAL: [FollowState; 3] = [FollowState::Succeeded, FollowState::Failed, FollowState::Stalled];

    pub fn as_str(self) -> &'static str {
        match self {
            FollowState::Open => "open",
            FollowState::Succeeded => "succeeded",
            FollowState::Failed => "failed",
            FollowState::Stalled => "stalled",
        }
    }

    pub fn parse(text: &str) -> Option<FollowState> {
        [FollowState::Open, FollowState::Succeeded, FollowState::Failed, FollowState::Stalled]
            .into_iter()
            .find(|s| s.as_str() == text)
    }

    pub fn is_final(self) -> bool {
        self != FollowState::Open
    }

    /// The final state a notified `status` means, if it is one (`expects_version`: a run that
    /// waits for the boot with its firmware takes `Installed` for a step, not the end).
    fn of_status(status: &str, expects_version: bool) -> Option<FollowState> {
        match status {
            "Installed" if expects_version => None,
            "Installed" | "Uploaded" => Some(FollowState::Succeeded),
            "DownloadFailed"
            | "InstallationFailed"
            | "InstallVerificationFailed"
            | "InvalidSignature"
            | "UploadFailed"
            | "UploadFailure"
            | "BadMessage"
            | "NotSupportedOperation"
            | "PermissionDenied" => Some(FollowState::Failed),
            _ => None,
        }
    }
}

/// One status the charger reported, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowStep {
    pub status: String,
    pub at: DateTime<Utc>,
}

/// The most steps a follow-up keeps: the first ones and the latest (a charger repeating
/// `Downloading` for hours keeps a result item small).
pub const MAX_STEPS: usize = 16;
/// The longest status a step keeps (a charger's text: the schemas allow only short enums, a step
/// made of a boot's firmware version is bounded here).
const MAX_STATUS_BYTES: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowUp {
    pub kind: FollowKind,
    pub state: FollowState,
    pub steps: Vec<FollowStep>,
    /// When the answer came: the outcome timeout runs from it.
    pub since: DateTime<Utc>,
    /// When the charger was asked for its status again (once, when the timeout came).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triggered_at: Option<DateTime<Utc>>,
    /// Why it ended, where no status says it (a refusal, a boot with other firmware, a stall).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Bumped by every change: what the store's conditional write compares.
    pub rev: u32,
}

/// What a run asks of the outcomes of its results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomePolicy {
    /// How long after the answer a final status may take before the result is `stalled`.
    pub timeout_seconds: u32,
    /// A firmware update succeeds only when the charger boots reporting this version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware_version: Option<String>,
}

/// A few hours: a firmware download and install on a slow link.
pub const DEFAULT_OUTCOME_TIMEOUT_SECONDS: u32 = 4 * 3_600;
/// Seven days, as far as anything of a run is kept waiting.
pub const MAX_OUTCOME_TIMEOUT_SECONDS: u32 = 7 * 24 * 3_600;
/// Ten seconds: short outcome timeouts serve tests and demos.
pub const MIN_OUTCOME_TIMEOUT_SECONDS: u32 = 10;

impl OutcomePolicy {
    /// How long after its TriggerMessage a follow-up still waiting is called stalled: a tenth of
    /// the outcome timeout, between 5 s and 5 minutes.
    pub fn trigger_grace(&self) -> chrono::Duration {
        chrono::Duration::seconds(i64::from((self.timeout_seconds / 10).clamp(5, 300)))
    }

    pub fn timeout(&self) -> chrono::Duration {
        chrono::Duration::seconds(self.timeout_seconds.into())
    }
}

impl FollowUp {
    /// The follow-up a charger's answer to a `kind` command opens: `open` when it accepted (1.6's
    /// UpdateFirmware answers nothing; a 1.6 GetDiagnostics without `fileName` has nothing to
    /// upload), else `failed`, its status the step.
    pub fn after_answer(kind: FollowKind, action: &str, response: &Value, at: DateTime<Utc>) -> FollowUp {
        let status = response.get("status").and_then(Value::as_str);
        let refused = match (action, status) {
            ("GetDiagnostics", _) if response.get("fileName").is_none() => Some("NoDiagnostics"),
            (_, None | Some("Accepted" | "AcceptedCanceled")) => None,
            (_, Some(other)) => Some(other),
        };
        let step = FollowStep { status: bounded(refused.or(status).unwrap_or("Accepted")), at };
        FollowUp {
            kind,
            state: if refused.is_some() { FollowState::Failed } else { FollowState::Open },
            steps: vec![step],
            since: at,
            triggered_at: None,
            message: refused.map(|status| format!("the charger answered {status}")),
            rev: 1,
        }
    }

    /// The follow-up after the charger notified `status`; `None` when nothing changes (ended
    /// already, or a repeat of the latest status).
    pub fn notified(&self, status: &str, expects_version: bool, at: DateTime<Utc>) -> Option<FollowUp> {
        if self.state.is_final() || self.steps.last().is_some_and(|last| last.status == status) {
            return None;
        }
        let state = FollowState::of_status(status, expects_version).unwrap_or(FollowState::Open);
        Some(self.next(state, Some(status), None, at))
    }

    /// The follow-up after the charger booted reporting firmware `version`, when the run expects
    /// `expected`: the expected version ends it `succeeded`; another one, once an install was
    /// reported, `failed`; before that, a boot is only a step.
    pub fn booted(&self, version: &str, expected: &str, at: DateTime<Utc>) -> Option<FollowUp> {
        if self.state.is_final() || self.kind != FollowKind::Firmware {
            return None;
        }
        let step = format!("Booted {version}");
        if version == expected {
            return Some(self.next(FollowState::Succeeded, Some(&step), None, at));
        }
        let installing =
            self.steps.iter().any(|s| matches!(s.status.as_str(), "Installing" | "Installed" | "InstallRebooting"));
        let why = format!("the charger booted with firmware {version}, the run expects {expected}");
        let state = if installing { FollowState::Failed } else { FollowState::Open };
        Some(self.next(state, Some(&step), installing.then_some(why), at))
    }

    /// Asked for its status again, at `at` (once).
    pub fn triggered(&self, at: DateTime<Utc>, note: &str) -> Option<FollowUp> {
        if self.state.is_final() || self.triggered_at.is_some() {
            return None;
        }
        let mut next = self.next(FollowState::Open, Some(note), None, at);
        next.triggered_at = Some(at);
        Some(next)
    }

    /// Nothing final came in time, even after the trigger.
    pub fn stalled(&self, policy: &OutcomePolicy, at: DateTime<Utc>) -> Option<FollowUp> {
        if self.state.is_final() {
            return None;
        }
        let latest = self.steps.last().map_or("none", |s| s.status.as_str());
        let why = format!("no final status within {} s of the answer (the latest: {latest})", policy.timeout_seconds);
        Some(self.next(FollowState::Stalled, None, Some(why), at))
    }

    /// When it is due a trigger (`triggered_at` unset) or a verdict of stall (set).
    pub fn due(&self, policy: &OutcomePolicy) -> DateTime<Utc> {
        match self.triggered_at {
            None => self.since + policy.timeout(),
            Some(at) => at + policy.trigger_grace(),
        }
    }

    /// The latest status reported.
    pub fn status(&self) -> Option<&str> {
        self.steps.last().map(|s| s.status.as_str())
    }

    fn next(&self, state: FollowState, status: Option<&str>, message: Option<String>, at: DateTime<Utc>) -> FollowUp {
        let mut next = self.clone();
        next.state = state;
        next.rev = self.rev.saturating_add(1);
        if let Some(status) = status {
            if next.steps.len() >= MAX_STEPS {
                // Keep the first half and the latest: the start and where it stands.
                next.steps.remove(MAX_STEPS / 2);
            }
            next.steps.push(FollowStep { status: bounded(status), at });
        }
        if message.is_some() {
            next.message = message;
        }
        next
    }
}

fn bounded(status: &str) -> String {
    super::result::truncated(status.to_owned(), MAX_STATUS_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(version: Option<&str>) -> OutcomePolicy {
        OutcomePolicy { timeout_seconds: 600, firmware_version: version.map(str::to_owned) }
    }

    #[test]
    fn an_install_is_followed_to_its_end_once() {
        let at = Utc::now();
        let open = FollowUp::after_answer(FollowKind::Firmware, "UpdateFirmware", &json!({}), at);
        assert_eq!((open.state, open.status(), open.rev), (FollowState::Open, Some("Accepted"), 1));
        let downloading = open.notified("Downloading", false, at).unwrap();
        assert!(downloading.notified("Downloading", false, at).is_none(), "a repeat changes nothing");
        let installed = downloading.notified("Installed", false, at).unwrap();
        assert_eq!((installed.state, installed.rev), (FollowState::Succeeded, 3));
        assert!(installed.notified("InstallationFailed", false, at).is_none(), "an ended one stays ended");
        assert!(installed.stalled(&policy(None), at).is_none());

        let failed = open.notified("DownloadFailed", false, at).unwrap();
        assert_eq!(failed.state, FollowState::Failed);
        let log = FollowUp::after_answer(FollowKind::Log, "GetLog", &json!({"status": "Accepted"}), at);
        assert_eq!(log.notified("UploadFailure", false, at).unwrap().state, FollowState::Failed);
        assert_eq!(log.notified("Uploaded", false, at).unwrap().state, FollowState::Succeeded);
    }

    #[test]
    fn a_refusal_fails_at_once() {
        let at = Utc::now();
        let rejected =
            FollowUp::after_answer(FollowKind::Firmware, "UpdateFirmware", &json!({"status": "Rejected"}), at);
        assert_eq!((rejected.state, rejected.status()), (FollowState::Failed, Some("Rejected")));
        assert_eq!(rejected.message.as_deref(), Some("the charger answered Rejected"));
        let nothing = FollowUp::after_answer(FollowKind::Log, "GetDiagnostics", &json!({}), at);
        assert_eq!(nothing.state, FollowState::Failed);
        let file = FollowUp::after_answer(FollowKind::Log, "GetDiagnostics", &json!({"fileName": "d.log"}), at);
        assert_eq!(file.state, FollowState::Open);
        let cancelled = FollowUp::after_answer(FollowKind::Log, "GetLog", &json!({"status": "AcceptedCanceled"}), at);
        assert_eq!(cancelled.state, FollowState::Open, "the earlier upload was cancelled, this one goes on");
    }

    #[test]
    fn an_expected_version_waits_for_the_boot() {
        let at = Utc::now();
        let open = FollowUp::after_answer(FollowKind::Firmware, "UpdateFirmware", &json!({}), at);
        let early = open.booted("1.0", "2.0", at).unwrap();
        assert_eq!(early.state, FollowState::Open, "a boot before any install is a step");
        let installed = early.notified("Installed", true, at).unwrap();
        assert_eq!(installed.state, FollowState::Open);
        let wrong = installed.booted("1.0", "2.0", at).unwrap();
        assert_eq!(wrong.state, FollowState::Failed);
        assert!(wrong.message.unwrap().contains("booted with firmware 1.0, the run expects 2.0"));
        let right = installed.booted("2.0", "2.0", at).unwrap();
        assert_eq!((right.state, right.status()), (FollowState::Succeeded, Some("Booted 2.0")));
    }

    #[test]
    fn a_silent_charger_is_asked_once_then_stalled() {
        let at = Utc::now();
        let policy = policy(None);
        let open = FollowUp::after_answer(FollowKind::Firmware, "UpdateFirmware", &json!({}), at);
        assert_eq!(open.due(&policy), at + chrono::Duration::seconds(600));
        let asked = open.triggered(at, "TriggerMessage sent").unwrap();
        assert!(asked.triggered(at, "again").is_none());
        assert_eq!(asked.due(&policy), at + chrono::Duration::seconds(60));
        let stalled = asked.stalled(&policy, at).unwrap();
        assert_eq!(stalled.state, FollowState::Stalled);
        assert!(stalled.message.unwrap().contains("(the latest: TriggerMessage sent)"));
    }

    #[test]
    fn steps_stay_bounded_keeping_the_start_and_the_latest() {
        let at = Utc::now();
        let mut follow = FollowUp::after_answer(FollowKind::Firmware, "UpdateFirmware", &json!({}), at);
        for i in 0..40 {
            follow = follow.notified(&format!("Downloading{i}"), false, at).unwrap();
        }
        assert_eq!(follow.steps.len(), MAX_STEPS);
        assert_eq!(follow.steps[0].status, "Accepted");
        assert_eq!(follow.status(), Some("Downloading39"));
        let long = follow.booted(&"9".repeat(500), "2", at).unwrap();
        assert!(long.status().unwrap().len() <= MAX_STATUS_BYTES);
    }

    #[test]
    fn every_followed_command_has_its_trigger_and_notification() {
        for (version, command) in [
            (OcppVersion::V16, "UpdateFirmware"),
            (OcppVersion::V16, "GetDiagnostics"),
            (OcppVersion::V16, "SignedUpdateFirmware"),
            (OcppVersion::V16, "GetLog"),
            (OcppVersion::V201, "UpdateFirmware"),
            (OcppVersion::V201, "GetLog"),
        ] {
            let kind = FollowKind::of_command(command).unwrap();
            let (_, payload) = FollowKind::trigger(version, command).unwrap();
            let requested = payload["requestedMessage"].as_str().unwrap();
            assert_eq!(FollowKind::of_notification(requested), Some(kind), "{command}");
        }
        assert!(FollowKind::of_command("Reset").is_none());
    }
}
