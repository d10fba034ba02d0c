//! A NotifyReport part (OCPP 2.0.1) gathered for the result of the report request it answers: the
//! worker kept which result that is, by the charger and the request's `requestId`
//! (`ReportExpected`), before it posted the request, so no part comes before it. The WebSocket
//! handler gathers each part as it comes; one whose writes keep failing is handed to the queue and
//! gathered by the worker, as an answer is. Every write is conditional: a part gathered twice (a
//! duplicated message, a charger sending it again) is kept once.

use crate::domain::report::ReportPart;
use crate::error::Result;
use crate::ports::{InflightCalls, RunStore};

/// What became of a part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gathered {
    /// Kept for its result.
    Kept,
    /// Kept already, or past what a report keeps (`MAX_REPORT_PARTS`).
    Ignored,
    /// No report with its `requestId` was asked of this charger (or it was over a day ago).
    Unasked,
}

pub async fn gather(
    inflight: &dyn InflightCalls,
    runs: &dyn RunStore,
    identity: &str,
    part: &ReportPart,
) -> Result<Gathered> {
    let Some(expected) = inflight.report_expected(identity, part.request_id).await? else {
        return Ok(Gathered::Unasked);
    };
    let kept = runs.add_report_part(expected.run, expected.seq, part).await?;
    if kept {
        tracing::debug!(identity, run = %expected.run, seq = expected.seq, part = part.seq_no, "report part kept");
    }
    Ok(if kept { Gathered::Kept } else { Gathered::Ignored })
}
