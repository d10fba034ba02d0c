//! One dispatch, in two steps so a batch's timeout messages go out in one send. `prepare` checks
//! everything that needs no write; `fire`, once the batch's timeouts (`timeouts.rs`) are queued,
//! takes the charger's in-flight slot and marks the result called (one transaction on AWS), then
//! posts the CALL.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use shared::domain::{Expect, Outcome};
use shared::messages::{FollowExpected, ReportExpected};
use shared::ocpp::{call_id, encode_call};
use shared::ports::{CallClaim, Called, InflightCall, LiveConnection, Outgoing, Parking, PostError};
use shared::queue_message::{
    release_slot, DispatchMessage, TimedCall, ANSWER_GRACE_SECONDS, BUSY_RETRY_SECONDS, HANDSHAKE_GRACE_SECONDS,
    MAX_DELAY_SECONDS,
};
use shared::Result;
use uuid::Uuid;

use crate::known::Known;
use crate::plans::RunPlan;
use crate::WorkerContext;

/// Where a message stands after `prepare`.
pub enum Step {
    /// Nothing more to do (duplicate, offline, re-queued, timed out, …).
    Done,
    /// The CALL may go: queue its timeout, then `fire` it (which takes the charger's slot).
    Ready(Box<ReadyCall>),
}

pub struct ReadyCall {
    /// When the CALL may go (a rate-limited rollout's slot, less than a second away).
    start: DateTime<Utc>,
    identity: String,
    connection: LiveConnection,
    call: InflightCall,
    plan: Arc<RunPlan>,
    /// The message, to queue again should the charger be busy.
    message: DispatchMessage,
}

impl ReadyCall {
    /// The OCPP action it sends.
    pub fn action(&self) -> &str {
        &self.call.action
    }

    /// For a CALL that starts a job whose outcome its run follows: its run, its result, and when
    /// the outcome timeout can have run out at the latest (the CALL's expiry and the timeout).
    pub fn followed(&self) -> Option<(Uuid, u64, DateTime<Utc>)> {
        let policy = self.plan.outcome.as_ref()?;
        self.plan.of(self.connection.version).follow?;
        Some((self.call.run, self.call.seq, self.call.expires_at + policy.timeout()))
    }

    /// What this CALL's timeout message needs of it, its run, and when it expires.
    pub fn timed(&self) -> (Uuid, TimedCall, DateTime<Utc>) {
        let call = TimedCall {
            seq: self.call.seq,
            charger: self.call.charger,
            identity: self.identity.clone(),
            call_id: self.call.call_id.clone(),
        };
        (self.call.run, call, self.call.expires_at)
    }
}

/// The queue delay that makes a message arrive at `at` (rounded up; SQS delays at most 900 s).
pub(crate) fn delay_until(at: DateTime<Utc>) -> u32 {
    let millis = (at - Utc::now()).num_milliseconds().max(0).unsigned_abs();
    u32::try_from(millis.div_ceil(1000)).unwrap_or(MAX_DELAY_SECONDS).min(MAX_DELAY_SECONDS)
}

/// Sends `message` back to the queue to arrive after `delay_seconds`.
async fn requeue(ctx: &WorkerContext, message: &DispatchMessage, delay_seconds: u32) -> Result<()> {
    ctx.queue.send(vec![Outgoing { message: message.clone(), delay_seconds }]).await
}

