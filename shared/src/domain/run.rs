//! Runs and their per-charger results: the state machine and the counting rules.
//!
//! A result starts `pending` (or `skipped_forbidden`, decided at creation) and leaves `pending`
//! exactly once, for `sent`, `offline` or `error`. Each departure adds one to exactly one counter;
//! a run is `completed` exactly when `sent + offline + error + skipped == total`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::follow_up::{FollowState, OutcomePolicy};
use super::ocpp_version::OcppVersion;
use super::rollout::{Rollout, RolloutState};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResultStatus {
    Pending,
    Sent,
    Offline,
    Error,
    SkippedForbidden,
}

impl ResultStatus {
    pub const ALL: [ResultStatus; 5] = [
        ResultStatus::Pending,
        ResultStatus::Sent,
        ResultStatus::Offline,
        ResultStatus::Error,
        ResultStatus::SkippedForbidden,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ResultStatus::Pending => "pending",
            ResultStatus::Sent => "sent",
            ResultStatus::Offline => "offline",
            ResultStatus::Error => "error",
            ResultStatus::SkippedForbidden => "skipped_forbidden",
        }
    }

    /// Where a pending result can end, each with its own counter (named as the status).
    pub const ENDINGS: [ResultStatus; 3] = [ResultStatus::Sent, ResultStatus::Offline, ResultStatus::Error];

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    pub fn is_terminal(self) -> bool {
        self != ResultStatus::Pending
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Its rollout starts later (`Rollout::start_at`).
    Scheduled,
    Running,
    /// Paused by hand, or held after a wave until a resume.
    Paused,
    /// Stopped by its abort threshold (and complete once what was in flight ended).
    Aborted,
    Completed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Scheduled => "scheduled",
            RunStatus::Running => "running",
            RunStatus::Paused => "paused",
            RunStatus::Aborted => "aborted",
            RunStatus::Completed => "completed",
        }
    }
}

/// The run's terminal counters. `skipped` is fixed at creation. A run that follows outcomes
/// (`Run::outcome`) also counts its results' final outcomes (`follow_up`): each `sent` result
/// ends in exactly one of `succeeded`, `failed`, `stalled`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    pub sent: u64,
    pub offline: u64,
    pub error: u64,
    pub skipped: u64,
    #[serde(default)]
    pub succeeded: u64,
    #[serde(default)]
    pub failed: u64,
    #[serde(default)]
    pub stalled: u64,
    /// Of `error`, the results whose CALL went unanswered (the abort threshold tells them apart).
    #[serde(default)]
    pub timeout: u64,
}

impl Counters {
    /// Counts one result that reached `status`. Pending counts nowhere.
    pub fn count(&mut self, status: ResultStatus) {
        self.add(status, 1);
    }

    /// The count of `status` (0 for pending).
    pub fn of(&self, status: ResultStatus) -> u64 {
        match status {
            ResultStatus::Pending => 0,
            ResultStatus::Sent => self.sent,
            ResultStatus::Offline => self.offline,
            ResultStatus::Error => self.error,
            ResultStatus::SkippedForbidden => self.skipped,
        }
    }

    /// Counts `n` results that reached `status`.
    pub fn add(&mut self, status: ResultStatus, n: u64) {
        match status {
            ResultStatus::Pending => {}
            ResultStatus::Sent => self.sent += n,
            ResultStatus::Offline => self.offline += n,
            ResultStatus::Error => self.error += n,
            ResultStatus::SkippedForbidden => self.skipped += n,
        }
    }

    pub fn terminal(&self) -> u64 {
        self.sent + self.offline + self.error + self.skipped
    }

    /// The count of outcomes that ended in `state` (0 for open).
    pub fn outcome(&self, state: FollowState) -> u64 {
        match state {
            FollowState::Open => 0,
            FollowState::Succeeded => self.succeeded,
            FollowState::Failed => self.failed,
            FollowState::Stalled => self.stalled,
        }
    }

