//! One message, in two steps so a batch's timeout messages go out in one send. `prepare` does
//! everything up to taking the charger's in-flight slot (and ends `Timeout` messages there);
//! `fire` marks the result called and posts the CALL, once the batch's timeouts are queued.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use shared::dispatch::{
    release_slot, DispatchMessage, ANSWER_GRACE_SECONDS, BUSY_RETRY_SECONDS, HANDSHAKE_GRACE_SECONDS, MAX_DELAY_SECONDS,
};
use shared::domain::{Expect, Outcome};
use shared::ocpp::encode_call;
use shared::ports::{InflightCall, LiveConnection, Outgoing, PostError};
use shared::Result;
use uuid::Uuid;

use crate::plans::RunPlan;
use crate::WorkerContext;

/// Where a message stands after `prepare`.
pub enum Step {
    /// Nothing more to do (duplicate, offline, re-queued, timed out, …).
    Done,
    /// The charger's slot is taken for this CALL: queue its timeout, then `fire` it.
    Ready(ReadyCall),
}

pub struct ReadyCall {
    /// When the CALL may go (a rate-limited rollout's slot, less than a second away).
    start: DateTime<Utc>,
    identity: String,
    connection: LiveConnection,
    call: InflightCall,
    plan: Arc<RunPlan>,
}

impl ReadyCall {
    /// The message that fails this CALL if it is still unanswered after the run's timeout.
    pub fn timeout(&self) -> Outgoing<DispatchMessage> {
        let not_before = self.call.expires_at + Duration::seconds(ANSWER_GRACE_SECONDS.into());
        Outgoing {
            message: DispatchMessage::Timeout {
                run: self.call.run,
                seq: self.call.seq,
                charger: self.call.charger,
                identity: self.identity.clone(),
                call_id: self.call.call_id.clone(),
                not_before: Some(not_before),
            },
            delay_seconds: delay_until(not_before),
        }
    }

    /// Gives the charger's slot back (the CALL will not be sent).
    pub async fn abandon(self, ctx: &WorkerContext) -> Result<()> {
        release_slot(ctx.inflight.as_ref(), ctx.queue.as_ref(), &self.identity, &self.call.call_id).await
    }
}

/// The queue delay that makes a message arrive at `at` (rounded up; SQS delays at most 900 s).
fn delay_until(at: DateTime<Utc>) -> u32 {
    let millis = (at - Utc::now()).num_milliseconds().max(0).unsigned_abs();
    u32::try_from(millis.div_ceil(1000)).unwrap_or(MAX_DELAY_SECONDS).min(MAX_DELAY_SECONDS)
}

/// Sends `message` back to the queue to arrive after `delay_seconds`.
async fn requeue(ctx: &WorkerContext, message: &DispatchMessage, delay_seconds: u32) -> Result<()> {
    ctx.queue.send(vec![Outgoing { message: message.clone(), delay_seconds }]).await
}

