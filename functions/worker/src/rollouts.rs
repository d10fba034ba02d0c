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

/// How often a rollout under way is looked at: its abort threshold, its wave's end.
pub const LOOK_EVERY_SECONDS: u32 = 2;
/// How often a paused (or held) rollout is looked at: a resume opens its next wave this soon.
const PAUSED_LOOK_SECONDS: u32 = 10;
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

/// One look at `run`, which has a rollout.
pub async fn look(ctx: &WorkerContext, run: &Run, rollout: &Rollout) -> Result<Look> {
    let state = &run.rollout_state;
    let now = Utc::now();
    if run.completed_at.is_some() || state.aborted_at.is_some() || run.cancelled_at.is_some() {
        return again_in(LOOK_EVERY_SECONDS);
    }
    let follows = run.outcome.is_some();
    if let Some(reason) = rollout.abort.as_ref().and_then(|rule| rule.verdict(&run.counters, follows)) {
        abort(ctx, run, reason).await?;
        return Ok(Look { delay_seconds: LOOK_EVERY_SECONDS, aborted: true });
    }
    if state.is_paused() {
        return again_in(PAUSED_LOOK_SECONDS);
    }
    if let Some(at) = rollout.start_at.filter(|at| *at > now && state.wave == 0) {
        return again_in(delay_until(at).max(1));
    }
    if let Some(window) = &rollout.window {
        match window.opens_at(now) {
            Some(at) => {
                if !state.outside_window {
                    let mut next = state.next();
                    next.outside_window = true;
                    if ctx.runs.advance_rollout(run.id, &next).await? {
                        ctx.runs.set_held(run.id, true).await?;
                        tracing::info!(run = %run.id, opens_at = %at, "outside its window: new CALLs wait");
                    }
                }
                return again_in(delay_until(at).max(1));
            }
            None if state.outside_window => {
                let mut next = state.next();
                next.outside_window = false;
                if ctx.runs.advance_rollout(run.id, &next).await? {
                    ctx.runs.set_held(run.id, false).await?;
                    redispatch(ctx, run.id, state.released).await?;
                    tracing::info!(run = %run.id, "its window opened: what waited is sent");
                }
                return again_in(1);
            }
            None => {}
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
        let mark = state.marks.last().copied().unwrap_or_default();
        next.held = wave_hold(rollout, state.wave, &mark, &run.counters, follows);
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
    next.marks.push(run.counters);
    if ctx.runs.advance_rollout(run.id, &next).await? {
        tracing::info!(run = %run.id, wave = next.wave, "wave opened");
    }
    again_in(0)
}

/// Stops the run for good: its state says why, then it is cancelled with that reason (what was
/// not sent ends `error`, saying it), and the sweep queued. CALLs in flight end as they do.
async fn abort(ctx: &WorkerContext, run: &Run, reason: String) -> Result<()> {
    let now = Utc::now();
    let mut next = run.rollout_state.next();
    next.aborted_at = Some(now);
    next.abort_reason = Some(reason.clone());
    if !ctx.runs.advance_rollout(run.id, &next).await? {
        return Ok(());
    }
    tracing::warn!(run = %run.id, reason, "run aborted");
    ctx.runs.cancel(run.id, now, Some(&reason)).await?;
    let sweep = DispatchMessage::Cancel { run: run.id, after: None };
    ctx.queue.send(vec![Outgoing { message: sweep, delay_seconds: 0 }]).await
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

/// Queues the sweep that dispatches again what a held run's dispatches dropped.
pub async fn redispatch(ctx: &WorkerContext, run: uuid::Uuid, released: u64) -> Result<()> {
    let message = DispatchMessage::Redispatch { run, released, after: None };
    let delay_seconds = shared::plans::HELD_KNOWN_AFTER_SECONDS;
    ctx.queue.send(vec![Outgoing { message, delay_seconds }]).await
}

/// Results looked at per `Redispatch` message.
const PAGE: usize = 500;

/// One page of a `Redispatch` sweep: the run's pending results after `after`, those not called yet
/// and released (their place in the rollout order before `released`; every one, without a rollout)
/// dispatched again; then the next page queued. Dispatching twice is harmless: a CALL is marked once.
pub async fn redispatch_page(ctx: &WorkerContext, run_id: uuid::Uuid, released: u64, after: Option<u64>) -> Result<()> {
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
    let now = Utc::now();
    let mut messages = Vec::new();
    for result in &page {
        let released_here =
            rank.as_ref().is_none_or(|rank| rank.get(result.seq as usize).is_some_and(|r| *r < released));
        if let (None, Some(charger), true) = (&result.call_id, &result.charger, released_here) {
            let not_before = paced(&run, messages.len(), now);
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
        let next = DispatchMessage::Redispatch { run: run_id, released, after: Some(last.seq) };
        messages.push(Outgoing { message: next, delay_seconds: 1 });
    }
    ctx.queue.send(messages).await
}
