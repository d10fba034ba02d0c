//! A run as `docs/openapi.yaml` shows it (`Run`, without its results): the API answers with it and
//! a run's webhook events carry it.

use serde_json::{json, Value};

use crate::clock::rfc3339;
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
    if let (Some(policy), Value::Object(map)) = (&run.outcome, &mut view) {
        map.insert("outcome".into(), outcomes(run, policy));
    }
    view
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
