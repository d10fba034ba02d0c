//! One message, in two steps so a batch's timeout messages go out in one send. `prepare` does
//! everything up to taking the charger's in-flight slot (and ends `Timeout` messages there);
//! `fire` marks the result called and posts the CALL, once the batch's timeouts are queued.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use shared::dispatch::{DispatchMessage, BUSY_RETRY_SECONDS, MAX_DELAY_SECONDS};
use shared::domain::{Expect, Outcome};
use shared::ocpp::encode_call;
use shared::ports::{InflightCall, Outgoing, PostError};
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
    connection: String,
    call: InflightCall,
    plan: Arc<RunPlan>,
}

impl ReadyCall {
    /// The message that fails this CALL if it is still unanswered after the run's timeout.
    pub fn timeout(&self) -> Outgoing<DispatchMessage> {
        Outgoing {
            message: DispatchMessage::Timeout {
                run: self.call.run,
                seq: self.call.seq,
                charger: self.call.charger,
                identity: self.identity.clone(),
                call_id: self.call.call_id.clone(),
            },
            // Never before the CALL's own expiry: a paced CALL starts up to a second from now.
            delay_seconds: self.plan.timeout_seconds + u32::from(self.start > Utc::now()),
        }
    }

    /// Gives the charger's slot back (the CALL will not be sent).
    pub async fn abandon(self, ctx: &WorkerContext) -> Result<()> {
        ctx.inflight.release(&self.identity, &self.call.call_id).await
    }
}

pub async fn prepare(ctx: &WorkerContext, message: &DispatchMessage) -> Result<Step> {
    let Some(plan) = ctx.plans.get(ctx.runs.as_ref(), message.run()).await? else {
        tracing::warn!("message for an unknown run dropped");
        return Ok(Step::Done);
    };
    let seq = message.seq();
    let (run, charger, identity, not_before) = match message {
        DispatchMessage::Dispatch { run, charger, identity, not_before, .. } => (*run, *charger, identity, *not_before),
        DispatchMessage::Timeout { run, identity, call_id, .. } => {
            let outcome = Outcome::error(format!("timeout: no answer within {} s", plan.timeout_seconds));
            if ctx.runs.finish(*run, seq, &Expect::Call(call_id.clone()), outcome).await? {
                tracing::info!(call = %call_id, "CALL timed out");
            }
            ctx.inflight.release(identity, call_id).await?;
            return Ok(Step::Done);
        }
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
        ctx.queue.send(vec![Outgoing { message: message.clone(), delay_seconds: delay }]).await?;
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
        let held = ctx.inflight.current(identity).await?;
        if held.is_some_and(|held| held.run == run && held.seq == seq) {
            tracing::debug!("a duplicate delivery: this result's CALL is already in flight");
            return Ok(Step::Done);
        }
        tracing::debug!("charger busy with another CALL; re-queued");
        ctx.queue.send(vec![Outgoing { message: message.clone(), delay_seconds: BUSY_RETRY_SECONDS }]).await?;
        return Ok(Step::Done);
    }
    Ok(Step::Ready(ReadyCall { start, identity: identity.clone(), connection, call, plan }))
}

/// Marks the result called (conditionally: one CALL per result, ever) and posts the frame.
pub async fn fire(ctx: &WorkerContext, ready: ReadyCall) -> Result<()> {
    let ReadyCall { start, identity, connection, call, plan } = ready;
    if let Ok(wait) = (start - Utc::now()).to_std() {
        tokio::time::sleep(wait).await;
    }
    if !ctx.runs.mark_called(call.run, call.seq, &call.call_id, Utc::now()).await? {
        ctx.inflight.release(&identity, &call.call_id).await?;
        tracing::debug!("lost the race to dispatch this result");
        return Ok(());
    }
    let frame = encode_call(&call.call_id, &plan.action, &plan.payload_json);
    let failure = match ctx.gateway.post(&connection, &frame).await {
        Ok(()) => {
            tracing::debug!(call = %call.call_id, "CALL posted");
            return Ok(());
        }
        Err(PostError::Gone) => {
            ctx.connections.unregister(&connection).await?;
            Outcome::offline("connection gone", Utc::now())
        }
        Err(PostError::Failed(err)) => {
            tracing::error!(error = %err, "posting the CALL failed");
            Outcome::error("dispatch failed: the charger's connection could not be reached")
        }
    };
    ctx.runs.finish(call.run, call.seq, &Expect::Call(call.call_id.clone()), failure).await?;
    ctx.inflight.release(&identity, &call.call_id).await
}
