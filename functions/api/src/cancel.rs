//! POST /v3/chargers/commands/bulk/{run}/cancel, in a constant number of requests whatever the
//! run's size: the run is marked cancelled (one conditional write) and one `Cancel` message is
//! queued; the worker ends the results not yet dispatched `error` / `cancelled` a page at a time
//! (`functions/worker/src/cancel.rs`), and the run completes. CALLs already in flight end normally
//! (each end is conditional on no CALL having been posted, so a racing dispatch and the cancel can
//! never both win).

use chrono::Utc;
use shared::domain::Run;
use shared::ports::Outgoing;
use shared::queue_message::DispatchMessage;
use shared::Result;

use crate::ApiContext;

pub async fn cancel(ctx: &ApiContext, run: &Run) -> Result<Run> {
    if run.completed_at.is_some() {
        return Ok(run.clone());
    }
    let mut cancelled = run.clone();
    if run.cancelled_at.is_none() {
        let now = Utc::now();
        if ctx.runs.cancel(run.id, now, None).await? {
            tracing::info!(run = %run.id, "run cancelled");
            cancelled.cancelled_at = Some(now);
        } else {
            // Another request cancelled it meanwhile: its time is the one that holds.
            cancelled.cancelled_at = ctx.runs.cancelled_at(run.id).await?;
        }
    }
    // Queued on every call: a retry of a cancel whose queueing failed still starts the sweep, and a
    // second sweep changes nothing.
    let sweep = DispatchMessage::Cancel { run: run.id, after: None, reason: None };
    ctx.queue.send(vec![Outgoing { message: sweep, delay_seconds: 0 }]).await?;
    Ok(cancelled)
}
