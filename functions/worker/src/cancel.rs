//! A cancelled run's results not yet dispatched, ended a page at a time: the cancel request writes
//! once (`RunStore::cancel`) and queues the first `Cancel` message; each page ends its results, then
//! queues the next page (a failure before that is redelivered and repeats the page: every end is
//! conditional). The worker also ends, before any CALL, a result of a run it knows is cancelled. A result whose CALL is already out ends with its answer or timeout; a dispatch message
//! that arrives later finds its result ended and sends nothing.

use futures::{StreamExt, TryStreamExt};
use shared::domain::{Expect, Outcome, ResultStatus};
use shared::ports::Outgoing;
use shared::queue_message::DispatchMessage;
use shared::Result;
use uuid::Uuid;

use crate::WorkerContext;

/// Results looked at per message.
pub const PAGE: usize = 500;
/// Ends written at once.
const CONCURRENCY: usize = 16;

/// What a result cancelled before its CALL says: `cancelled`, and why when a request did not do it
/// (an abort threshold crossed).
pub fn ending(reason: Option<&str>) -> String {
    match reason {
        Some(reason) => format!("cancelled ({reason})"),
        None => "cancelled".to_owned(),
    }
}

pub async fn sweep(ctx: &WorkerContext, run: Uuid, after: Option<u64>, reason: Option<&str>) -> Result<()> {
    let why = match reason {
        Some(reason) => ending(Some(reason)),
        None => ending(ctx.runs.gate(run).await?.reason.as_deref()),
    };
    let page = ctx.runs.results(run, Some(ResultStatus::Pending), after, PAGE).await?;
    let mut uncalled = Vec::with_capacity(page.len());
    for result in &page {
        if result.call_id.is_none() {
            uncalled.push(result.seq);
        }
    }
    let runs = ctx.runs.clone();
    let ended: Vec<bool> = futures::stream::iter(uncalled)
        .map(move |seq| {
            let (runs, why) = (runs.clone(), why.clone());
            async move { runs.finish(run, seq, &Expect::Uncalled, Outcome::error(why)).await }
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await?;
    tracing::info!(run = %run, cancelled = ended.iter().filter(|e| **e).count(), "cancelled results ended");
    if let (true, Some(last)) = (page.len() == PAGE, page.last()) {
        let next = DispatchMessage::Cancel { run, after: Some(last.seq), reason: reason.map(str::to_owned) };
        ctx.queue.send(vec![Outgoing { message: next, delay_seconds: 0 }]).await?;
    }
    Ok(())
}
