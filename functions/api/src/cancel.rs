//! POST /v3/chargers/commands/bulk/{run}/cancel: every result not yet dispatched becomes
//! `error` / `cancelled`; CALLs already in flight end normally (the write is conditional on no
//! CALL having been posted, so a racing worker and the cancel can never both win).

use shared::domain::{Expect, Outcome, ResultStatus, Run};
use shared::Result;

use crate::ApiContext;

const PAGE: usize = 1000;

pub async fn cancel(ctx: &ApiContext, run: &Run) -> Result<Run> {
    let outcome = Outcome::error("cancelled");
    let mut after = None;
    let mut cancelled = 0u64;
    loop {
        let page = ctx.runs.results(run.id, Some(ResultStatus::Pending), after, PAGE).await?;
        for result in page.iter().filter(|r| r.call_id.is_none()) {
            if ctx.runs.finish(run.id, result.seq, &Expect::Uncalled, outcome.clone()).await? {
                cancelled += 1;
            }
        }
        match page.last() {
            Some(last) if page.len() == PAGE => after = Some(last.seq),
            _ => break,
        }
    }
    tracing::info!(run = %run.id, cancelled, "run cancelled");
    Ok(ctx.runs.run(run.id).await?.unwrap_or_else(|| run.clone()))
}
