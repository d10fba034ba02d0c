//! The ports every handler talks through. Each trait is one capability, so a handler asks only for
//! what it uses. Two adapter sets implement them: embedded (in-process) and AWS (SDK clients).
//!
//! Every method that changes a result or a run is a conditional write: it reports whether the
//! change happened, and a duplicate or late caller gets `false` and changes nothing.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::charger_state::{Boot, ChargerState, ConnectorKey, ConnectorStatus, FleetFilter, FleetKey};
use crate::domain::report::{KeptPart, ReportPart, ReportSummary};
use crate::domain::rollout::RolloutState;
use crate::domain::webhook::AttemptOutcome;
use crate::domain::{Charger, Expect, Identity, OcppVersion, Outcome, ResultRecord, ResultStatus, Run};
use crate::domain::{FollowKind, FollowUp};
use crate::error::{Error, Result};
pub use crate::messages::InflightCall;
use crate::messages::{DispatchMessage, FollowExpected, ReportExpected};

mod gate;
mod rates;
pub use gate::Gate;
pub use rates::{DispatchBudget, RateDecision, RateLimiter};

#[async_trait]
pub trait TokenStore: Send + Sync {
    /// The identity behind a token, looked up by the token's SHA-256 (see `access::token_hash`).
    async fn identity_for_token_hash(&self, hash: &str) -> Result<Option<Identity>>;
}

#[async_trait]
pub trait ChargerDirectory: Send + Sync {
    /// The known chargers among `ids` (any number: the adapter splits the lookup as its store
    /// requires); unknown ids are simply absent from the answer.
    async fn chargers_by_uuid(&self, ids: &[Uuid]) -> Result<Vec<Charger>>;
    async fn charger_by_identity(&self, identity: &str) -> Result<Option<Charger>>;
}

/// Where a listing of a user's runs resumes: the last run seen, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunKey {
    pub created_at: DateTime<Utc>,
    pub id: Uuid,
}

