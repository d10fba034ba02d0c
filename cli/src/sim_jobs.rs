//! The jobs a simulated charger plays after it accepts one (a firmware update, a diagnostics or log
//! upload): its status notifications, a step at a time, each passing its official schema; after an
//! installed firmware named by its file (`…/sim-2.0.bin` installs `sim-2.0`), a reboot into it; and
//! its answer to a TriggerMessage asking for the latest status. How a job ends is the charger's
//! `JobOutcome`.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use serde_json::{json, Value};
use shared::domain::FollowKind;
use shared::ocpp::{Frame, OcppVersion};
use tokio::time::Instant;

/// How a simulated charger's accepted jobs end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum JobOutcome {
    /// Installed (and rebooted into the new firmware), or uploaded.
    Succeed,
    /// InstallationFailed, or UploadFailed / UploadFailure.
    Fail,
    /// Succeeds, but its last notification is lost (and it does not reboot): only a TriggerMessage
    /// tells.
    Lose,
}

/// Time between two steps of a job.
const STEP: Duration = Duration::from_millis(250);

/// The message ids of a simulated charger's job notifications start with this.
pub const JOB_NOTE: &str = "job-";

/// A charger's jobs under way: the notifications still to send, the reboot to come, and the latest
/// status of each kind (what a trigger is answered with).
#[derive(Default)]
pub struct Jobs {
    due: VecDeque<(Instant, Due)>,
    latest: HashMap<FollowKind, Frame>,
    sent: u64,
}

enum Due {
    Note { frame: Frame, kind: FollowKind, lost: bool },
    Reboot(String),
}

/// What a job's step comes to when due.
pub enum Step {
    Send(Frame),
    Reboot(String),
}

impl Jobs {
    /// The charger accepted `action` with `request`: its job's steps are scheduled.
    pub fn started(&mut self, version: OcppVersion, action: &str, request: &Value, outcome: JobOutcome) {
        let Some(kind) = FollowKind::of_command(action) else {
            return;
        };
        let request_id = request.get("requestId").and_then(Value::as_i64);
        let note = match (version, action) {
            (OcppVersion::V16, "UpdateFirmware") => "FirmwareStatusNotification",
            (OcppVersion::V16, "SignedUpdateFirmware") => "SignedFirmwareStatusNotification",
            (OcppVersion::V16, "GetDiagnostics") => "DiagnosticsStatusNotification",
            (OcppVersion::V201, "UpdateFirmware") => "FirmwareStatusNotification",
            _ => "LogStatusNotification",
        };
        let failed = match note {
            "DiagnosticsStatusNotification" => "UploadFailed",
            "LogStatusNotification" => "UploadFailure",
            _ => "InstallationFailed",
        };
        let mut statuses: Vec<&str> = match kind {
            FollowKind::Firmware => vec!["Downloading", "Downloaded", "Installing", "Installed"],
            FollowKind::Log => vec!["Uploading", "Uploaded"],
        };
        if outcome == JobOutcome::Fail {
            if let Some(last) = statuses.last_mut() {
                *last = failed;
            }
        }
        let mut at = Instant::now();
        for (i, status) in statuses.iter().enumerate() {
            at += STEP;
            let mut payload = json!({"status": status});
            // 1.6's FirmwareStatusNotification and DiagnosticsStatusNotification name no request.
            if let (Some(id), false) =
                (request_id, matches!(note, "FirmwareStatusNotification" if version == OcppVersion::V16))
            {
                payload["requestId"] = json!(id);
            }
            let lost = outcome == JobOutcome::Lose && i + 1 == statuses.len();
            self.sent += 1;
            let frame = Frame::Call { id: format!("{JOB_NOTE}{}", self.sent), action: note.to_owned(), payload };
            self.due.push_back((at, Due::Note { frame, kind, lost }));
        }
        if let (JobOutcome::Succeed, Some(installed)) = (outcome, installed_version(request)) {
            self.due.push_back((at + STEP, Due::Reboot(installed)));
        }
    }

