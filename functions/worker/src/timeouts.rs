//! The timeouts of the CALLs one worker batch posted: one `Timeouts` message per run per batch
//! (not one per CALL), delayed to the latest of their expiries plus the answer grace. When it comes,
//! the batch's read (`Known`) tells which of its results still wait for their CALL's answer; only
//! those are ended `error` (conditionally on the CALL: an answer recorded meanwhile wins) and their
//! chargers' slots freed. An answered CALL costs its timeout no request of its own.

use chrono::{DateTime, Duration, Utc};
use shared::domain::{Expect, Outcome, ResultStatus};
use shared::ports::Outgoing;
use shared::queue_message::{release_slot, DispatchMessage, TimedCall, ANSWER_GRACE_SECONDS};
use shared::Result;
use uuid::Uuid;

use crate::dispatch::{delay_until, ReadyCall};
use crate::known::Known;
use crate::WorkerContext;

/// `items` (each of a run, due at a time) gathered by run, in order of first appearance, each run
/// due at the latest of its items: what one timer message per run per batch carries.
pub fn per_run<T>(items: impl IntoIterator<Item = (Uuid, T, DateTime<Utc>)>) -> Vec<(Uuid, Vec<T>, DateTime<Utc>)> {
    let mut by_run: Vec<(Uuid, Vec<T>, DateTime<Utc>)> = Vec::new();
    for (run, item, due) in items {
        match by_run.iter_mut().find(|(r, ..)| *r == run) {
            Some((_, items, latest)) => {
                items.push(item);
                *latest = (*latest).max(due);
            }
            None => by_run.push((run, vec![item], due)),
        }
    }
    by_run
}

/// The `Timeouts` messages of a batch's ready CALLs: one per run.
pub fn messages(ready: &[&ReadyCall]) -> Vec<Outgoing<DispatchMessage>> {
    let grace = Duration::seconds(ANSWER_GRACE_SECONDS.into());
    per_run(ready.iter().map(|call| {
        let (run, timed, expires_at) = call.timed();
        (run, timed, expires_at + grace)
    }))
    .into_iter()
    .map(|(run, calls, not_before)| Outgoing {
        delay_seconds: delay_until(not_before),
        message: DispatchMessage::Timeouts { run, calls, not_before: Some(not_before) },
    })
    .collect()
}

/// A `Timeouts` message come due; `why` names a message the queue gave up on (dead-lettered).
pub async fn expire(ctx: &WorkerContext, known: &Known, message: &DispatchMessage, why: Option<&str>) -> Result<()> {
    let (run, calls, not_before) = match message {
        DispatchMessage::Timeouts { run, calls, not_before } => (*run, calls.clone(), *not_before),
        DispatchMessage::Timeout { run, seq, charger, identity, call_id, not_before } => {
            let call = TimedCall { seq: *seq, charger: *charger, identity: identity.clone(), call_id: call_id.clone() };
            (*run, vec![call], *not_before)
        }
        _ => return Ok(()),
    };
    if why.is_none() && not_before.is_some_and(|at| at > Utc::now() + Duration::milliseconds(500)) {
        // Arrived early (a timeout beyond SQS's longest delay): wait again.
        let delay = not_before.map_or(0, delay_until);
        return ctx.queue.send(vec![Outgoing { message: message.clone(), delay_seconds: delay }]).await;
    }
    let reason = match ctx.plans.get(ctx.runs.as_ref(), run).await? {
        Some(plan) => format!("timeout: no answer within {} s", plan.timeout_seconds),
        None => "timeout: no answer".to_owned(),
    };
    let reason = match why {
        Some(why) => format!("{reason} (the timeout message {why})"),
        None => reason,
    };
    let ended = calls.iter().map(|call| expire_one(ctx, known, run, call, &reason));
    futures::future::try_join_all(ended).await.map(|_| ())
}

async fn expire_one(ctx: &WorkerContext, known: &Known, run: Uuid, call: &TimedCall, reason: &str) -> Result<()> {
    let Some(result) = known.result(ctx, run, call.seq).await? else {
        return Ok(());
    };
    if result.status != ResultStatus::Pending || result.call_id.as_deref() != Some(call.call_id.as_str()) {
        // Answered (its answer freed the slot), or ended otherwise.
        return Ok(());
    }
    if ctx.runs.finish(run, call.seq, &Expect::Call(call.call_id.clone()), Outcome::timeout(reason)).await? {
        tracing::info!(run = %run, charger = %call.charger, identity = call.identity, call = call.call_id, "CALL timed out");
    }
    release_slot(ctx.inflight.as_ref(), ctx.queue.as_ref(), &call.identity, &call.call_id).await
}