#[async_trait]
pub trait RunStore: Send + Sync {
    /// Stores a new run with all its results (pending and skipped).
    async fn create_run(&self, run: &Run, results: Vec<ResultRecord>) -> Result<()>;
    /// Stores a new run whose results come later, a chunk at a time (`write_results`): each of its
    /// `total_count` results counts as pending until it ends. Its META is written last.
    async fn create_run_shell(&self, run: &Run) -> Result<()>;
    /// Writes chunk `chunk` of a run created with `create_run_shell`, once: its results pending,
    /// or `skipped_forbidden` and counted so. `false` when the chunk was written before (a
    /// repeated message), and nothing is.
    async fn write_results(&self, run: Uuid, chunk: u32, results: Vec<ResultRecord>) -> Result<bool>;
    async fn run(&self, id: Uuid) -> Result<Option<Run>>;
    /// A run as it was created, its counters not summed: what never changes (command, payload,
    /// timeout, owner, pace) in one read where `run` would take more.
    async fn definition(&self, id: Uuid) -> Result<Option<Run>> {
        self.run(id).await
    }
    /// Up to `limit` results in request order after position `after`, optionally of one status.
    /// A result is keyed by `(run, seq)`: its position in the request.
    async fn results(
        &self,
        run: Uuid,
        status: Option<ResultStatus>,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<ResultRecord>>;
    /// Up to `limit` of an owner's runs, newest first, older than `before`.
    async fn runs_of(&self, owner: &str, before: Option<&RunKey>, limit: usize) -> Result<Vec<Run>>;
    async fn result(&self, run: Uuid, seq: u64) -> Result<Option<ResultRecord>>;
    /// The results at `keys` (run, position) that exist, with their run, in no particular order:
    /// any number of keys, read in as few requests as the store allows.
    async fn results_at(&self, keys: &[(Uuid, u64)]) -> Result<Vec<(Uuid, ResultRecord)>> {
        let mut found = Vec::with_capacity(keys.len());
        for (run, seq) in keys {
            if let Some(result) = self.result(*run, *seq).await? {
                found.push((*run, result));
            }
        }
        Ok(found)
    }
    /// Records that CALL `call.call_id`, answer due at `call.due`, is being posted for a pending,
    /// not yet called result.
    /// `false`: it was already called or is no longer pending (a duplicate delivery).
    async fn mark_called(&self, run: Uuid, seq: u64, call: &Called, at: DateTime<Utc>) -> Result<bool>;
    /// Takes charger `identity`'s in-flight slot for `call` (free, or expired before `free_before`)
    /// and marks its result called, in one write, where the store can (`InflightCalls::acquire`
    /// and `mark_called` in one). `None` where it cannot: the caller takes the two steps.
    async fn claim_call(
        &self,
        identity: &str,
        call: &InflightCall,
        free_before: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<Option<CallClaim>> {
        let _ = (identity, call, free_before, at);
        Ok(None)
    }
    /// Moves a result out of `pending` if `expect` holds, counting it in the run in the same
    /// atomic step (the run completes when next read with nothing pending). `false`: nothing changed.
    async fn finish(&self, run: Uuid, seq: u64, expect: &Expect, outcome: Outcome) -> Result<bool>;
    /// `finish` for a charger's answer (`Expect::Answer`), which may also free the charger
    /// `identity`'s in-flight slot in the same write, where the store can: `(counted, freed)`.
    /// When the slot was not freed here, the caller frees it (`release_slot`).
    async fn finish_answered(
        &self,
        run: Uuid,
        seq: u64,
        expect: &Expect,
        outcome: Outcome,
        identity: &str,
    ) -> Result<(bool, bool)> {
        let _ = identity;
        Ok((self.finish(run, seq, expect, outcome).await?, false))
    }

    /// Replaces the follow-up of the result at `seq` with `next` if the one there is still at
    /// revision `next.rev - 1` (`FollowUp::rev`), counting `next.state` in the run when it ends
    /// the follow-up, in the same atomic step. `false`: it changed meanwhile (or is gone), and
    /// nothing was written.
    async fn advance_follow_up(&self, run: Uuid, seq: u64, next: &FollowUp) -> Result<bool>;

    /// Keeps a report part for the result at `seq`, once per `seqNo`, as `ReportSummary::admit` says.
    /// `false`: it was there, or not kept, or the result is not.
    async fn add_report_part(&self, run: Uuid, seq: u64, part: &ReportPart) -> Result<bool>;
    /// The report gathered for the result at `seq`, its parts in `seqNo` order.
    async fn report(&self, run: Uuid, seq: u64) -> Result<Option<(ReportSummary, Vec<KeptPart>)>>;

    /// Records that `retry` retries `run`'s failures (idempotent: once per pair).
    async fn add_retry(&self, run: Uuid, retry: Uuid) -> Result<()>;

    /// Marks `run` cancelled at `at`, once, and why when something other than a request stopped it
    /// (`reason`: an abort threshold crossed): `false` when it was already (or does not exist).
    async fn cancel(&self, run: Uuid, at: DateTime<Utc>, reason: Option<&str>) -> Result<bool>;

    /// When `run` was cancelled, if it was: one small read, for the worker's check before a CALL.
    async fn cancelled_at(&self, run: Uuid) -> Result<Option<DateTime<Utc>>>;
    /// What the worker checks before a CALL, in one small read: the cancel, and whether new CALLs
    /// wait (`set_held`).
    async fn gate(&self, run: Uuid) -> Result<Gate>;
    /// Says whether new CALLs of `run` wait (paused, or its rollout outside its window): what `gate`
    /// reads. The rollout state (`advance_rollout`) is written first and says why; `rev` is its
    /// revision, and a mark written for a later revision is never overwritten by an earlier one (a
    /// pause and the watch writing at once leave the mark of the newer state).
    /// `false`: a later revision's mark was there, and nothing was written.
    async fn set_held(&self, run: Uuid, held: bool, rev: u32) -> Result<bool>;
    /// Replaces the run's rollout state with `next` if the one stored is still at revision
    /// `next.rev - 1`. `false`: it changed meanwhile (or the run is gone), and nothing was written.
    async fn advance_rollout(&self, run: Uuid, next: &RolloutState) -> Result<bool>;
    /// Takes `mark_called` back for a CALL that was never delivered (API Gateway refused it), so
    /// the result can be dispatched again. `false`: the result is no longer pending with that CALL.
    async fn unmark_called(&self, run: Uuid, seq: u64, call_id: &str) -> Result<bool>;
}

/// A run's webhook state (`crate::webhook`), kept on the run; every change conditional, so a
/// duplicated queue message neither sends an event twice nor counts an attempt twice.
#[async_trait]
pub trait RunWebhooks: Send + Sync {
    /// Claims step `step` of the run's watch (`webhook` module) until `lease_until`: it follows an
    /// earlier step, or is the same step whose lease ran out before it was done (its worker died).
    async fn claim_watch(&self, run: Uuid, step: u32, lease_until: DateTime<Utc>) -> Result<Claim>;
    /// Step `step` queued its successor (or ended the watch): a late copy of it does nothing.
    async fn watch_done(&self, run: Uuid, step: u32) -> Result<()>;
    /// Records that the progress event for `tenth` goes out. `false`: it (or a later one) went.
    async fn progress_sent(&self, run: Uuid, tenth: u8) -> Result<bool>;
    /// Claims attempt `attempt` (≥ 1) of the completion event, until `lease_until`: it follows
    /// attempt `attempt - 1`, or is the same attempt whose lease ran out before its outcome was
    /// recorded (its worker died).
    async fn claim_attempt(&self, run: Uuid, attempt: u32, lease_until: DateTime<Utc>) -> Result<Claim>;
    /// Records the outcome of attempt `attempt`, if it is still the latest.
    async fn record_attempt(&self, run: Uuid, attempt: u32, outcome: &AttemptOutcome) -> Result<()>;
}

/// What became of a claim on a step of work that duplicated messages may race for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Ours, until the lease ends.
    Claimed,
    /// Another worker holds it now: try again after its lease.
    Held,
    /// Done already (or superseded): nothing to do.
    Done,
}

/// Each user's webhook secret version (the secret itself is derived, `webhook::WebhookKey`).
#[async_trait]
pub trait WebhookSecrets: Send + Sync {
    async fn secret_version(&self, user: &str) -> Result<Option<u32>>;
    /// Moves `user` to a new version (the first is 1); returns it.
    async fn rotate_secret(&self, user: &str) -> Result<u32>;
}

/// What became of taking a charger's slot and marking the result called (`RunStore::claim_call`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallClaim {
    /// Both done: the CALL goes out.
    Taken,
    /// The result is no longer pending and uncalled (a duplicate, a race lost): nothing to send.
    Ended,
    /// Another CALL holds the charger's slot (`None`: none did by the time it was looked at).
    Held(Option<InflightCall>),
}