    /// Counts `n` outcomes that ended in `state`.
    pub fn add_outcome(&mut self, state: FollowState, n: u64) {
        match state {
            FollowState::Open => {}
            FollowState::Succeeded => self.succeeded += n,
            FollowState::Failed => self.failed += n,
            FollowState::Stalled => self.stalled += n,
        }
    }

    /// Outcomes ended, whatever their end.
    pub fn outcomes_final(&self) -> u64 {
        self.succeeded + self.failed + self.stalled
    }

    pub fn merge(&mut self, other: &Counters) {
        self.sent += other.sent;
        self.offline += other.offline;
        self.error += other.error;
        self.skipped += other.skipped;
        self.succeeded += other.succeeded;
        self.failed += other.failed;
        self.stalled += other.stalled;
        self.timeout += other.timeout;
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub id: Uuid,
    /// The user who created it; nobody else ever sees it.
    pub owner: String,
    pub command: String,
    pub data: Value,
    pub total_count: u64,
    pub counters: Counters,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    /// How long a charger has to answer a CALL.
    pub timeout_seconds: u32,
    /// Rollout rate; `None` = as fast as possible.
    pub max_per_second: Option<u32>,
    /// The run whose failures this one retries.
    pub retry_of: Option<Uuid>,
    /// The runs that retried this one's failures.
    pub retries: Vec<Uuid>,
    /// When it was cancelled: its results not yet dispatched end `error` / `cancelled`.
    pub cancelled_at: Option<DateTime<Utc>>,
    /// The filter its chargers were chosen by, when the request named them by what they are.
    pub target: Option<super::charger_state::FleetFilter>,
    /// Where its summary is POSTed when it completes, and how that fares.
    pub webhook: Option<super::webhook::Webhook>,
    /// What chargers of a given OCPP version are sent instead of `command` and `data` (a mixed
    /// fleet's Reset, or ChangeConfiguration for 1.6 and SetVariables for 2.0.1, in one run).
    #[serde(default)]
    pub versions: BTreeMap<OcppVersion, VersionCommand>,
    /// What its results' outcomes after the answer must come to, for a command whose answer only
    /// starts the work (`follow_up`): set exactly when the run's commands are followed.
    #[serde(default)]
    pub outcome: Option<OutcomePolicy>,
    /// How it is rolled out (waves, abort threshold, start time, window), if it is.
    #[serde(default)]
    pub rollout: Option<Rollout>,
    /// Where its rollout stands, and whether it is paused (any run may be).
    #[serde(default)]
    pub rollout_state: RolloutState,
}

/// The command a run sends to the chargers of one OCPP version instead of its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionCommand {
    pub command: String,
    pub data: Value,
}

impl VersionCommand {
    /// What a charger speaking `version` is sent: its version's command from `versions`, else the
    /// run's own `command` and `data` (`Run::command_for`, and a request checked before it is a run).
    pub fn chosen<'a>(
        versions: &'a BTreeMap<OcppVersion, VersionCommand>,
        version: OcppVersion,
        command: &'a str,
        data: &'a Value,
    ) -> (&'a str, &'a Value) {
        match versions.get(&version) {
            Some(instead) => (&instead.command, &instead.data),
            None => (command, data),
        }
    }
}

impl Run {
    /// A run just created: running, nothing counted, no rollout rate, no retries, no target or webhook.
    pub fn new(
        id: Uuid,
        owner: String,
        command: String,
        data: Value,
        total_count: u64,
        created_at: DateTime<Utc>,
        timeout_seconds: u32,
    ) -> Run {
        Run {
            id,
            owner,
            command,
            data,
            total_count,
            counters: Counters::default(),
            created_at,
            completed_at: None,
            timeout_seconds,
            max_per_second: None,
            retry_of: None,
            retries: Vec::new(),
            cancelled_at: None,
            target: None,
            webhook: None,
            versions: BTreeMap::new(),
            outcome: None,
            rollout: None,
            rollout_state: RolloutState::default(),
        }
    }

    /// The command and data a charger speaking `version` is sent.
    pub fn command_for(&self, version: OcppVersion) -> (&str, &Value) {
        VersionCommand::chosen(&self.versions, version, &self.command, &self.data)
    }