pub async fn prepare(ctx: &WorkerContext, known: &Known, message: &DispatchMessage) -> Result<Step> {
    let DispatchMessage::Dispatch { run, seq, charger, identity, not_before } = message else {
        return Ok(Step::Done);
    };
    let (run, seq, charger, not_before) = (*run, *seq, *charger, *not_before);
    let Some(plan) = ctx.plans.get(ctx.runs.as_ref(), run).await? else {
        tracing::warn!("message for an unknown run dropped");
        return Ok(Step::Done);
    };
    let Some(result) = known.result(ctx, run, seq).await? else {
        tracing::warn!("message for an unknown result dropped");
        return Ok(Step::Done);
    };
    if !result.admits(&Expect::Uncalled) {
        tracing::debug!(status = result.status.as_str(), "already dispatched or ended");
        return Ok(Step::Done);
    }
    let mut gate = ctx.plans.gate(ctx.runs.as_ref(), run).await?;
    if gate.held {
        // Known held, perhaps a second ago: confirmed by a read of its own before the dispatch is
        // dropped, so one that comes just after a resume is never lost to a stale answer.
        gate = ctx.plans.gate_now(ctx.runs.as_ref(), run).await?;
    }
    if gate.cancelled_at.is_some() {
        // The sweep may not have reached it yet (or it came back after): it ends here.
        let ending = Outcome::error(crate::cancel::ending(gate.reason.as_deref()));
        ctx.runs.finish(run, seq, &Expect::Uncalled, ending).await?;
        return Ok(Step::Done);
    }
    if gate.held {
        // Paused, or outside its rollout's window: not sent now, and the message is done. The
        // resume (or the window's opening) dispatches it again (`rollouts::redispatch_page`).
        tracing::debug!("run held: the dispatch waits for its resume");
        return Ok(Step::Done);
    }
    let now = Utc::now();
    let start = not_before.filter(|at| *at > now).unwrap_or(now);
    let wait = (start - now).to_std().unwrap_or_default();
    if wait.as_secs() >= 1 {
        let delay = u32::try_from(wait.as_secs()).unwrap_or(MAX_DELAY_SECONDS).min(MAX_DELAY_SECONDS);
        requeue(ctx, message, delay).await?;
        return Ok(Step::Done);
    }
    let Some(connection) = known.connection(ctx, identity).await? else {
        if ctx.runs.finish(run, seq, &Expect::Uncalled, Outcome::offline("no live connection", Utc::now())).await? {
            tracing::info!("charger offline at dispatch");
        }
        return Ok(Step::Done);
    };
    if let Some(refusal) = &plan.of(connection.version).refusal {
        // A run may mix versions: this charger's version has no such command, or its schema
        // refuses the data. No CALL goes; the result says why.
        ctx.runs.finish(run, seq, &Expect::Uncalled, Outcome::error(refusal.clone())).await?;
        return Ok(Step::Done);
    }
    let now = Utc::now();
    let start = start.max(now);
    let call = InflightCall {
        call_id: call_id::encode(run, seq),
        action: plan.of(connection.version).action.clone(),
        run,
        charger,
        seq,
        expires_at: start + Duration::seconds(plan.timeout_seconds.into()),
    };
    Ok(Step::Ready(Box::new(ReadyCall {
        start,
        identity: identity.clone(),
        connection,
        call,
        plan,
        message: message.clone(),
    })))
}

/// Takes the charger's slot for `call` and marks its result called: one write where the store
/// can (`RunStore::claim_call`), else the slot first, then the mark.
async fn claim(ctx: &WorkerContext, identity: &str, call: &InflightCall) -> Result<CallClaim> {
    let now = Utc::now();
    // An expired slot is free only after the answer grace (a handed-off answer may still come).
    let free_before = now - grace();
    if let Some(claim) = ctx.runs.claim_call(identity, call, free_before, now).await? {
        return Ok(claim);
    }
    if !ctx.inflight.acquire(identity, call, free_before).await? {
        return Ok(CallClaim::Held(ctx.inflight.current(identity).await?));
    }
    if ctx.runs.mark_called(call.run, call.seq, &Called::new(&call.call_id, call.expires_at), now).await? {
        return Ok(CallClaim::Taken);
    }
    release_slot(ctx.inflight.as_ref(), ctx.queue.as_ref(), identity, &call.call_id).await?;
    Ok(CallClaim::Ended)
}

