//! A run created inline is stored before its messages are queued (the POST answers with its first
//! results); a request that dies between the two would leave it `running` for ever. So the POST
//! queues one `Recover` message, a minute later, before it stores the run. If by then nothing of
//! the run has moved — no result ended but skipped ones, no CALL marked — its messages were lost and
//! its pending results are dispatched now (dispatching twice is harmless: a CALL is marked once).
//! A run that moved, or never appeared, is left alone.

use chrono::Utc;
use shared::domain::ResultStatus;
use shared::queue_message::dispatches;
use shared::Result;
use uuid::Uuid;

use crate::WorkerContext;

/// Results read per page.
const PAGE: usize = 500;

pub async fn recover(ctx: &WorkerContext, run_id: Uuid) -> Result<()> {
    let Some(run) = ctx.runs.run(run_id).await? else {
        return Ok(());
    };
    let counters = run.counters;
    if run.completed_at.is_some() || counters.sent + counters.offline + counters.error > 0 {
        return Ok(());
    }
    let mut pending = Vec::new();
    let mut after = None;
    loop {
        let page = ctx.runs.results(run_id, Some(ResultStatus::Pending), after, PAGE).await?;
        if page.iter().any(|result| result.call_id.is_some()) {
            return Ok(());
        }
        after = page.last().map(|result| result.seq);
        let full = page.len() == PAGE;
        pending.extend(page);
        if !full {
            break;
        }
    }
    let messages = dispatches(run_id, run.max_per_second, run.created_at, &pending, Utc::now());
    if !messages.is_empty() {
        tracing::warn!(run = %run_id, pending = messages.len(), "a run's messages were lost at its creation; dispatching it now");
        ctx.queue.send(messages).await?;
    }
    Ok(())
}