    pub fn status(&self) -> RunStatus {
        self.status_at(chrono::Utc::now())
    }

    pub fn status_at(&self, now: DateTime<Utc>) -> RunStatus {
        let state = &self.rollout_state;
        let scheduled = self.rollout.as_ref().and_then(|r| r.start_at).is_some_and(|at| at > now) && state.wave == 0;
        if state.aborted_at.is_some() {
            RunStatus::Aborted
        } else if self.completed_at.is_some() {
            RunStatus::Completed
        } else if state.is_paused() {
            RunStatus::Paused
        } else if scheduled && self.cancelled_at.is_none() {
            RunStatus::Scheduled
        } else {
            RunStatus::Running
        }
    }

    /// Every result ended and, for a run that follows outcomes, every sent result's outcome too.
    pub fn is_complete(&self) -> bool {
        self.counters.terminal() >= self.total_count
            && (self.outcome.is_none() || self.counters.outcomes_final() >= self.counters.sent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::result::*;

    fn big_response() -> Value {
        serde_json::json!({"status": "Accepted", "data": "x".repeat(MAX_KEPT_RESPONSE_BYTES)})
    }

    #[test]
    fn what_a_charger_sent_is_kept_bounded() {
        let long = "é".repeat(3_000);
        let kept = Outcome::error(format!("GenericError: {long}")).bounded();
        let message = kept.message.unwrap();
        assert!(message.len() <= MAX_KEPT_MESSAGE_BYTES, "{}", message.len());
        assert!(message.starts_with("GenericError: éé") && message.ends_with("(truncated from 6014 bytes)"));

        let kept = Outcome::sent(big_response()).bounded();
        assert_eq!(kept.status, ResultStatus::Sent);
        assert!(kept.response.is_none());
        let message = kept.message.unwrap();
        assert!(
            message.starts_with("Accepted (the response, 164") && message.contains(" bytes, is not kept"),
            "{message}"
        );

        let invalid = Outcome { response: Some(big_response()), ..Outcome::error("x".repeat(5_000)) }.bounded();
        let message = invalid.message.unwrap();
        assert!(message.len() <= MAX_KEPT_MESSAGE_BYTES && message.ends_with("a result keeps 16384)"), "{message}");
        assert_eq!(truncated("abcdef".into(), 4), "abcd", "a bound smaller than the note cuts hard");

        let small = Outcome::sent(serde_json::json!({"status": "Accepted"}));
        assert_eq!(small.clone().bounded(), small);
    }

    fn charger() -> ChargerRef {
        ChargerRef { uuid: Uuid::new_v4(), identity: "CP1".into(), reference: None }
    }

    #[test]
    fn statuses_round_trip_their_names() {
        for status in ResultStatus::ALL {
            assert_eq!(ResultStatus::parse(status.as_str()), Some(status));
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
        assert_eq!(ResultStatus::parse("done"), None);
    }

    #[test]
    fn transitions_are_guarded() {
        let mut result = ResultRecord::pending(0, charger());
        assert!(result.admits(&Expect::Uncalled));
        assert!(!result.admits(&Expect::Call("a".into())));
        result.call_id = Some("a".into());
        assert!(!result.admits(&Expect::Uncalled));
        assert!(result.admits(&Expect::Call("a".into())));
        assert!(!result.admits(&Expect::Call("b".into())));
        result.apply(Outcome::sent(serde_json::json!({"status": "Accepted"})));
        assert_eq!(result.message.as_deref(), Some("Accepted"));
        assert!(!result.admits(&Expect::Call("a".into())), "an ended result admits nothing");
        assert!(!ResultRecord::skipped(1, "x".into()).admits(&Expect::Uncalled));
    }

    #[test]
    fn counters_add_up_to_completion() {
        let mut counters = Counters::default();
        for status in ResultStatus::ALL {
            counters.count(status);
        }
        assert_eq!(counters.terminal(), 4);
        let mut other = Counters::default();
        other.merge(&counters);
        assert_eq!(other, counters);
    }
}