/// The charger's slot is held by `held`: wait for it.
async fn busy(
    ctx: &WorkerContext,
    identity: &str,
    call: &InflightCall,
    held: &InflightCall,
    message: &DispatchMessage,
) -> Result<()> {
    if held.run == call.run && held.seq == call.seq {
        // A slot left by an attempt that never marked its CALL (it crashed, or its write failed,
        // between the two steps): the result is still uncalled, so come back when that slot
        // expires; a duplicate delivery then finds the result called.
        tracing::debug!("this result's slot is taken by another attempt; back at its expiry");
        return requeue(ctx, message, delay_until(held.expires_at + grace() + jitter())).await;
    }
    wait_for(ctx, identity, held, message).await
}

/// A charger busy with another CALL: the message is parked on the slot, to be woken when the
/// held CALL is answered, and a backstop copy comes back just after the held CALL's expiry (with
/// jitter, so the waiters of one charger do not return together). Two messages per wait at most.
async fn wait_for(ctx: &WorkerContext, identity: &str, held: &InflightCall, message: &DispatchMessage) -> Result<()> {
    match ctx.inflight.wait(identity, &held.call_id, message).await? {
        // "Parked already" may be this very attempt, retried after its write was applied: it gets
        // its backstop too. Copies of one result per holder stay few: the release wakes one per
        // result, and a backstop comes after the holder's expiry, when it can no longer park there.
        parking @ (Parking::Parked | Parking::AlreadyParked) => {
            let backstop = delay_until(held.expires_at + grace() + jitter()).max(BUSY_RETRY_SECONDS);
            tracing::debug!(?parking, backstop, "charger busy with another CALL; parked on its slot");
            requeue(ctx, message, backstop).await
        }
        Parking::NotHeld => requeue(ctx, message, 0).await,
    }
}

fn grace() -> Duration {
    Duration::seconds(ANSWER_GRACE_SECONDS.into())
}

/// Up to two seconds, so the messages waiting for one charger do not come back together.
fn jitter() -> Duration {
    Duration::milliseconds(fastrand::i64(0..2_000))
}

