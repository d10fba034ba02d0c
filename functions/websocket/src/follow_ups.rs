//! A charger's status notifications, and its boots, followed onto the result of the job they
//! report on (`shared::follow_ups`). The charger gets its answer whatever becomes of them: one whose
//! writes keep failing is handed to the queue, as an answer is, since the charger will not send it
//! again.

use chrono::{DateTime, Utc};
use serde_json::Value;
use shared::domain::{FollowKind, OcppVersion};
use shared::follow_ups::{follow, Followed};
use shared::ports::Outgoing;
use shared::queue_message::DispatchMessage;
use shared::telemetry::connection_may_log;

use crate::WebsocketContext;

/// The line logged for each notification handed off: template.yaml's `HandoffMetricFilter` counts
/// it beside the answers' (`frames::HANDOFF_LOG`).
pub const NOTIFICATION_HANDOFF_LOG: &str = "following a status notification failed; handing it to the queue";

/// Whether a charger's own CALL `action` may report on a job a run follows.
pub fn reports_on_a_job(action: &str) -> bool {
    action == "BootNotification" || FollowKind::of_notification(action).is_some()
}

pub async fn notified(
    ctx: &WebsocketContext,
    identity: &str,
    version: OcppVersion,
    action: &str,
    payload: &Value,
    at: DateTime<Utc>,
) -> shared::Result<()> {
    match follow(ctx.inflight.as_ref(), ctx.runs.as_ref(), identity, version, action, payload, at).await {
        Ok(Followed::Unasked) if action != "BootNotification" => {
            if connection_may_log(identity) {
                tracing::info!(identity, action, "status notification for no job a run follows");
            }
            Ok(())
        }
        Ok(_) => Ok(()),
        Err(err) => {
            tracing::warn!(identity, action, error = %err, "{NOTIFICATION_HANDOFF_LOG}");
            let message = DispatchMessage::Notified {
                identity: identity.to_owned(),
                version,
                action: action.to_owned(),
                payload: payload.clone(),
                at,
            };
            ctx.queue.send(vec![Outgoing { message, delay_seconds: 0 }]).await
        }
    }
}
