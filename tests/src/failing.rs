//! A `RunStore` whose `finish` keeps failing the way a contended DynamoDB item does (a cancelled
//! transaction, a throttle after the SDK's retries): a transient error, for its first `failures`
//! calls. Everything else passes through to the real store; every call is counted in `calls`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use shared::domain::report::{KeptPart, ReportPart, ReportSummary};
use shared::domain::rollout::RolloutState;
use shared::domain::{Expect, FollowUp, Outcome, ResultRecord, ResultStatus, Run};
use shared::ports::{CallClaim, Called, Gate, InflightCall, RunKey, RunStore};
use shared::{Error, Result};
use uuid::Uuid;

pub struct FailingFinish {
    inner: Arc<dyn RunStore>,
    failures: AtomicU64,
    /// Calls of any method so far.
    pub calls: Arc<AtomicU64>,
}

impl FailingFinish {
    /// A cancelled transaction, while failures are left to inject.
    fn fail_if_due(&self) -> Result<()> {
        match self.failures.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1)) {
            Ok(_) => Err(Error::transient("dynamodb", "transaction cancelled: [\"None\", \"TransactionConflict\"]")),
            Err(_) => Ok(()),
        }
    }

    pub fn new(inner: Arc<dyn RunStore>, failures: u64) -> Self {
        FailingFinish { inner, failures: AtomicU64::new(failures), calls: Arc::default() }
    }
}

#[async_trait]
impl RunStore for FailingFinish {
    async fn create_run(&self, run: &Run, results: Vec<ResultRecord>) -> Result<()> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.inner.create_run(run, results).await
    }
    async fn create_run_shell(&self, run: &Run) -> Result<()> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.inner.create_run_shell(run).await
    }
    async fn write_results(&self, run: Uuid, chunk: u32, results: Vec<ResultRecord>) -> Result<bool> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.inner.write_results(run, chunk, results).await
    }
    async fn cancel(&self, run: Uuid, at: DateTime<Utc>, reason: Option<&str>) -> Result<bool> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.inner.cancel(run, at, reason).await
    }

    async fn gate(&self, run: Uuid) -> Result<Gate> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.inner.gate(run).await
    }

    async fn set_held(&self, run: Uuid, held: bool, rev: u32) -> Result<bool> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.inner.set_held(run, held, rev).await
    }

    async fn advance_rollout(&self, run: Uuid, next: &RolloutState) -> Result<bool> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.inner.advance_rollout(run, next).await
    }

    async fn cancelled_at(&self, run: Uuid) -> Result<Option<DateTime<Utc>>> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.inner.cancelled_at(run).await
    }

    async fn add_retry(&self, run: Uuid, retry: Uuid) -> Result<()> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.inner.add_retry(run, retry).await
    }

    /// Fails as `finish` does: an outcome's change is a transaction on the same items.
    async fn advance_follow_up(&self, run: Uuid, seq: u64, next: &FollowUp) -> Result<bool> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.fail_if_due()?;
        self.inner.advance_follow_up(run, seq, next).await
    }

    async fn add_report_part(&self, run: Uuid, seq: u64, part: &ReportPart) -> Result<bool> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.inner.add_report_part(run, seq, part).await
    }

    async fn report(&self, run: Uuid, seq: u64) -> Result<Option<(ReportSummary, Vec<KeptPart>)>> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.inner.report(run, seq).await
    }

    async fn run(&self, id: Uuid) -> Result<Option<Run>> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.inner.run(id).await
    }
    // Forwarded, not left to the trait's default (a whole `run`): the functions read a run's plan
    // this way, and on AWS a whole read makes calls their policies do not grant (the IAM check
    // found it).
    async fn definition(&self, id: Uuid) -> Result<Option<Run>> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.inner.definition(id).await
    }
    async fn results(
        &self,
        run: Uuid,
        status: Option<ResultStatus>,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<ResultRecord>> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.inner.results(run, status, after, limit).await
    }
    async fn runs_of(&self, owner: &str, before: Option<&RunKey>, limit: usize) -> Result<Vec<Run>> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.inner.runs_of(owner, before, limit).await
    }
    async fn result(&self, run: Uuid, seq: u64) -> Result<Option<ResultRecord>> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.inner.result(run, seq).await
    }
    async fn mark_called(&self, run: Uuid, seq: u64, call: &Called, at: DateTime<Utc>) -> Result<bool> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.inner.mark_called(run, seq, call, at).await
    }
    async fn unmark_called(&self, run: Uuid, seq: u64, call_id: &str) -> Result<bool> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.inner.unmark_called(run, seq, call_id).await
    }
    async fn claim_call(
        &self,
        identity: &str,
        call: &InflightCall,
        free_before: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<Option<CallClaim>> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.inner.claim_call(identity, call, free_before, at).await
    }
    async fn finish(&self, run: Uuid, seq: u64, expect: &Expect, outcome: Outcome) -> Result<bool> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.fail_if_due()?;
        self.inner.finish(run, seq, expect, outcome).await
    }
    async fn finish_answered(
        &self,
        run: Uuid,
        seq: u64,
        expect: &Expect,
        outcome: Outcome,
        identity: &str,
    ) -> Result<(bool, bool)> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.fail_if_due()?;
        self.inner.finish_answered(run, seq, expect, outcome, identity).await
    }
}
