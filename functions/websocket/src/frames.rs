//! `$default`: one OCPP-J frame from a charger. CALLs get their answer as the response body;
//! CALLRESULT / CALLERROR end the result of the matching in-flight CALL.

use chrono::Utc;
use serde_json::Value;
use shared::domain::{Expect, Outcome};
use shared::ocpp::{charger_calls, Command, ErrorCode, Frame};
use shared::Result;

use crate::WebsocketContext;

/// Handles one frame from `identity`; returns the frame to send back, if any.
pub async fn handle_frame(ctx: &WebsocketContext, identity: &str, text: &str) -> Result<Option<String>> {
    let frame = match Frame::parse(text) {
        Ok(frame) => frame,
        Err(err) => {
            tracing::warn!(identity, reason = %err.reason, "malformed frame from charger");
            return Ok(err.id.map(|id| Frame::call_error(&id, ErrorCode::FormationViolation, err.reason).to_text()));
        }
    };
    match frame {
        Frame::Call { id, action, .. } => {
            let answer = match charger_calls::answer(&action, Utc::now()) {
                Ok(payload) => Frame::CallResult { id, payload },
                Err((code, description)) => Frame::call_error(&id, code, description),
            };
            Ok(Some(answer.to_text()))
        }
        Frame::CallResult { id, payload } => {
            answer(ctx, identity, &id, Answer::Result(payload)).await?;
            Ok(None)
        }
        Frame::CallError { id, code, description, .. } => {
            answer(ctx, identity, &id, Answer::Error(format!("{code}: {description}"))).await?;
            Ok(None)
        }
    }
}

enum Answer {
    Result(Value),
    Error(String),
}

/// Ends the result of the CALL this answers, if it is the charger's in-flight CALL and in time.
/// Late, unknown and duplicate answers change nothing.
async fn answer(ctx: &WebsocketContext, identity: &str, call_id: &str, answer: Answer) -> Result<()> {
    let now = Utc::now();
    let call = match ctx.inflight.current(identity).await? {
        Some(call) if call.call_id == call_id && call.expires_at > now => call,
        _ => {
            tracing::info!(identity, call = call_id, "late, unknown or duplicate answer ignored");
            return Ok(());
        }
    };
    let outcome = match answer {
        Answer::Result(payload) => match Command::find(&call.action).map(|c| c.check_response(&payload)) {
            Some(Err(errors)) => {
                let first = errors.values().flatten().next().cloned().unwrap_or_default();
                Outcome { response: Some(payload), ..Outcome::error(format!("invalid response: {first}")) }
            }
            _ => Outcome::sent(payload),
        },
        Answer::Error(message) => Outcome::error(message),
    };
    let status = outcome.status;
    let counted = ctx.runs.finish(call.run, call.seq, &Expect::Call(call.call_id.clone()), outcome).await?;
    if counted {
        tracing::debug!(run = %call.run, charger = %call.charger, identity, status = status.as_str(), "answer recorded");
    }
    ctx.inflight.release(identity, call_id).await
}
