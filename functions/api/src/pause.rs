//! POST /v3/chargers/commands/bulk/{run}/pause and …/resume: a pause keeps new CALLs from starting
//! (those already out end as they do); a resume lets them go again, and lets a rollout held after a
//! wave open its next. Both write the run's rollout state (conditional on its revision: a pause
//! never undoes the watch's step, nor the watch a pause), then the small mark every dispatch reads
//! (`RunStore::set_held`, for that revision: a stale write never undoes a newer one). A dispatch
//! that found the run held was dropped: the resume queues the sweep that dispatches those results
//! again (`worker/src/rollouts.rs`). A pause of a paused run (or a resume of a running one) is a
//! 409, after writing the mark again: a request whose second write failed is finished by its retry.

use chrono::Utc;
use shared::domain::rollout::RolloutState;
use shared::domain::Run;
use shared::plans::HELD_KNOWN_AFTER_SECONDS;
use shared::ports::Outgoing;
use shared::queue_message::DispatchMessage;
use shared::retry::Backoff;
use shared::{Error, Result};

use crate::ApiContext;

/// How often a change is tried again when the run's watch wrote meanwhile.
const ATTEMPTS: usize = 5;

pub async fn pause(ctx: &ApiContext, run: &Run) -> Result<Run> {
    let (run, changed) = change(ctx, run, |state| {
        state.paused_at.is_none().then(|| RolloutState { paused_at: Some(Utc::now()), ..state.next() })
    })
    .await?;
    hold(ctx, &run, true).await?;
    if !changed {
        return Err(Error::InState("The run is paused already.".into()));
    }
    tracing::info!(run = %run.id, "run paused");
    Ok(run)
}

pub async fn resume(ctx: &ApiContext, run: &Run) -> Result<Run> {
    let now = Utc::now();
    // Its window as it stands now: outside it, the gate stays held (the watch opens it later).
    let outside = run.rollout.as_ref().and_then(|r| r.window.as_ref()).is_some_and(|w| w.opens_at(now).is_some());
    let (run, changed) = change(ctx, run, |state| {
        state.is_paused().then(|| RolloutState { paused_at: None, held: None, outside_window: outside, ..state.next() })
    })
    .await?;
    let held = run.rollout_state.holds_calls();
    hold(ctx, &run, held).await?;
    if !held {
        let released = if run.rollout.is_some() { run.rollout_state.released } else { run.total_count };
        let sweep = DispatchMessage::Redispatch { run: run.id, released, after: None, from: None };
        let message = Outgoing { message: sweep, delay_seconds: HELD_KNOWN_AFTER_SECONDS };
        Backoff::WRITE.run(|| ctx.queue.send(vec![message.clone()])).await?;
    }
    if !changed {
        return Err(Error::InState("The run is not paused.".into()));
    }
    tracing::info!(run = %run.id, "run resumed");
    Ok(run)
}

/// The gate for the run's state as written, retried on transient failures: a run without a rollout
/// has no watch to set it again later (only this request's retry, through its 409).
async fn hold(ctx: &ApiContext, run: &Run, held: bool) -> Result<()> {
    Backoff::WRITE.run(|| ctx.runs.set_held(run.id, held, run.rollout_state.rev)).await.map(drop)
}

/// Writes what `next` makes of the run's rollout state (`None`: it is so already), read again and
/// retried when the watch wrote meanwhile; returns the run as it stands, and whether this wrote it.
/// A run that ended (completed, cancelled, aborted) takes neither: 422.
async fn change(
    ctx: &ApiContext,
    run: &Run,
    next: impl Fn(&RolloutState) -> Option<RolloutState>,
) -> Result<(Run, bool)> {
    let mut run = run.clone();
    for _ in 0..ATTEMPTS {
        if run.completed_at.is_some() || run.cancelled_at.is_some() || run.rollout_state.aborted_at.is_some() {
            return Err(Error::invalid(
                "run",
                "The run has ended (completed, cancelled or aborted): it cannot be paused or resumed.",
            ));
        }
        let Some(state) = next(&run.rollout_state) else {
            return Ok((run, false));
        };
        if ctx.runs.advance_rollout(run.id, &state).await? {
            run.rollout_state = state;
            return Ok((run, true));
        }
        run = ctx.runs.run(run.id).await?.ok_or(Error::NotFound)?;
    }
    Err(Error::transient("api", "the run kept changing while it was paused or resumed"))
}
