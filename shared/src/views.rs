//! A run as `docs/openapi.yaml` shows it (`Run`, without its results): the API answers with it and
//! a run's webhook events carry it.

use serde_json::{json, Value};

use crate::clock::rfc3339;
use crate::domain::Run;

pub fn run(run: &Run) -> Value {
    json!({
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
    })
}