/// A CALL about to be posted for a result: its message id, and when its answer is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Called {
    pub call_id: String,
    pub due: DateTime<Utc>,
}

impl Called {
    pub fn new(call_id: impl Into<String>, due: DateTime<Utc>) -> Self {
        Called { call_id: call_id.into(), due }
    }
}

/// What became of a message that waits for a charger's slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parking {
    /// Parked: the release wakes it.
    Parked,
    /// A copy of it was already parked on this holder.
    AlreadyParked,
    /// The slot no longer holds that CALL.
    NotHeld,
}

/// The key a waiting message is parked under: its result.
pub fn waiter_key(message: &DispatchMessage) -> String {
    match message.result_key() {
        Some((run, seq)) => format!("{run}#{seq}"),
        None => String::new(),
    }
}

#[async_trait]
pub trait InflightCalls: Send + Sync {
    /// Takes the charger's slot if it is free or expired; `true` too when `call` holds it already
    /// (its expiry moved to `call`'s, its waiters kept). `false`: another CALL holds it.
    async fn acquire(&self, identity: &str, call: &InflightCall, now: DateTime<Utc>) -> Result<bool>;
    async fn current(&self, identity: &str) -> Result<Option<InflightCall>>;
    /// Parks `message` on the slot while `held_call_id` holds it, to be woken when it is released.
    /// A message is parked once per holder, keyed by its result.
    async fn wait(&self, identity: &str, held_call_id: &str, message: &DispatchMessage) -> Result<Parking>;
    /// Frees the slot if `call_id` still holds it; returns the messages parked on it.
    async fn release(&self, identity: &str, call_id: &str) -> Result<Vec<DispatchMessage>>;
    /// Keeps which result `identity`'s report `request_id` goes to (replacing one of that id), a day.
    async fn expect_report(&self, identity: &str, report: &ReportExpected, now: DateTime<Utc>) -> Result<()>;
    /// Which result the charger's report `request_id` goes to, if one was asked for.
    async fn report_expected(&self, identity: &str, request_id: i64) -> Result<Option<ReportExpected>>;
    /// Keeps which result `identity`'s status notifications of `expected.kind` go to (replacing
    /// the one before: a charger does one such job at a time), `FOLLOW_KEPT_DAYS`.
    async fn expect_follow_up(&self, identity: &str, expected: &FollowExpected, now: DateTime<Utc>) -> Result<()>;
    /// Which result `identity`'s status notifications of `kind` go to, if any.
    async fn follow_up_expected(&self, identity: &str, kind: FollowKind) -> Result<Option<FollowExpected>>;
}

/// A charger's live connection, and when it was registered (at `$connect`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveConnection {
    pub id: String,
    pub since: DateTime<Utc>,
    /// The OCPP version negotiated at its handshake.
    pub version: OcppVersion,
}

#[async_trait]
pub trait ConnectionRegistry: Send + Sync {
    /// Makes `connection` the charger's live connection; returns the id of the one it replaces.
    async fn register(&self, identity: &str, connection: &LiveConnection) -> Result<Option<String>>;
    async fn connection_of(&self, identity: &str) -> Result<Option<LiveConnection>>;
    /// The live connections of those of `identities` that have one, in as few requests as the
    /// store allows.
    async fn connections_of(&self, identities: &[String]) -> Result<Vec<(String, LiveConnection)>> {
        let mut found = Vec::with_capacity(identities.len());
        for identity in identities {
            if let Some(connection) = self.connection_of(identity).await? {
                found.push((identity.clone(), connection));
            }
        }
        Ok(found)
    }
    /// The charger a connection was registered for, and the version it speaks.
    async fn identity_of(&self, connection_id: &str) -> Result<Option<(String, OcppVersion)>>;
    /// Forgets a connection; the charger's mapping goes only if it still points to it. Returns the
    /// identity the connection was registered for, if it was.
    async fn unregister(&self, connection_id: &str) -> Result<Option<String>>;
}

