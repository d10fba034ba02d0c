//! NotifyReport parts (OCPP 2.0.1), gathered for the result of the report request they answer
//! (`shared::reports`). A part is answered whatever becomes of it: one whose writes keep failing is
//! handed to the queue, as an answer is, since the charger will not send it again.

use serde_json::Value;
use shared::domain::report::ReportPart;
use shared::ports::Outgoing;
use shared::queue_message::DispatchMessage;
use shared::reports::{gather, Gathered};
use shared::telemetry::connection_may_log;

use crate::WebsocketContext;

/// The line logged for each part handed off: template.yaml's `HandoffMetricFilter` counts it beside
/// the answers' (`frames::HANDOFF_LOG`).
pub const PART_HANDOFF_LOG: &str = "keeping a report part failed; handing it to the queue";

pub async fn gather_part(ctx: &WebsocketContext, identity: &str, payload: &Value) -> shared::Result<()> {
    let Some(part) = ReportPart::from_payload(payload) else {
        return Ok(());
    };
    match gather(ctx.inflight.as_ref(), ctx.runs.as_ref(), identity, &part).await {
        Ok(Gathered::Unasked) => {
            if connection_may_log(identity) {
                tracing::info!(identity, request = part.request_id, "report part for no report asked of it");
            }
            Ok(())
        }
        Ok(_) => Ok(()),
        Err(err) => {
            tracing::warn!(identity, error = %err, part = part.seq_no, "{PART_HANDOFF_LOG}");
            let message = DispatchMessage::ReportPart { identity: identity.to_owned(), part };
            ctx.queue.send(vec![Outgoing { message, delay_seconds: 0 }]).await
        }
    }
}
