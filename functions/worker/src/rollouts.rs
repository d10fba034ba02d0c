//! A run's rollout (`shared::domain::rollout`), driven by the run's watch (`webhooks::watch`): each
//! step looks at the run once and takes at most one step of its rollout — the abort threshold
//! checked as results land, the start time, the window, the next slice of the open wave released,
//! the wave's end, its hold, its soak, the next wave opened. Every change of the rollout's state is
//! conditional on its revision; one that loses to a pause or resume is looked at again at once.
//!
//! Nothing sleeps: a wait is the watch's next message, delayed (at most 900 s a hop, chained; the
//! worker's `RecursiveLoop: Allow` keeps Lambda from cutting the chain).

use chrono::{DateTime, Duration, Utc};
use shared::domain::rollout::{wave_hold, Rollout, RolloutState};
use shared::domain::{ResultRecord, ResultStatus, Run};
use shared::ports::Outgoing;
use shared::queue_message::DispatchMessage;
use shared::Result;

use crate::dispatch::delay_until;
use crate::WorkerContext;
use shared::plans::HELD_KNOWN_AFTER_SECONDS;

/// How often a rollout under way is looked at: its abort threshold, its wave's end.
pub const LOOK_EVERY_SECONDS: u32 = 2;
/// How often a paused (or held) rollout is looked at: a resume opens its next wave this soon.
const PAUSED_LOOK_SECONDS: u32 = 10;
/// How often a rollout that sends nothing more (aborted, cancelled) is looked at until it completes.
const ENDED_LOOK_SECONDS: u32 = 30;
/// Positions released per look (a rate-limited run releases one second's worth).
const RELEASE_SLICE: u64 = 1_000;

/// What a look came to: when to look again, and whether it aborted the run just now.
pub struct Look {
    pub delay_seconds: u32,
    pub aborted: bool,
}

fn again_in(delay_seconds: u32) -> Result<Look> {
    Ok(Look { delay_seconds, aborted: false })
}

/// One look at `run`, which has a rollout. It first makes the gate every dispatch reads agree with
/// the state (`reconcile`): a step cut short between its two writes is so finished by the next.
pub async fn look(ctx: &WorkerContext, run: &Run, rollout: &Rollout) -> Result<Look> {
    let state = &run.rollout_state;
    let now = Utc::now();
    // An abort finished here (cut short before) is told as one.
    let aborted = reconcile(ctx, run, state).await?;
    if run.completed_at.is_some() || run.cancelled_at.is_some() || state.aborted_at.is_some() {
        // Nothing is sent any more: only its completion is waited for.
        return Ok(Look { delay_seconds: ENDED_LOOK_SECONDS, aborted });
    }
    let follows = run.outcome.is_some();
    if let Some(reason) = rollout.abort.as_ref().and_then(|rule| rule.verdict(&run.counters, follows)) {
        let aborted = abort(ctx, run, reason).await?;
        return Ok(Look { delay_seconds: LOOK_EVERY_SECONDS, aborted });
    }
    if state.is_paused() {
        return again_in(PAUSED_LOOK_SECONDS);
    }
    if let Some(at) = rollout.start_at.filter(|at| *at > now && state.wave == 0) {
        return again_in(delay_until(at).max(1));
    }
    if let Some(window) = &rollout.window {
        let opens_at = window.opens_at(now);
        if opens_at.is_some() != state.outside_window {
            let mut next = state.next();
            next.outside_window = opens_at.is_some();
            if ctx.runs.advance_rollout(run.id, &next).await? {
                tracing::info!(run = %run.id, outside = next.outside_window, "its window closed or opened");
                sync_gate(ctx, run.id, state.holds_calls(), &next).await?;
            }
            // Released slices wait until every process knows the gate (`HELD_KNOWN_AFTER_SECONDS`).
            return again_in(opens_at.map_or(HELD_KNOWN_AFTER_SECONDS, |at| delay_until(at).max(1)));
        }
        if let Some(at) = opens_at {
            return again_in(delay_until(at).max(1));
        }
    }
    let ends = rollout.wave_ends(run.total_count);
    if state.wave == 0 {
        return open_wave(ctx, run, state).await;
    }
    let wave = state.wave as usize;
    let wave_end = ends.get(wave - 1).copied().unwrap_or(run.total_count);
    if state.released < wave_end {
        let slice = run.max_per_second.map_or(RELEASE_SLICE, u64::from).clamp(1, RELEASE_SLICE);
        let (reached, skipped) =
            release(ctx, run, rollout, state.released, wave_end.min(state.released + slice)).await?;
        if reached > state.released {
            let mut next = state.next();
            next.released = reached;
            next.released_skipped += skipped;
            ctx.runs.advance_rollout(run.id, &next).await?;
        }
        return again_in(1);
    }
    // The wave finished when every result released ended (skips of waves not yet released aside)
    // and, for a run that follows outcomes, every outcome.
    let unreleased_skips = run.counters.skipped.saturating_sub(state.released_skipped);
    let ended = run.counters.terminal().saturating_sub(unreleased_skips);
    let open = if follows { run.counters.sent.saturating_sub(run.counters.outcomes_final()) } else { 0 };
    if ended < state.released || open > 0 || wave >= ends.len() {
        return again_in(LOOK_EVERY_SECONDS);
    }
    let Some(done_at) = state.wave_done_at else {
        let mut next = state.next();
        next.wave_done_at = Some(now);
        next.held = wave_hold(rollout, state.wave, &state.mark, &run.counters, follows);
        if ctx.runs.advance_rollout(run.id, &next).await? {
            tracing::info!(run = %run.id, wave, held = next.held.as_deref().unwrap_or(""), "wave finished");
        }
        return again_in(1);
    };
    let soaked = done_at + Duration::seconds(rollout.soak_seconds.into());
    if soaked > now {
        return again_in(delay_until(soaked).max(1));
    }
    open_wave(ctx, run, state).await
}

