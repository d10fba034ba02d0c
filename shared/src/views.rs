//! A run as `docs/openapi.yaml` shows it (`Run`, without its results): the API answers with it and
//! a run's webhook events carry it.

use serde_json::{json, Value};

use crate::clock::rfc3339;
use crate::domain::rollout::{Order, Rollout, WaveSize};
use crate::domain::{FollowState, FollowUp, OutcomePolicy, Run};

pub fn run(run: &Run) -> Value {
    let mut view = json!({
        "uuid": run.id,
        "command": run.command,
        "data": run.data,
        "versions": run.versions,
        "status": run.status().as_str(),
        "total_count": run.total_count,
        "sent_count": run.counters.sent,
        "offline_count": run.counters.offline,
        "error_count": run.counters.error,
        "skipped_count": run.counters.skipped,
        "created_at": rfc3339(run.created_at),
        "completed_at": run.completed_at.map(rfc3339),
        "timeout_seconds": run.timeout_seconds,
        "max_per_second": run.max_per_second,
        "retry_of": run.retry_of,
        "retries": run.retries,
        "cancelled_at": run.cancelled_at.map(rfc3339),
        "target": run.target,
        "webhook": run.webhook.as_ref().map(|hook| json!({
            "url": hook.url,
            "progress": hook.progress,
            "state": hook.state.as_str(),
            "attempts": hook.attempts,
            "last_status": hook.last_status,
            "last_error": hook.last_error,
            "last_attempt_at": hook.last_attempt_at.map(rfc3339),
            "delivered_at": hook.delivered_at.map(rfc3339),
        })),
    });
    if let Value::Object(map) = &mut view {
        if let Some(policy) = &run.outcome {
            map.insert("outcome".into(), outcomes(run, policy));
        }
        map.insert("paused_at".into(), json!(run.rollout_state.paused_at.map(rfc3339)));
        if let Some(rollout) = &run.rollout {
            map.insert("rollout".into(), rollout_view(run, rollout));
        }
    }
    view
}

/// A run's rollout as the API shows it: what it was asked to be, and where it stands.
fn rollout_view(run: &Run, rollout: &Rollout) -> Value {
    let state = &run.rollout_state;
    let ends = rollout.wave_ends(run.total_count);
    let sizes: Vec<u64> = ends.iter().scan(0, |before, end| Some(end - std::mem::replace(before, *end))).collect();
    let (order, seed) = match rollout.order {
        Order::Request => ("request", None),
        Order::Shuffle { seed } => ("shuffle", Some(seed)),
    };
    json!({
        "waves": rollout.waves.iter().map(|size| match size {
            WaveSize::Count(n) => json!(n),
            WaveSize::Percent(p) => json!(format!("{}%", crate::domain::rollout::percent(*p))),
            WaveSize::Rest => json!("rest"),
        }).collect::<Vec<_>>(),
        "wave_sizes": sizes,
        "order": order,
        "seed": seed,
        "soak_seconds": rollout.soak_seconds,
        "success_threshold": rollout.success_percent,
        "pause_after_each_wave": rollout.pause_after_wave,
        "abort": rollout.abort.as_ref().map(|rule| json!({
            "on": rule.on.iter().map(|kind| kind.as_str()).collect::<Vec<_>>(),
            "threshold_percent": rule.percent,
            "min_finished": rule.min_finished,
        })),
        "start_at": rollout.start_at.map(rfc3339),
        "window": rollout.window.as_ref().map(|w| json!({
            "from": w.from.format("%H:%M").to_string(),
            "to": w.to.format("%H:%M").to_string(),
            "time_zone": w.time_zone,
        })),
        "wave": state.wave,
        "released_count": state.released,
        "wave_finished_at": state.wave_done_at.map(rfc3339),
        "held": state.held,
        "outside_window": state.outside_window,
        "aborted_at": state.aborted_at.map(rfc3339),
        "abort_reason": state.abort_reason,
    })
}

/// A run's outcomes after the answer: its policy and how many of its sent results ended how
/// (`open`: not yet).
fn outcomes(run: &Run, policy: &OutcomePolicy) -> Value {
    let counters = &run.counters;
    json!({
        "timeout_seconds": policy.timeout_seconds,
        "firmware_version": policy.firmware_version,
        "open_count": counters.sent.saturating_sub(counters.outcomes_final()),
        "succeeded_count": counters.outcome(FollowState::Succeeded),
        "failed_count": counters.outcome(FollowState::Failed),
        "stalled_count": counters.outcome(FollowState::Stalled),
    })
}

/// A result's outcome after the answer, as the API shows it.
pub fn follow_up(follow: &FollowUp) -> Value {
    json!({
        "state": follow.state.as_str(),
        "status": follow.status(),
        "message": follow.message,
        "since": rfc3339(follow.since),
        "triggered_at": follow.triggered_at.map(rfc3339),
        "steps": follow.steps.iter().map(|s| json!({"status": s.status, "at": rfc3339(s.at)})).collect::<Vec<_>>(),
    })
}