/// The fleet view (`domain::charger_state`): what chargers said of themselves, kept by the
/// WebSocket handler, listed by the API. Every charger of the directory has a state from import on.
/// Writes name the charger by identity; one for a charger the directory does not hold changes nothing.
#[async_trait]
pub trait FleetStates: Send + Sync {
    /// The charger connected on `connection` at `at` (also its last sign of life). Creates its state
    /// if it has none (a charger imported before the fleet view existed).
    async fn connected(
        &self,
        charger: &Charger,
        connection: &str,
        version: OcppVersion,
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// `connection` closed at `at`: the charger is disconnected unless a newer connection took over.
    async fn disconnected(&self, identity: &str, connection: &str, at: DateTime<Utc>) -> Result<()>;
    /// A BootNotification (also a sign of life).
    async fn booted(&self, identity: &str, boot: &Boot) -> Result<()>;
    /// A StatusNotification for `connector` (also a sign of life).
    async fn connector_status(&self, identity: &str, key: ConnectorKey, status: &ConnectorStatus) -> Result<()>;
    /// The stored `last_seen` (a cheap, eventually consistent read).
    async fn last_seen(&self, identity: &str) -> Result<Option<DateTime<Utc>>>;
    /// Any other sign of life, written when `last_seen_is_stale` says it is worth it.
    async fn seen(&self, identity: &str, at: DateTime<Utc>) -> Result<()>;
    /// Up to `limit` states of chargers in `teams` (sorted) after `after`, by team then uuid, read
    /// through `index`, whose index entries pass `filter.may_match`; the caller applies
    /// `filter.matches` to what comes back. Also returns where the listing stopped, when it
    /// stopped early: the next page starts after it. At most `scan` index entries are read for
    /// one page (the API's is `MAX_SCAN`), so a filter that matches few chargers of a big team
    /// answers in pages (some short) instead of reading the whole team at once.
    async fn page(
        &self,
        teams: &[String],
        index: FleetIndex<'_>,
        after: Option<&FleetKey>,
        limit: usize,
        scan: usize,
        filter: &FleetFilter,
    ) -> Result<(Vec<ChargerState>, Option<FleetKey>)>;
}

pub use crate::domain::charger_state::{FleetEntry, FleetIndex, MAX_SCAN};

#[derive(Debug, thiserror::Error)]
pub enum PostError {
    /// The connection is closed (API Gateway's GoneException / 410).
    #[error("connection gone")]
    Gone,
    /// Refused for now, nothing delivered (API Gateway's LimitExceededException / 429).
    #[error("throttled")]
    Throttled,
    #[error(transparent)]
    Failed(#[from] Error),
}

/// Sends frames to live charger connections: API Gateway's management API on AWS.
#[async_trait]
pub trait ConnectionGateway: Send + Sync {
    async fn post(&self, connection_id: &str, frame: &str) -> Result<(), PostError>;
    /// Closes a connection (a newer one replaced it). Closing a gone connection is not an error.
    async fn close(&self, connection_id: &str) -> Result<()>;
}

/// A message for the dispatch queue, with the delay before it may be received.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing<M> {
    pub message: M,
    pub delay_seconds: u32,
}

#[async_trait]
pub trait DispatchQueue: Send + Sync {
    /// Sends every message (the adapter batches); an error means some may not have been sent.
    async fn send(&self, messages: Vec<Outgoing<DispatchMessage>>) -> Result<()>;
}

/// What an `Idempotency-Key` already stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// The key is new (or expired): it now names this request's run.
    Claimed,
    /// The key names an earlier request: its run, the fingerprint of its body, and when the claim
    /// expires (it was made `IDEMPOTENCY_HOURS` before).
    Existing { run: Uuid, fingerprint: String, expires_at: DateTime<Utc> },
}

#[async_trait]
pub trait IdempotencyKeys: Send + Sync {
    /// Claims `key` for `user` (conditionally: one claim wins) until `expires_at`.
    async fn claim(
        &self,
        user: &str,
        key: &str,
        fingerprint: &str,
        run: Uuid,
        expires_at: DateTime<Utc>,
    ) -> Result<IdempotencyClaim>;
    /// Gives up a claim whose run could not be created, so a retry can succeed.
    async fn forget(&self, user: &str, key: &str, run: Uuid) -> Result<()>;
}
