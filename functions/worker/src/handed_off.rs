//! What the WebSocket handler handed to the queue because it could not write it (an answer, a
//! report part, a status notification), recorded by the worker with the same services.

use shared::answers::{self, ChargerAnswer};
use shared::domain::report::ReportPart;
use shared::Result;

use crate::WorkerContext;

/// Keeps a report part the WebSocket handler handed off.
pub async fn gather_part(ctx: &WorkerContext, identity: &str, part: &ReportPart) -> Result<()> {
    let gathered = shared::reports::gather(ctx.inflight.as_ref(), ctx.runs.as_ref(), identity, part).await?;
    tracing::info!(?gathered, identity, part = part.seq_no, "handed-off report part gathered");
    Ok(())
}

/// Follows a status notification the WebSocket handler handed off.
pub async fn notified(
    ctx: &WorkerContext,
    identity: &str,
    version: shared::domain::OcppVersion,
    action: &str,
    payload: &serde_json::Value,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    let (inflight, runs) = (ctx.inflight.as_ref(), ctx.runs.as_ref());
    let followed = shared::follow_ups::follow(inflight, runs, identity, version, action, payload, at).await?;
    tracing::info!(?followed, identity, action, "handed-off status notification followed");
    Ok(())
}

/// Records an answer the WebSocket handler handed off.
pub async fn record_answer(ctx: &WorkerContext, answer: &ChargerAnswer) -> Result<()> {
    let mut answer = answer.clone();
    let recorded = answers::record(&ctx.answer_ports(), &mut answer).await?;
    tracing::info!(?recorded, call = answer.call_id, "handed-off answer recorded");
    Ok(())
}