pub async fn prepare(ctx: &WorkerContext, message: &DispatchMessage) -> Result<Step> {
    let (run, seq, charger, identity, not_before) = match message {
        DispatchMessage::Dispatch { run, seq, charger, identity, not_before } => {
            (*run, *seq, *charger, identity, *not_before)
        }
        DispatchMessage::Timeout { run, seq, identity, call_id, not_before, .. } => {
            if not_before.is_some_and(|at| at > Utc::now() + Duration::milliseconds(500)) {
                // Arrived early (a timeout beyond SQS's longest delay): wait again.
                requeue(ctx, message, not_before.map_or(0, delay_until)).await?;
                return Ok(Step::Done);
            }
            let timeout = match ctx.plans.get(ctx.runs.as_ref(), *run).await? {
                Some(plan) => format!("timeout: no answer within {} s", plan.timeout_seconds),
                None => "timeout: no answer".to_owned(),
            };
            if ctx.runs.finish(*run, *seq, &Expect::Call(call_id.clone()), Outcome::error(timeout)).await? {
                tracing::info!(call = %call_id, "CALL timed out");
            }
            release_slot(ctx.inflight.as_ref(), ctx.queue.as_ref(), identity, call_id).await?;
            return Ok(Step::Done);
        }
        DispatchMessage::Answer(_) => return Ok(Step::Done),
    };
    let Some(plan) = ctx.plans.get(ctx.runs.as_ref(), run).await? else {
        tracing::warn!("message for an unknown run dropped");
        return Ok(Step::Done);
    };
    let Some(result) = ctx.runs.result(run, seq).await? else {
        tracing::warn!("message for an unknown result dropped");
        return Ok(Step::Done);
    };
    if !result.admits(&Expect::Uncalled) {
        tracing::debug!(status = result.status.as_str(), "already dispatched or ended");
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
    let Some(connection) = ctx.connections.connection_of(identity).await? else {
        if ctx.runs.finish(run, seq, &Expect::Uncalled, Outcome::offline("no live connection", Utc::now())).await? {
            tracing::info!("charger offline at dispatch");
        }
        return Ok(Step::Done);
    };
    let now = Utc::now();
    let start = start.max(now);
    let call = InflightCall {
        call_id: Uuid::new_v4().to_string(),
        action: plan.action.clone(),
        run,
        charger,
        seq,
        expires_at: start + Duration::seconds(plan.timeout_seconds.into()),
    };
    if !ctx.inflight.acquire(identity, &call, now).await? {
        let Some(held) = ctx.inflight.current(identity).await? else {
            // Released in between: try again at once.
            requeue(ctx, message, 0).await?;
            return Ok(Step::Done);
        };
        if held.run == run && held.seq == seq {
            tracing::debug!("a duplicate delivery: this result's CALL is already in flight");
            return Ok(Step::Done);
        }
        wait_for(ctx, identity, &held, message).await?;
        return Ok(Step::Done);
    }
    Ok(Step::Ready(ReadyCall { start, identity: identity.clone(), connection, call, plan }))
}

/// A charger busy with another CALL: the message is parked on the slot, to be woken when the
/// held CALL is answered, and a backstop copy comes back just after the held CALL's expiry (with
/// jitter, so the waiters of one charger do not return together). Two messages per wait at most.
async fn wait_for(ctx: &WorkerContext, identity: &str, held: &InflightCall, message: &DispatchMessage) -> Result<()> {
    let parked = ctx.inflight.wait(identity, &held.call_id, message).await?;
    let jitter = Duration::milliseconds(fastrand::i64(0..2_000));
    let backstop = if parked { delay_until(held.expires_at + jitter).max(BUSY_RETRY_SECONDS) } else { 0 };
    tracing::debug!(parked, backstop, "charger busy with another CALL; waiting for it");
    requeue(ctx, message, backstop).await
}

/// Marks the result called (conditionally: one CALL per result, ever) and posts the frame.
pub async fn fire(ctx: &WorkerContext, ready: ReadyCall) -> Result<()> {
    let ReadyCall { start, identity, connection, call, plan } = ready;
    if let Ok(wait) = (start - Utc::now()).to_std() {
        tokio::time::sleep(wait).await;
    }
    let release = || release_slot(ctx.inflight.as_ref(), ctx.queue.as_ref(), &identity, &call.call_id);
    if !ctx.runs.mark_called(call.run, call.seq, &call.call_id, Utc::now()).await? {
        release().await?;
        tracing::debug!("lost the race to dispatch this result");
        return Ok(());
    }
    let frame = encode_call(&call.call_id, &plan.action, &plan.payload_json);
    let failure = match ctx.gateway.post(&connection.id, &frame).await {
        Ok(()) => {
            tracing::debug!(call = %call.call_id, "CALL posted");
            return Ok(());
        }
        Err(PostError::Gone) if Utc::now() - connection.since < Duration::seconds(HANDSHAKE_GRACE_SECONDS) => {
            // API Gateway answers Gone until the handshake that `$connect` accepted completes:
            // the charger is there. Take the CALL back and try again shortly.
            tracing::info!(connection = %connection.id, "connection not open yet; the CALL waits for it");
            return undelivered(ctx, &call, &identity, BUSY_RETRY_SECONDS).await;
        }
        Err(PostError::Gone) => {
            ctx.connections.unregister(&connection.id).await?;
            Outcome::offline("connection gone", Utc::now())
        }
        Err(PostError::Failed(err)) if err.is_retryable() => {
            // Throttled (429) or a 5xx beyond the SDK's retries: nothing was delivered.
            tracing::warn!(error = %err, "posting the CALL failed; it will be tried again");
            undelivered(ctx, &call, &identity, 0).await?;
            return Err(err);
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
