//! The in-process store: tokens, chargers, runs with their results, in-flight CALLs, connections.
//! Locks are std locks held only for a few map operations, never across an await. Each run has
//! its own lock, so runs never contend with each other.

use crate::sync::{locked, read, write};
use crate::window::WindowCounts;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::fleet::Provisioned;
use crate::domain::report::{Admission, KeptPart, ReportPart, ReportSummary};
use crate::domain::rollout::RolloutState;
use crate::domain::{
    Charger, Expect, FollowKind, FollowState, FollowUp, Identity, Outcome, ResultRecord, ResultStatus, Run,
};
use crate::error::{Error, Result};
use crate::messages::FollowExpected;
use crate::ports::{Called, ChargerDirectory, Gate, RunKey, RunStore, TokenStore};

pub(super) struct RunEntry {
    pub(super) run: Run,
    /// Indexed by `seq`; `None` until a run created in chunks has its chunk written.
    results: Vec<Option<ResultRecord>>,
    /// The chunks written of a run created in chunks.
    chunks: std::collections::HashSet<u32>,
    /// The webhook's bookkeeping beside what the run shows (`webhooks.rs`).
    pub(super) hook: super::webhooks::HookBookkeeping,
    /// By result position: the report parts kept, by `seqNo` (`None`: kept without its data), and the
    /// report's summary, which its result shows a copy of (`ReportSummary::shown_on_result`).
    reports: HashMap<u64, (KeptParts, ReportSummary)>,
    /// New CALLs wait (`RunStore::set_held`), as of this rollout revision.
    pub(super) held: (bool, u32),
    /// Why it was cancelled, when not by a request.
    pub(super) cancel_reason: Option<String>,
}

/// A report's parts kept, by `seqNo` (`None`: kept without its data).
type KeptParts = BTreeMap<u32, Option<Vec<serde_json::Value>>>;

/// The result at `seq` of a run's results, when it is written.
fn result_at(results: &mut [Option<ResultRecord>], seq: u64) -> Option<&mut ResultRecord> {
    let result = results.get_mut(usize::try_from(seq).ok()?)?.as_mut()?;
    (result.seq == seq).then_some(result)
}

impl RunEntry {
    pub(super) fn result_mut(&mut self, seq: u64) -> Option<&mut ResultRecord> {
        result_at(&mut self.results, seq)
    }

    /// Completes the run, once, when nothing of it is left to end (`Run::is_complete`).
    pub(super) fn complete_if_done(&mut self) {
        if self.run.completed_at.is_none() && self.run.is_complete() {
            self.run.completed_at = Some(Utc::now());
        }
    }

    fn insert(store: &MemoryStore, run: &Run, results: Vec<Option<ResultRecord>>) -> Result<()> {
        let entry = RunEntry {
            run: run.clone(),
            results,
            chunks: Default::default(),
            hook: Default::default(),
            reports: Default::default(),
            held: (false, 0),
            cancel_reason: None,
        };
        {
            let mut runs = write(&store.runs);
            if runs.contains_key(&run.id) {
                return Err(Error::internal("memory store", format!("run {} already exists", run.id)));
            }
            runs.insert(run.id, Arc::new(Mutex::new(entry)));
        }
        write(&store.runs_by_owner).entry(run.owner.clone()).or_default().push(run.id);
        Ok(())
    }
}

/// Which result a charger's status notifications go to, and until when.
pub(super) type FollowKept = (FollowExpected, DateTime<Utc>);

/// An `Idempotency-Key`'s run, body fingerprint and expiry, under (user, key).
type IdempotencyEntry = (Uuid, String, DateTime<Utc>);

#[derive(Default)]
pub struct MemoryStore {
    tokens: RwLock<HashMap<String, Identity>>,
    chargers: RwLock<HashMap<Uuid, Charger>>,
    charger_ids: RwLock<HashMap<String, Uuid>>,
    runs: RwLock<HashMap<Uuid, Arc<Mutex<RunEntry>>>>,
    runs_by_owner: RwLock<HashMap<String, Vec<Uuid>>>,
    /// identity → its in-flight CALL and the messages waiting for the slot, by result.
    pub(super) inflight: Mutex<HashMap<String, super::connections::Slot>>,
    pub(super) connections: Mutex<super::connections::Connections>,
    /// (identity, request id) → the result a charger's report goes to (`connections.rs`).
    pub(super) reports: Mutex<HashMap<(String, i64), super::connections::Expected>>,
    /// (identity, kind) → the result a charger's status notifications go to, and until when.
    pub(super) follows: Mutex<HashMap<(String, FollowKind), FollowKept>>,
    pub(super) idempotency: Mutex<HashMap<(String, String), IdempotencyEntry>>,
    /// Requests per user (or source) and minute.
    pub(super) rate: WindowCounts,
    /// CALLs taken of the stack-wide budget in the current second (`requests.rs`).
    pub(super) pace: WindowCounts,
    /// Each user's webhook secret version.
    pub(super) webhook_secrets: Mutex<HashMap<String, u32>>,
    /// The fleet view (`fleet_states.rs`).
    pub fleet: Arc<super::fleet_states::MemoryFleet>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Loads a provisioned fleet (tokens and chargers), replacing entries with the same keys.
    pub fn import(&self, fleet: &Provisioned) {
        let mut tokens = write(&self.tokens);
        for (hash, identity) in &fleet.tokens {
            tokens.insert(hash.clone(), identity.clone());
        }
        let mut chargers = write(&self.chargers);
        let mut ids = write(&self.charger_ids);
        for charger in &fleet.chargers {
            ids.insert(charger.identity.clone(), charger.uuid);
            chargers.insert(charger.uuid, charger.clone());
        }
        self.fleet.import(&fleet.chargers);
    }

