//! `$default`: one OCPP-J frame from a charger. CALLs get their answer as the response body;
//! CALLRESULT / CALLERROR end the result of the matching in-flight CALL (`shared::answers`). An
//! answer whose recording keeps failing is handed off to the queue, never dropped: API Gateway
//! does not retry a `$default` invocation.

use chrono::Utc;
use shared::answers::{self, ChargerAnswer, Recorded, Reply};
use shared::ocpp::{charger_calls, ErrorCode, Frame, OcppVersion};
use shared::ports::Outgoing;
use shared::queue_message::DispatchMessage;
use shared::telemetry::connection_may_log;
use shared::{retry, Result};

use crate::WebsocketContext;

/// Handles one frame from connection `connection_id`, opened by the charger `known` names with the
/// version it speaks, when the authorizer named them; returns the frame to send back, if any. An
/// answer to our CALL needs no more than that; a charger's own CALL still has its connection looked
/// up, so a connection the registry forgot (unreachable by dispatch) is closed at its next heartbeat.
pub async fn handle_frame(
    ctx: &WebsocketContext,
    connection_id: &str,
    known: Option<(&str, OcppVersion)>,
    text: &str,
) -> Result<Option<String>> {
    // A connection opened before the authorizer named versions spoke 1.6 (the registry knows).
    let version = known.map(|(_, version)| version).unwrap_or_default();
    let frame = match Frame::parse(text) {
        Ok(frame) => frame,
        Err(err) => {
            if connection_may_log(connection_id) {
                tracing::warn!(reason = %err.reason, "malformed frame from charger");
            }
            let error = |id: String| Frame::call_error(&id, version, ErrorCode::FormationViolation, err.reason);
            return Ok(err.id.map(|id| error(id).to_text()));
        }
    };
    let (call_id, reply) = match frame {
        Frame::Call { id, action, payload } => {
            return answer_call(ctx, connection_id, known, id, &action, &payload).await
        }
        Frame::CallResult { id, payload } => (id, Reply::Result(payload)),
        Frame::CallError { id, code, description, .. } => (id, Reply::Error(format!("{code}: {description}"))),
    };
    let mut answer = ChargerAnswer {
        connection: connection_id.to_owned(),
        identity: known.map(|(identity, _)| identity.to_owned()),
        call_id,
        reply,
        version,
        received_at: Utc::now(),
        call: None,
    };
    match answers::record(&ctx.answer_ports(), &mut answer).await {
        Ok(Recorded::UnknownConnection) => forget_connection(ctx, connection_id).await,
        Ok(_) => Ok(None),
        Err(err) => hand_off(ctx, answer, err).await,
    }
}

/// A charger's own CALL (BootNotification, Heartbeat, …), answered at once, from a registered
/// connection. A registry that cannot be read does not keep the charger from its answer (only a
/// job report that neither its write nor the queue would take does: the handler then fails).
///
/// A connection the registry does not know is closed, so the charger reconnects and registers
/// again; what its CALL reports on a job is kept first, for the charger the authorizer named. API
/// Gateway invokes a connection's `$default` and `$disconnect` concurrently: a charger that sends
/// its last status and reboots at once may be disconnected before that status is read.
async fn answer_call(
    ctx: &WebsocketContext,
    connection_id: &str,
    known: Option<(&str, OcppVersion)>,
    id: String,
    action: &str,
    payload: &serde_json::Value,
) -> Result<Option<String>> {
    let (known_identity, version) = (known.map(|(identity, _)| identity), known.map(|(_, v)| v).unwrap_or_default());
    // (who sent it, the version it speaks, whether the registry has forgotten the connection)
    let (identity, version, forgotten) = match ctx.connections.identity_of(connection_id).await {
        Ok(Some((identity, registered))) => {
            // Evaluated only when debug lines are on: no copy of the action on the way to the answer.
            tracing::debug!(
                identity,
                action = shared::domain::result::truncated(action.to_owned(), 64),
                "charger CALL"
            );
            (Some(identity), registered, false)
        }
        Ok(None) => (known_identity.map(str::to_owned), version, true),
        Err(err) => {
            if connection_may_log(connection_id) {
                tracing::warn!(error = %err, "registry unreadable; answering the charger's CALL anyway");
            }
            (known_identity.map(str::to_owned), version, false)
        }
    };
    let now = Utc::now();
    let (answer, kept) = match charger_calls::answer(version, action, payload, now) {
        Ok(answer) => {
            let mut kept = Ok(());
            if let Some(identity) = &identity {
                if !forgotten {
                    crate::fleet_view::observe(ctx, identity, version, action, payload, now).await;
                }
                kept = keep_job_reports(ctx, identity, version, action, payload, now).await;
            }
            (Frame::CallResult { id, payload: answer }, kept)
        }
        Err((code, description)) => (Frame::call_error(&id, version, code, description), Ok(())),
    };
    if forgotten {
        // Closed whatever became of what it reported.
        let closed = forget_connection(ctx, connection_id).await;
        kept?;
        return closed;
    }
    kept?;
    Ok(Some(answer.to_text()))
}

/// What a charger's CALL (its payload passed its schema) tells of a job a run gave it: a 2.0.1
/// report part kept, a status notification or a boot followed. Each is kept or handed to the
/// queue: an error here is one the queue refused too.
async fn keep_job_reports(
    ctx: &WebsocketContext,
    identity: &str,
    version: OcppVersion,
    action: &str,
    payload: &serde_json::Value,
    now: chrono::DateTime<Utc>,
) -> Result<()> {
    if version == OcppVersion::V201 && action == "NotifyReport" {
        crate::reports::gather_part(ctx, identity, payload).await?;
    }
    if crate::follow_ups::reports_on_a_job(action) {
        crate::follow_ups::notified(ctx, identity, version, action, payload, now).await?;
    }
    Ok(())
}

/// A frame from a connection the registry does not know (it expired, or was taken for closed):
/// the connection is closed, so the charger reconnects and registers again.
async fn forget_connection(ctx: &WebsocketContext, connection_id: &str) -> Result<Option<String>> {
    if connection_may_log(connection_id) {
        tracing::warn!("frame from an unregistered connection; closing it so the charger reconnects");
    }
    ctx.gateway.close(connection_id).await?;
    Ok(None)
}

/// The line logged for each hand-off: template.yaml's `HandoffMetricFilter` counts it.
pub const HANDOFF_LOG: &str = "recording the answer failed; handing it to the queue";

/// The answer could not be recorded here: the worker records it from the queue.
async fn hand_off(ctx: &WebsocketContext, answer: ChargerAnswer, err: shared::Error) -> Result<Option<String>> {
    tracing::warn!(error = %err, call = answer.call_id, identity = answer.identity.as_deref().unwrap_or_default(),
        "{HANDOFF_LOG}");
    let message = Outgoing { message: DispatchMessage::Answer(answer), delay_seconds: 0 };
    ctx.queue.send(vec![message]).await?;
    retry::count_handoff();
    Ok(None)
}
