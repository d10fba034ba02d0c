//! POST /v3/chargers/commands/bulk/{run}/pause and …/resume: a pause keeps new CALLs from starting
//! (those already out end as they do); a resume lets them go again, and lets a rollout held after a
//! wave open its next. Both write the run's rollout state (conditional on its revision: a pause
//! never undoes the watch's step, nor the watch a pause), then the small mark every dispatch reads
//! (`RunStore::set_held`). A dispatch that found the run held was dropped: the resume queues the
//! sweep that dispatches those results again (`worker/src/rollouts.rs`).

use chrono::Utc;
use shared::domain::rollout::RolloutState;
use shared::domain::Run;
use shared::plans::HELD_KNOWN_AFTER_SECONDS;
use shared::ports::Outgoing;
use shared::queue_message::DispatchMessage;
use shared::{Error, Result};

use crate::ApiContext;

/// How often a change is tried again when the run's watch wrote meanwhile.
const ATTEMPTS: usize = 5;

pub async fn pause(ctx: &ApiContext, run: &Run) -> Result<Run> {
    let run = change(ctx, run, |state| {
        if state.paused_at.is_some() {
            return Err(Error::InState("The run is paused already.".into()));
        }
        let mut next = state.next();
        next.paused_at = Some(Utc::now());
        Ok(next)
    })
    .await?;
    ctx.runs.set_held(run.id, true).await?;
    tracing::info!(run = %run.id, "run paused");
    Ok(run)
}

pub async fn resume(ctx: &ApiContext, run: &Run) -> Result<Run> {
    let run = change(ctx, run, |state| {
        if !state.is_paused() {
            return Err(Error::InState("The run is not paused.".into()));
        }
        let mut next = state.next();
        next.paused_at = None;
        next.held = None;
        Ok(next)
    })
    .await?;
    ctx.runs.set_held(run.id, run.rollout_state.holds_calls()).await?;
    let released = if run.rollout.is_some() { run.rollout_state.released } else { run.total_count };
    let sweep = DispatchMessage::Redispatch { run: run.id, released, after: None };
    ctx.queue.send(vec![Outgoing { message: sweep, delay_seconds: HELD_KNOWN_AFTER_SECONDS }]).await?;
    tracing::info!(run = %run.id, "run resumed");
    Ok(run)
}

/// Writes what `next` makes of the run's rollout state, read again and retried when the watch
/// wrote meanwhile. A run that ended (completed, cancelled, aborted) takes neither: 422.
async fn change(ctx: &ApiContext, run: &Run, next: impl Fn(&RolloutState) -> Result<RolloutState>) -> Result<Run> {
    let mut run = run.clone();
    for _ in 0..ATTEMPTS {
        if run.completed_at.is_some() || run.cancelled_at.is_some() || run.rollout_state.aborted_at.is_some() {
            return Err(Error::invalid(
                "run",
                "The run has ended (completed, cancelled or aborted): it cannot be paused or resumed.",
            ));
        }
        let state = next(&run.rollout_state)?;
        if ctx.runs.advance_rollout(run.id, &state).await? {
            run.rollout_state = state;
            return Ok(run);
        }
        run = ctx.runs.run(run.id).await?.ok_or(Error::NotFound)?;
    }
    Err(Error::transient("api", "the run kept changing while it was paused or resumed"))
}