    pub(super) fn entry(&self, run: Uuid) -> Option<Arc<Mutex<RunEntry>>> {
        read(&self.runs).get(&run).cloned()
    }
}

#[async_trait]
impl TokenStore for MemoryStore {
    async fn identity_for_token_hash(&self, hash: &str) -> Result<Option<Identity>> {
        Ok(read(&self.tokens).get(hash).cloned())
    }
}

#[async_trait]
impl ChargerDirectory for MemoryStore {
    async fn chargers_by_uuid(&self, ids: &[Uuid]) -> Result<Vec<Charger>> {
        let chargers = read(&self.chargers);
        Ok(ids.iter().filter_map(|id| chargers.get(id).cloned()).collect())
    }

    async fn charger_by_identity(&self, identity: &str) -> Result<Option<Charger>> {
        let Some(id) = read(&self.charger_ids).get(identity).copied() else {
            return Ok(None);
        };
        Ok(read(&self.chargers).get(&id).cloned())
    }
}

#[async_trait]
impl RunStore for MemoryStore {
    async fn create_run(&self, run: &Run, results: Vec<ResultRecord>) -> Result<()> {
        if results.iter().enumerate().any(|(i, r)| r.seq != i as u64) {
            return Err(Error::internal("memory store", "results must be numbered 0..n in order"));
        }
        RunEntry::insert(self, run, results.into_iter().map(Some).collect())
    }

    async fn create_run_shell(&self, run: &Run) -> Result<()> {
        let total = usize::try_from(run.total_count).map_err(|e| Error::internal("memory store", e))?;
        RunEntry::insert(self, run, vec![None; total])
    }

    async fn write_results(&self, run: Uuid, chunk: u32, results: Vec<ResultRecord>) -> Result<bool> {
        let Some(entry) = self.entry(run) else {
            return Err(Error::internal("memory store", format!("results for run {run}, which does not exist")));
        };
        let mut entry = locked(&entry);
        if !entry.chunks.insert(chunk) {
            return Ok(false);
        }
        for result in results {
            let (seq, status) = (result.seq, result.status);
            match usize::try_from(seq).ok().and_then(|seq| entry.results.get_mut(seq)) {
                Some(slot) if slot.is_none() => *slot = Some(result),
                _ => {
                    return Err(Error::internal(
                        "memory store",
                        format!("result {seq} of run {run} is no slot to fill"),
                    ))
                }
            }
            entry.run.counters.count(status);
        }
        entry.complete_if_done();
        Ok(true)
    }

    async fn run(&self, id: Uuid) -> Result<Option<Run>> {
        Ok(self.entry(id).map(|entry| locked(&entry).run.clone()))
    }

    async fn cancel(&self, run: Uuid, at: DateTime<Utc>, reason: Option<&str>) -> Result<bool> {
        let Some(entry) = self.entry(run) else {
            return Ok(false);
        };
        let mut entry = locked(&entry);
        if entry.run.cancelled_at.is_some() {
            return Ok(false);
        }
        entry.run.cancelled_at = Some(at);
        entry.cancel_reason = reason.map(str::to_owned);
        Ok(true)
    }

    async fn cancelled_at(&self, run: Uuid) -> Result<Option<DateTime<Utc>>> {
        Ok(self.entry(run).and_then(|entry| locked(&entry).run.cancelled_at))
    }

    async fn gate(&self, run: Uuid) -> Result<Gate> {
        Ok(self.gate_of(run))
    }

    async fn set_held(&self, run: Uuid, held: bool, rev: u32) -> Result<bool> {
        Ok(self.hold(run, held, rev))
    }

    async fn advance_rollout(&self, run: Uuid, next: &RolloutState) -> Result<bool> {
        Ok(self.rollout_to(run, next))
    }

    async fn add_retry(&self, run: Uuid, retry: Uuid) -> Result<()> {
        if let Some(entry) = self.entry(run) {
            let retries = &mut locked(&entry).run.retries;
            if !retries.contains(&retry) {
                retries.push(retry);
                retries.sort();
            }
        }
        Ok(())
    }

