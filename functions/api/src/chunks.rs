//! Big runs, created in chunks: a POST of more than `INLINE_LIMIT` ids answers as soon as the run
//! exists, and the worker resolves, writes and dispatches its results a chunk at a time
//! (`functions/worker/src/chunks.rs`). Creating 150,000 results inside the request would take
//! longer than API Gateway's 30 s on a table that serves 4,000 writes a second, and hold every
//! result in the function's memory (`docs/data-model.md`, "Runs of any size").
//!
//! Order matters: the chunk messages are queued first (undelayed: the worker reads the run again
//! for a moment when a chunk comes before it, `functions/worker/src/chunks.rs`) and the run (its META: the counters come with the first answers) stored last, so a creation cut short at any point leaves either a run whose
//! chunks are on the queue, or no run at all — its chunk messages wait for it, then die — and a
//! retry with the same Idempotency-Key creates it under the same id.

use chrono::{DateTime, Utc};
use shared::domain::{Identity, ResultRecord, Run};
use shared::ports::Outgoing;
use shared::queue_message::DispatchMessage;
use shared::webhook::Webhook;
use shared::Result;
use uuid::Uuid;

use crate::bulk_request::BulkRequest;
use crate::ApiContext;

/// Ids a POST resolves and stores before it answers; a bigger run is created in chunks.
pub const INLINE_LIMIT: usize = 1_000;
/// Ids per chunk message, and the most bytes of ids one may carry (SQS takes 256 KiB a message,
/// and as much per SendMessageBatch).
pub const CHUNK_IDS: usize = 1_000;
pub const CHUNK_BYTES: usize = 160 * 1024;

/// The request's ids in chunks of at most `CHUNK_IDS` ids and `CHUNK_BYTES` bytes as they are written
/// into the chunk's message (quoted, escaped: an id of control characters takes six bytes for each),
/// each with the position of its first id.
pub fn split(ids: Vec<String>) -> Vec<(u64, Vec<String>)> {
    let mut chunks = Vec::new();
    let (mut current, mut bytes, mut first) = (Vec::new(), 0usize, 0u64);
    for (seq, id) in ids.into_iter().enumerate() {
        // Its quotes, its comma, and its text escaped.
        let size = id.as_bytes().iter().map(crate::request::escaped).sum::<usize>() + 3;
        if !current.is_empty() && (current.len() == CHUNK_IDS || bytes + size > CHUNK_BYTES) {
            chunks.push((first, std::mem::take(&mut current)));
            bytes = 0;
            first = seq as u64;
        }
        bytes += size;
        current.push(id);
    }
    if !current.is_empty() {
        chunks.push((first, current));
    }
    chunks
}

pub async fn create(
    ctx: &ApiContext,
    caller: &Identity,
    mut request: BulkRequest,
    now: DateTime<Utc>,
    run_id: Uuid,
    webhook: Option<Webhook>,
) -> Result<(Run, Vec<ResultRecord>)> {
    let charger_ids = std::mem::take(&mut request.charger_ids);
    crate::rollout::fits(request.rollout.as_ref(), charger_ids.len() as u64)?;
    let run = request.into_run(ctx, caller, run_id, charger_ids.len() as u64, now, webhook);
    let mut messages: Vec<Outgoing<DispatchMessage>> = split(charger_ids)
        .into_iter()
        .enumerate()
        .map(|(chunk, (first_seq, ids))| Outgoing {
            message: DispatchMessage::CreateChunk {
                run: run_id,
                chunk: chunk as u32,
                first_seq,
                ids,
                teams: caller.teams.clone(),
            },
            // Queued before the run is stored (so a crash leaves no run without its chunks), and
            // undelayed: a second's delay was a second of every big run's time. A chunk that comes
            // before its run waits for it a moment, then is tried again within seconds
            // (`DispatchMessage::Again`).
            delay_seconds: 0,
        })
        .collect();
    let chunks = messages.len();
    let watched = run.webhook.is_some() || run.rollout.is_some();
    if watched {
        // Before the run: the backstop of its watch (a step claimed first by the copy below).
        messages.extend(crate::rollout::watches(run_id).into_iter().take(1));
    }
    ctx.queue.send(messages).await?;
    ctx.runs.create_run_shell(&run).await?;
    if watched {
        ctx.queue.send(crate::rollout::watches(run_id).into_iter().skip(1).collect()).await?;
    }
    tracing::info!(run = %run.id, user = %run.owner, command = %run.command, total = run.total_count, chunks,
        "run created; its results follow in chunks");
    Ok((run, Vec::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_bounded_by_count_and_bytes() {
        let ids: Vec<String> = (0..2_500).map(|i| format!("{i:036}")).collect();
        let chunks = split(ids);
        assert_eq!(
            chunks.iter().map(|(first, ids)| (*first, ids.len())).collect::<Vec<_>>(),
            [(0, 1000), (1000, 1000), (2000, 500)]
        );
        let long: Vec<String> = (0..10).map(|_| "x".repeat(50_000)).collect();
        let chunks = split(long);
        assert!(chunks.iter().all(|(_, ids)| ids.iter().map(|i| i.len() + 3).sum::<usize>() <= CHUNK_BYTES));
        assert_eq!(chunks.iter().map(|(_, ids)| ids.len()).sum::<usize>(), 10);
        assert_eq!(chunks[1].0, chunks[0].1.len() as u64);
    }

    /// Ids that escape to six times their length (control characters) still make chunk messages
    /// SQS takes: at most 256 KiB each, as sent.
    #[test]
    fn a_chunk_message_fits_sqs_whatever_its_ids_escape_to() {
        let ids: Vec<String> = (0..1_000).map(|i| format!("{i:04}{}", "\u{1}".repeat(251))).collect();
        let chunks = split(ids.clone());
        for (chunk, (first_seq, ids)) in chunks.into_iter().enumerate() {
            let message = DispatchMessage::CreateChunk {
                run: Uuid::new_v4(),
                chunk: chunk as u32,
                first_seq,
                ids,
                teams: vec!["acme".into()],
            };
            let body = serde_json::to_string(&message).unwrap();
            assert!(body.len() <= 256 * 1024, "chunk {chunk}: {} bytes", body.len());
        }
        assert_eq!(split(ids).iter().map(|(_, ids)| ids.len()).sum::<usize>(), 1_000);
    }
}
