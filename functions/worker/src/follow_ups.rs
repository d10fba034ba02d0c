//! The outcome timeouts of a run that follows outcomes (`shared::domain::follow_up`): one
//! `FollowUps` message per run per worker batch, queued with the batch's CALL timeouts, due when the
//! latest of its CALLs' outcome timeouts can have run out. When it comes, each result whose outcome
//! is still open and due has its charger asked once for its status notification (TriggerMessage,
//! as OCPP allows: a lost notification is then not a failure); one asked before and still silent
//! after the trigger's grace is `stalled`. Those still open are looked at again when next due.
//!
//! A timer is a queue message, delayed at most 900 s at a time: an outcome timeout of hours is a
//! chain of messages, which Lambda's recursive-loop detection would cut after 16 hops but for the
//! worker's `RecursiveLoop: Allow` (template.yaml).

use chrono::{DateTime, Duration, Utc};
use shared::domain::ResultStatus;
use shared::domain::{FollowKind, FollowUp, OutcomePolicy, ResultRecord};
use shared::follow_ups::{advance, Followed};
use shared::ocpp::{call_id, encode_call};
use shared::ports::{InflightCall, Outgoing, PostError};
use shared::queue_message::ANSWER_GRACE_SECONDS;
use shared::queue_message::{release_slot, DispatchMessage};
use shared::Result;
use uuid::Uuid;

use crate::dispatch::{delay_until, ReadyCall};
use crate::plans::RunPlan;
use crate::WorkerContext;

/// How soon an outcome whose trigger waits for a held run is looked at again.
const HELD_LOOK_SECONDS: i64 = 60;

/// The `FollowUps` messages of a batch's ready CALLs that start a followed job: one per run.
pub fn messages(ready: &[&ReadyCall]) -> Vec<Outgoing<DispatchMessage>> {
    crate::timeouts::per_run(ready.iter().filter_map(|call| call.followed()))
        .into_iter()
        .map(|(run, seqs, not_before)| Outgoing {
            delay_seconds: delay_until(not_before),
            message: DispatchMessage::FollowUps { run, seqs, not_before },
        })
        .collect()
}

/// A `FollowUps` message come (or come early: it waits again).
pub async fn check(ctx: &WorkerContext, run: Uuid, seqs: &[u64], not_before: DateTime<Utc>) -> Result<()> {
    let now = Utc::now();
    if not_before > now + Duration::milliseconds(500) {
        return again(ctx, run, seqs.to_vec(), not_before).await;
    }
    let Some(plan) = ctx.plans.get(ctx.runs.as_ref(), run).await? else {
        return Ok(());
    };
    let Some(policy) = plan.outcome.clone() else {
        return Ok(());
    };
    let keys: Vec<(Uuid, u64)> = seqs.iter().map(|seq| (run, *seq)).collect();
    let results = ctx.runs.results_at(&keys).await?;
    // A charger is not asked while its run holds new CALLs (paused, outside its window).
    let held = ctx.plans.gate(ctx.runs.as_ref(), run).await?.holds_calls();
    let mut later: Vec<(u64, DateTime<Utc>)> = Vec::new();
    for (_, result) in results {
        if result.status == ResultStatus::Pending && result.call_id.is_some() {
            // Its answer is not recorded yet (a backlog, an answer handed off): looked at again once
            // its CALL's timeout has surely come.
            let answered_by =
                now + Duration::seconds(i64::from(plan.timeout_seconds) + i64::from(ANSWER_GRACE_SECONDS));
            later.push((result.seq, answered_by));
            continue;
        }
        let Some(follow) = result.follow_up.clone().filter(|f| !f.state.is_final()) else {
            continue;
        };
        let due = follow.due(&policy);
        if due > now + Duration::seconds(1) {
            later.push((result.seq, due));
            continue;
        }
        if held && follow.triggered_at.is_none() {
            later.push((result.seq, now + Duration::seconds(HELD_LOOK_SECONDS)));
            continue;
        }
        match follow.triggered_at {
            None => {
                // Claimed first, so a duplicated message never asks twice; then asked.
                let claimed =
                    advance(ctx.runs.as_ref(), run, result.seq, |f| f.triggered(now, "TriggerMessage")).await?;
                if claimed == Followed::Moved {
                    let note = trigger(ctx, &plan, run, &result).await;
                    if note != "TriggerMessage sent" {
                        advance(ctx.runs.as_ref(), run, result.seq, |f| f.notified(&note, false, Utc::now())).await?;
                    }
                }
                later.push((result.seq, now + policy.trigger_grace()));
            }
            Some(_) => {
                let stalled = advance(ctx.runs.as_ref(), run, result.seq, |f| stall(f, &policy, now)).await?;
                tracing::info!(run = %run, seq = result.seq, ?stalled, "outcome stalled");
            }
        }
    }
    if later.is_empty() {
        return Ok(());
    }
    let not_before = later.iter().map(|(_, due)| *due).max().unwrap_or(now);
    again(ctx, run, later.into_iter().map(|(seq, _)| seq).collect(), not_before).await
}