/// Marks the result called (conditionally: one CALL per result, ever) and posts the frame.
pub async fn fire(ctx: &WorkerContext, ready: Box<ReadyCall>) -> Result<()> {
    let ReadyCall { start, identity, connection, call, plan, message } = *ready;
    if let Ok(wait) = (start - Utc::now()).to_std() {
        tokio::time::sleep(wait).await;
    }
    let release = || release_slot(ctx.inflight.as_ref(), ctx.queue.as_ref(), &identity, &call.call_id);
    match claim(ctx, &identity, &call).await {
        Ok(CallClaim::Ended) => {
            tracing::debug!("lost the race to dispatch this result");
            return Ok(());
        }
        // The claim took so long (retries, a brownout) that the CALL's timeout may have come and
        // gone while it was uncalled: posting it now could leave it to no timeout. Take it back.
        Ok(CallClaim::Taken) if Utc::now() >= call.expires_at => {
            tracing::warn!("the CALL expired while it was being claimed; it will be dispatched again");
            return undelivered(ctx, &call, &identity, BUSY_RETRY_SECONDS).await;
        }
        Ok(CallClaim::Taken) => {}
        // Released in between (or its holder could not be read): again in a moment.
        Ok(CallClaim::Held(None)) => return requeue(ctx, &message, BUSY_RETRY_SECONDS).await,
        Ok(CallClaim::Held(Some(held))) => return busy(ctx, &identity, &call, &held, &message).await,
        Err(err) => {
            // Perhaps applied, perhaps not: take it back (a no-op if it was not) and free the slot,
            // so the message's next delivery starts afresh. Best effort: the slot expires anyway.
            if let Err(undo) = undelivered(ctx, &call, &identity, 0).await {
                tracing::warn!(error = %undo, "could not take back a CALL whose marking failed");
            }
            return Err(err);
        }
    }
    let sent = plan.of(connection.version);
    if let Some(request_id) = sent.report {
        // Before the CALL, so no part of the report can come before it is expected.
        let report = ReportExpected { run: call.run, seq: call.seq, request_id };
        if let Err(err) = ctx.inflight.expect_report(&identity, &report, Utc::now()).await {
            // Not posted: take the CALL back; the message's next delivery tries again.
            if let Err(undo) = undelivered(ctx, &call, &identity, 0).await {
                tracing::warn!(error = %undo, "could not take back a CALL whose report could not be expected");
            }
            return Err(err);
        }
    }
    if let (Some((kind, request_id)), Some(policy)) = (sent.follow, &plan.outcome) {
        // Before the CALL, so no status notification of its job can come before it is expected.
        let firmware_version = policy.firmware_version.clone();
        let expected = FollowExpected { run: call.run, seq: call.seq, kind, request_id, firmware_version };
        if let Err(err) = ctx.inflight.expect_follow_up(&identity, &expected, Utc::now()).await {
            if let Err(undo) = undelivered(ctx, &call, &identity, 0).await {
                tracing::warn!(error = %undo, "could not take back a CALL whose outcome could not be expected");
            }
            return Err(err);
        }
    }
    let frame = encode_call(&call.call_id, &sent.action, &sent.payload);
    let failure = match ctx.gateway.post(&connection.id, &frame).await {
        Ok(()) => {
            tracing::debug!(call = %call.call_id, "CALL posted");
            return Ok(());
        }
        Err(PostError::Gone) if Utc::now() - connection.since < Duration::seconds(HANDSHAKE_GRACE_SECONDS) => {
            // API Gateway answers Gone until the handshake that `$connect` accepted completes:
            // the charger is there. Take the CALL back and try again shortly.
            tracing::info!("connection not open yet; the CALL waits for it");
            return undelivered(ctx, &call, &identity, BUSY_RETRY_SECONDS).await;
        }
        Err(PostError::Gone) => {
            ctx.connections.unregister(&connection.id).await?;
            Outcome::offline("connection gone", Utc::now())
        }
        Err(PostError::Throttled) => {
            // 429 beyond the SDK's retries: nothing was delivered. Again in a moment.
            tracing::warn!("posting the CALL was throttled; it will be tried again");
            let again = BUSY_RETRY_SECONDS + fastrand::u32(0..3);
            return undelivered(ctx, &call, &identity, again).await;
        }
        Err(PostError::Failed(err)) if err.is_retryable() => {
            // A 5xx or a network fault: the frame may have reached the charger. The CALL stays in
            // flight; its answer or its timeout ends it, never a second CALL.
            tracing::warn!(error = %err, "posting the CALL may have failed; its answer or its timeout decides");
            return Ok(());
        }
        Err(PostError::Failed(err)) => {
            tracing::error!(error = %err, "posting the CALL failed");
            Outcome::error("dispatch failed: the charger's connection could not be reached")
        }
    };
    ctx.runs.finish(call.run, call.seq, &Expect::Call(call.call_id.clone()), failure).await?;
    release().await
}

/// A CALL that was not delivered: the result is uncalled again, the slot freed, and (when
/// `requeue_after` is set) the dispatch comes back after that many seconds.
async fn undelivered(ctx: &WorkerContext, call: &InflightCall, identity: &str, requeue_after: u32) -> Result<()> {
    ctx.runs.unmark_called(call.run, call.seq, &call.call_id).await?;
    release_slot(ctx.inflight.as_ref(), ctx.queue.as_ref(), identity, &call.call_id).await?;
    if requeue_after > 0 {
        let message = DispatchMessage::Dispatch {
            run: call.run,
            seq: call.seq,
            charger: call.charger,
            identity: identity.to_owned(),
            not_before: None,
        };
        requeue(ctx, &message, requeue_after).await?;
    }
    Ok(())
}