    /// When the next step is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.due.front().map(|(at, _)| *at)
    }

    /// The steps due by now (a lost notification is only remembered).
    pub fn take_due(&mut self) -> Vec<Step> {
        let now = Instant::now();
        let mut steps = Vec::new();
        while self.due.front().is_some_and(|(at, _)| *at <= now) {
            match self.due.pop_front().map(|(_, due)| due) {
                Some(Due::Note { frame, kind, lost }) => {
                    self.latest.insert(kind, frame.clone());
                    if !lost {
                        steps.push(Step::Send(frame));
                    }
                }
                Some(Due::Reboot(version)) => steps.push(Step::Reboot(version)),
                None => {}
            }
        }
        steps
    }

    /// The notification a TriggerMessage (or ExtendedTriggerMessage) `request` asks for: the latest
    /// of its kind again, or `Idle` when none is under way.
    pub fn triggered(&mut self, request: &Value) -> Option<Frame> {
        let requested = request.get("requestedMessage").and_then(Value::as_str)?;
        let kind = FollowKind::of_notification(requested)?;
        self.sent += 1;
        let id = format!("{JOB_NOTE}{}", self.sent);
        Some(match self.latest.get(&kind) {
            Some(Frame::Call { action, payload, .. }) => {
                Frame::Call { id, action: action.clone(), payload: payload.clone() }
            }
            _ => Frame::Call { id, action: requested.to_owned(), payload: json!({"status": "Idle"}) },
        })
    }
}

/// The firmware an update installs, named by its file: `https://host/path/sim-2.0.bin` → `sim-2.0`.
fn installed_version(request: &Value) -> Option<String> {
    let location = request
        .get("location")
        .or_else(|| request.get("firmware").and_then(|f| f.get("location")))
        .and_then(Value::as_str)?;
    let file = location.rsplit('/').next()?;
    let stem = file.rsplit_once('.').map_or(file, |(stem, _)| stem);
    (!stem.is_empty()).then(|| stem.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::ocpp::Command;

    fn notes(version: OcppVersion, action: &str, request: &Value, outcome: JobOutcome) -> (Vec<Frame>, Option<String>) {
        let mut jobs = Jobs::default();
        jobs.started(version, action, request, outcome);
        let mut frames = Vec::new();
        let mut reboot = None;
        for (_, due) in jobs.due.drain(..) {
            match due {
                Due::Note { frame, lost: false, .. } => frames.push(frame),
                Due::Note { .. } => {}
                Due::Reboot(version) => reboot = Some(version),
            }
        }
        (frames, reboot)
    }

    #[tokio::test]
    async fn every_job_notification_passes_its_schema() {
        let firmware16 = json!({"location": "https://fw.example/sim-2.0.bin", "retrieveDate": "2026-01-01T00:00:00Z"});
        let signed = json!({"requestId": 7, "firmware": {"location": "https://fw.example/sim-2.0.bin",
            "retrieveDateTime": "2026-01-01T00:00:00Z", "signingCertificate": "c", "signature": "s"}});
        let log =
            json!({"requestId": 8, "logType": "DiagnosticsLog", "log": {"remoteLocation": "https://up.example/"}});
        for (version, action, request) in [
            (OcppVersion::V16, "UpdateFirmware", firmware16.clone()),
            (OcppVersion::V16, "SignedUpdateFirmware", signed.clone()),
            (OcppVersion::V16, "GetDiagnostics", json!({"location": "https://up.example/"})),
            (OcppVersion::V16, "GetLog", log.clone()),
            (OcppVersion::V201, "UpdateFirmware", signed.clone()),
            (OcppVersion::V201, "GetLog", log.clone()),
        ] {
            for outcome in [JobOutcome::Succeed, JobOutcome::Fail, JobOutcome::Lose] {
                let (frames, reboot) = notes(version, action, &request, outcome);
                assert!(!frames.is_empty());
                for frame in frames {
                    let Frame::Call { action: note, payload, .. } = frame else { panic!() };
                    let now = chrono::Utc::now();
                    let answered = shared::ocpp::charger_calls::answer(version, &note, &payload, now);
                    assert!(answered.is_ok(), "{version:?} {note} {payload}: {answered:?}");
                }
                let firmware = action.contains("UpdateFirmware") && outcome == JobOutcome::Succeed;
                assert_eq!(reboot.as_deref(), firmware.then_some("sim-2.0"), "{action} {outcome:?}");
            }
            let (trigger, payload) = FollowKind::trigger(version, action).unwrap();
            assert!(Command::find(version, trigger).unwrap().check_request(&payload, "data").is_ok());
            let mut jobs = Jobs::default();
            let Some(Frame::Call { action: note, payload, .. }) = jobs.triggered(&payload) else { panic!() };
            let answered = shared::ocpp::charger_calls::answer(version, &note, &payload, chrono::Utc::now());
            assert!(answered.is_ok(), "{version:?} {note} {payload}");
        }
    }
}