/// Stalled, when still open and its trigger's grace is over (a notification may have come since
/// the results were read: the change is made to what is there).
fn stall(follow: &FollowUp, policy: &OutcomePolicy, now: DateTime<Utc>) -> Option<FollowUp> {
    (follow.due(policy) <= now + Duration::seconds(1)).then(|| follow.stalled(policy, now)).flatten()
}

async fn again(ctx: &WorkerContext, run: Uuid, seqs: Vec<u64>, not_before: DateTime<Utc>) -> Result<()> {
    let message = DispatchMessage::FollowUps { run, seqs, not_before };
    ctx.queue.send(vec![Outgoing { delay_seconds: delay_until(not_before), message }]).await
}

/// Asks the result's charger for its status notification again: TriggerMessage (or the security
/// extension's ExtendedTriggerMessage) through the charger's slot, as any CALL (its answer, matched
/// to no pending result, only frees the slot). Returns the step the follow-up records.
async fn trigger(ctx: &WorkerContext, plan: &RunPlan, run: Uuid, result: &ResultRecord) -> String {
    let Some(charger) = &result.charger else {
        return "TriggerMessage not sent: no charger".to_owned();
    };
    let identity = charger.identity.as_str();
    let connection = match ctx.connections.connection_of(identity).await {
        Ok(Some(connection)) => connection,
        Ok(None) => return "TriggerMessage not sent: charger offline".to_owned(),
        Err(err) => return format!("TriggerMessage not sent: {err}"),
    };
    let sent = plan.of(connection.version);
    let Some((action, payload)) = FollowKind::trigger(connection.version, &sent.action) else {
        return "TriggerMessage not sent: the charger's OCPP version has no trigger for it".to_owned();
    };
    let call = InflightCall {
        call_id: call_id::encode(run, result.seq),
        action: action.to_owned(),
        run,
        charger: charger.uuid,
        seq: result.seq,
        expires_at: Utc::now() + Duration::seconds(plan.timeout_seconds.into()),
    };
    match ctx.inflight.acquire(identity, &call, Utc::now()).await {
        Ok(true) => {}
        Ok(false) => return "TriggerMessage not sent: charger busy with another CALL".to_owned(),
        Err(err) => return format!("TriggerMessage not sent: {err}"),
    }
    let Ok(payload) = serde_json::value::to_raw_value(&payload) else {
        return "TriggerMessage not sent: unencodable".to_owned();
    };
    let frame = encode_call(&call.call_id, action, &payload);
    match ctx.gateway.post(&connection.id, &frame).await {
        Ok(()) => {
            tracing::info!(run = %run, identity, "charger asked for its status again");
            "TriggerMessage sent".to_owned()
        }
        // A 5xx or a network fault: it may have reached the charger; the slot expires on its own.
        Err(PostError::Failed(err)) if err.is_retryable() => format!("{action} sent (its delivery is unsure)"),
        Err(err) => {
            if let Err(free) = release_slot(ctx.inflight.as_ref(), ctx.queue.as_ref(), identity, &call.call_id).await {
                tracing::warn!(error = %free, "freeing the slot of an undelivered trigger failed (it expires)");
            }
            format!("{action} not sent: {err}")
        }
    }
}