    async fn results(
        &self,
        run: Uuid,
        status: Option<ResultStatus>,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<ResultRecord>> {
        let Some(entry) = self.entry(run) else {
            return Ok(Vec::new());
        };
        let entry = locked(&entry);
        // Indexed by seq: the page starts right after `after`.
        let start = after.map_or(0, |seq| usize::try_from(seq.saturating_add(1)).unwrap_or(usize::MAX));
        Ok(entry
            .results
            .iter()
            .skip(start)
            .flatten()
            .filter(|r| status.is_none_or(|s| r.status == s))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn runs_of(&self, owner: &str, before: Option<&RunKey>, limit: usize) -> Result<Vec<Run>> {
        let ids = read(&self.runs_by_owner).get(owner).cloned().unwrap_or_default();
        let mut runs: Vec<Run> = ids.iter().filter_map(|id| self.entry(*id)).map(|e| locked(&e).run.clone()).collect();
        runs.sort_by_key(|r| std::cmp::Reverse((r.created_at, r.id)));
        Ok(runs
            .into_iter()
            .filter(|r| before.is_none_or(|k| (r.created_at, r.id) < (k.created_at, k.id)))
            .take(limit)
            .collect())
    }

    async fn result(&self, run: Uuid, seq: u64) -> Result<Option<ResultRecord>> {
        let Some(entry) = self.entry(run) else {
            return Ok(None);
        };
        let mut entry = locked(&entry);
        Ok(entry.result_mut(seq).map(|r| r.clone()))
    }

    async fn mark_called(&self, run: Uuid, seq: u64, call: &Called, at: DateTime<Utc>) -> Result<bool> {
        let Some(entry) = self.entry(run) else {
            return Ok(false);
        };
        let mut entry = locked(&entry);
        let Some(result) = entry.result_mut(seq) else {
            return Ok(false);
        };
        if !result.admits(&Expect::Uncalled) {
            return Ok(false);
        }
        result.call_id = Some(call.call_id.clone());
        result.call_expires_at = Some(call.due);
        result.executed_at = Some(at);
        Ok(true)
    }

    async fn unmark_called(&self, run: Uuid, seq: u64, call_id: &str) -> Result<bool> {
        let Some(entry) = self.entry(run) else {
            return Ok(false);
        };
        let mut entry = locked(&entry);
        let Some(result) = entry.result_mut(seq) else {
            return Ok(false);
        };
        if !result.admits(&Expect::Call(call_id.to_owned())) {
            return Ok(false);
        }
        result.call_id = None;
        result.executed_at = None;
        Ok(true)
    }

    async fn finish(&self, run: Uuid, seq: u64, expect: &Expect, outcome: Outcome) -> Result<bool> {
        let Some(entry) = self.entry(run) else {
            return Ok(false);
        };
        let mut entry = locked(&entry);
        let Some(result) = entry.result_mut(seq) else {
            return Ok(false);
        };
        if !result.admits(expect) {
            return Ok(false);
        }
        let status = outcome.status;
        let ended = outcome.follow_up.as_ref().map(|follow| follow.state);
        let timed_out = u64::from(outcome.timed_out);
        result.apply(outcome);
        entry.run.counters.count(status);
        entry.run.counters.timeout += timed_out;
        entry.run.counters.add_outcome(ended.unwrap_or(FollowState::Open), 1);
        entry.complete_if_done();
        Ok(true)
    }

    async fn advance_follow_up(&self, run: Uuid, seq: u64, next: &FollowUp) -> Result<bool> {
        Ok(self.follow_up_to(run, seq, next))
    }

    async fn add_report_part(&self, run: Uuid, seq: u64, part: &ReportPart) -> Result<bool> {
        let Some(entry) = self.entry(run) else {
            return Ok(false);
        };
        let mut entry = locked(&entry);
        let RunEntry { results, reports, .. } = &mut *entry;
        let Some(result) = result_at(results, seq) else {
            return Ok(false);
        };
        let (parts, summary) = reports.entry(seq).or_default();
        if parts.contains_key(&part.seq_no) {
            return Ok(false);
        }
        let text = part.data_text();
        let bytes = text.len() as u64;
        let admission = summary.admit(bytes);
        if admission == Admission::Refused {
            return Ok(false);
        }
        summary.count(part, bytes, admission);
        parts.insert(part.seq_no, (admission == Admission::WithData).then(|| part.data.clone()));
        if summary.shown_on_result() {
            result.report = Some(summary.clone());
        }
        Ok(true)
    }

    async fn report(&self, run: Uuid, seq: u64) -> Result<Option<(ReportSummary, Vec<KeptPart>)>> {
        let Some(entry) = self.entry(run) else {
            return Ok(None);
        };
        let entry = locked(&entry);
        Ok(entry.reports.get(&seq).map(|(parts, summary)| (summary.clone(), parts.values().cloned().collect())))
    }
}