/// Opens the next wave: the counters as it opens are kept, so its own counts are known at its end.
async fn open_wave(ctx: &WorkerContext, run: &Run, state: &RolloutState) -> Result<Look> {
    let mut next = state.next();
    next.wave += 1;
    next.wave_done_at = None;
    next.mark = run.counters;
    if ctx.runs.advance_rollout(run.id, &next).await? {
        tracing::info!(run = %run.id, wave = next.wave, "wave opened");
    }
    again_in(0)
}

/// Stops the run for good: its state says why, then it is cancelled with that reason (what was
/// not sent ends `error`, saying it), and the sweep queued (`cancel_aborted`). CALLs in flight end
/// as they do. `false`: another write came first (a pause): nothing was aborted now.
async fn abort(ctx: &WorkerContext, run: &Run, reason: String) -> Result<bool> {
    let now = Utc::now();
    let mut next = run.rollout_state.next();
    next.aborted_at = Some(now);
    next.abort_reason = Some(reason.clone());
    if !ctx.runs.advance_rollout(run.id, &next).await? {
        return Ok(false);
    }
    tracing::warn!(run = %run.id, reason, "run aborted");
    cancel_aborted(ctx, run.id, now, &reason).await?;
    Ok(true)
}

/// The abort's cancel: the sweep queued first (it carries the reason; the abort is decided, so
/// ending what was not sent is right even before the mark), then the run marked cancelled (the gate
/// every dispatch reads, then META). A failure anywhere leaves META unmarked, so the next look
/// (`reconcile`) does it all again; each step is idempotent.
async fn cancel_aborted(ctx: &WorkerContext, run: uuid::Uuid, at: DateTime<Utc>, reason: &str) -> Result<()> {
    let sweep = DispatchMessage::Cancel { run, after: None, reason: Some(reason.to_owned()) };
    ctx.queue.send(vec![Outgoing { message: sweep, delay_seconds: 0 }]).await?;
    ctx.runs.cancel(run, at, Some(reason)).await.map(drop)
}

/// Makes what every dispatch reads (the gate) agree with the rollout state as read: an abort's
/// cancel, and whether new CALLs wait. A step whose second write was lost (a crash, a failure) is
/// so finished at the next look; a gate held no more has what it dropped dispatched again.
/// `true` when it finished an abort.
async fn reconcile(ctx: &WorkerContext, run: &Run, state: &RolloutState) -> Result<bool> {
    if let (Some(at), Some(reason), None) = (state.aborted_at, &state.abort_reason, run.cancelled_at) {
        tracing::warn!(run = %run.id, "finishing an abort cut short");
        cancel_aborted(ctx, run.id, at, reason).await?;
        return Ok(true);
    }
    let gate = ctx.runs.gate(run.id).await?;
    if gate.held != state.holds_calls() && gate.cancelled_at.is_none() {
        tracing::warn!(run = %run.id, held = state.holds_calls(), "the gate disagreed with the rollout state: set again");
        sync_gate(ctx, run.id, gate.held, state).await?;
    }
    Ok(false)
}

/// The gate for `next` (written after it), and what a gate held before (`was_held`) dropped,
/// dispatched again when it holds no more and this write set it (a newer state's write may have).
async fn sync_gate(ctx: &WorkerContext, run: uuid::Uuid, was_held: bool, next: &RolloutState) -> Result<()> {
    let written = ctx.runs.set_held(run, next.holds_calls(), next.rev).await?;
    if written && was_held && !next.holds_calls() {
        redispatch(ctx, run, next.released, None).await?;
    }
    Ok(())
}

/// Dispatches the pending, uncalled results at positions `from..to` of the rollout order. Returns
/// how far it got (a result not written yet, in a run created in chunks, stops it there) and how
/// many of those were skipped.
async fn release(ctx: &WorkerContext, run: &Run, rollout: &Rollout, from: u64, to: u64) -> Result<(u64, u64)> {
    let order = rollout.order(run.total_count);
    let positions = order.get(from as usize..to as usize).unwrap_or_default();
    let keys: Vec<_> = positions.iter().map(|seq| (run.id, *seq)).collect();
    let found: std::collections::HashMap<u64, ResultRecord> =
        ctx.runs.results_at(&keys).await?.into_iter().map(|(_, result)| (result.seq, result)).collect();
    let (mut reached, mut skipped, mut messages) = (from, 0, Vec::new());
    let now = Utc::now();
    for seq in positions {
        let Some(result) = found.get(seq) else { break };
        reached += 1;
        match (&result.status, &result.charger) {
            (ResultStatus::SkippedForbidden, _) => skipped += 1,
            (ResultStatus::Pending, Some(charger)) if result.call_id.is_none() => {
                let not_before = paced(run, messages.len(), now);
                messages.push(Outgoing {
                    message: DispatchMessage::Dispatch {
                        run: run.id,
                        seq: *seq,
                        charger: charger.uuid,
                        identity: charger.identity.clone(),
                        not_before,
                    },
                    delay_seconds: not_before.map_or(0, delay_until),
                });
            }
            _ => {}
        }
    }
    ctx.queue.send(messages).await?;
    tracing::info!(run = %run.id, from, reached, skipped, "rollout positions released");
    Ok((reached, skipped))
}

/// The `i`th CALL of a slice of a rate-limited run, spread over the second the slice takes.
fn paced(run: &Run, i: usize, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let rate = run.max_per_second?;
    Some(now + Duration::milliseconds((i as i64) * 1_000 / i64::from(rate.max(1))))
}

/// Queues the sweep that dispatches again what a held run's dispatches dropped, once every process
/// knows the gate open (`HELD_KNOWN_AFTER_SECONDS`).
pub async fn redispatch(
    ctx: &WorkerContext,
    run: uuid::Uuid,
    released: u64,
    from: Option<DateTime<Utc>>,
) -> Result<()> {
    let message = DispatchMessage::Redispatch { run, released, after: None, from };
    ctx.queue.send(vec![Outgoing { message, delay_seconds: HELD_KNOWN_AFTER_SECONDS }]).await
}

/// Results looked at per `Redispatch` message.
const PAGE: usize = 500;

/// One page of a `Redispatch` sweep: the run's pending results after `after`, those not called yet
/// and released (their place in the rollout order before `released`; every one, without a rollout)
/// dispatched again; then the next page queued. Dispatching twice is harmless: a CALL is marked once.
/// A run with `max_per_second` is paced across pages: each page's CALLs start where the one before
/// left off (`from`).
pub async fn redispatch_page(
    ctx: &WorkerContext,
    run_id: uuid::Uuid,
    released: u64,
    after: Option<u64>,
    from: Option<DateTime<Utc>>,
) -> Result<()> {
    let Some(run) = ctx.runs.definition(run_id).await? else {
        return Ok(());
    };
    let rank: Option<Vec<u64>> = run.rollout.as_ref().map(|rollout| {
        let order = rollout.order(run.total_count);
        let mut rank = vec![0; order.len()];
        for (place, seq) in order.iter().enumerate() {
            rank[*seq as usize] = place as u64;
        }
        rank
    });
    let page = ctx.runs.results(run_id, Some(ResultStatus::Pending), after, PAGE).await?;
    let start = from.map_or_else(Utc::now, |from| from.max(Utc::now()));
    let mut messages = Vec::new();
    for result in &page {
        let released_here =
            rank.as_ref().is_none_or(|rank| rank.get(result.seq as usize).is_some_and(|r| *r < released));
        if let (None, Some(charger), true) = (&result.call_id, &result.charger, released_here) {
            let not_before = paced(&run, messages.len(), start);
            let message = DispatchMessage::Dispatch {
                run: run_id,
                seq: result.seq,
                charger: charger.uuid,
                identity: charger.identity.clone(),
                not_before,
            };
            messages.push(Outgoing { message, delay_seconds: not_before.map_or(0, delay_until) });
        }
    }
    tracing::info!(run = %run_id, dispatched = messages.len(), "held results dispatched again");
    if let (true, Some(last)) = (page.len() == PAGE, page.last()) {
        let from = paced(&run, messages.len(), start);
        let next = DispatchMessage::Redispatch { run: run_id, released, after: Some(last.seq), from };
        messages.push(Outgoing { message: next, delay_seconds: 1 });
    }
    ctx.queue.send(messages).await
}
