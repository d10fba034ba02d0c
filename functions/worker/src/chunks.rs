//! A big run's chunk (`functions/api/src/chunks.rs`): its ids resolved against the directory for
//! the owner's teams, its results written once (`RunStore::write_results`: pending, or
//! `skipped_forbidden` and counted so), then the reachable chargers dispatched. Dispatching again is
//! harmless (a CALL is marked once), so a repeated or resumed chunk redoes it safely; a chunk that
//! dead-letters ends its reachable results `error`, so the run completes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::{StreamExt, TryStreamExt};
use shared::domain::{Charger, Expect, Identity, Outcome, ResultRecord};
use shared::ports::Outgoing;
use shared::queue_message::{dispatches, DispatchMessage};
use shared::{Error, Result};
use uuid::Uuid;

use crate::plans::RunPlan;
use crate::WorkerContext;

/// Finishes in flight at once for one chunk.
const CONCURRENCY: usize = 16;

/// A chunk is queued undelayed just before its run is stored (`functions/api/src/chunks.rs`), so
/// it may come a few milliseconds before the run: it reads the run again after each of these
/// pauses (a third of a second in all) before it goes back to the queue to be tried within seconds.
const EARLY_CHUNK_PAUSES: [Duration; 3] =
    [Duration::from_millis(20), Duration::from_millis(80), Duration::from_millis(240)];

/// The longest one chunk may take: its 1,000 results written (40 BatchWriteItem calls, 1,000 write
/// units, one second of a partition's 1,000 WCU, or a quarter of a cold on-demand table's 4,000), its
/// ids resolved (10 BatchGetItem calls) and its dispatches queued (100 SendMessageBatch calls),
/// with room for throttling's backoff. A chunk never starts with less left of its invocation (and
/// `AFTER_CHUNKS` for the rest of its batch), so an invocation ends before the function's timeout
/// (30 s) however many chunks its batch holds, and no chunk is received again and again until it
/// dead-letters (docs/data-model.md, "What AWS enforces": CreateChunk).
pub const CHUNK_BUDGET: Duration = Duration::from_secs(10);

/// What the rest of a batch needs once its chunks are done: its CALLs are claimed and posted only
/// after every record's first step, the chunks' included (`handle_within`).
pub const AFTER_CHUNKS: Duration = Duration::from_secs(5);

/// Chunks of one invocation created at once: they share the table's throughput, so a batch of ten
/// is not ten thousand writes in flight together.
pub const CHUNKS_AT_ONCE: usize = 2;

/// One invocation's chunks: how many run at once, and when the invocation must end.
pub struct Gate {
    permits: tokio::sync::Semaphore,
    deadline: Option<tokio::time::Instant>,
}

impl Gate {
    pub fn new(deadline: Option<tokio::time::Instant>) -> Gate {
        Gate { permits: tokio::sync::Semaphore::new(CHUNKS_AT_ONCE), deadline }
    }

    fn time_left(&self) -> bool {
        let needed = CHUNK_BUDGET + AFTER_CHUNKS;
        self.deadline.is_none_or(|deadline| deadline.saturating_duration_since(tokio::time::Instant::now()) >= needed)
    }
}

/// `create`, when the invocation has `CHUNK_BUDGET` and `AFTER_CHUNKS` left once its turn comes
/// (`CHUNKS_AT_ONCE`); otherwise `message` is queued again as it is, undelayed, and this delivery
/// succeeds: a late chunk is a new message, not a failed receive on its way to the dead-letter
/// queue. A chunk that already dead-lettered is ended in its turn, whatever the time (it writes
/// little, its results end `error`, and queued again it would start over as a live message).
pub async fn create_in_time(
    ctx: &WorkerContext,
    gate: &Gate,
    message: &DispatchMessage,
    chunk: Chunk<'_>,
    dead: bool,
) -> Result<()> {
    let _turn = gate.permits.acquire().await.map_err(|_| Error::internal("worker", "the chunk gate closed"))?;
    if !dead && !gate.time_left() {
        tracing::info!(run = %chunk.run, chunk = chunk.chunk, "too little of the invocation left for a chunk: queued again");
        return ctx.queue.send(vec![Outgoing { message: message.clone(), delay_seconds: 0 }]).await;
    }
    create(ctx, chunk, dead).await
}

pub struct Chunk<'a> {
    pub run: Uuid,
    pub chunk: u32,
    pub first_seq: u64,
    pub ids: &'a [String],
    pub teams: &'a [String],
}

/// Creates the chunk's results; `dead`: the chunk's message dead-lettered, so its results end `error`.
pub async fn create(ctx: &WorkerContext, chunk: Chunk<'_>, dead: bool) -> Result<()> {
    // The run's settings, read once per run and process (a run read would also sum its counters).
    let Some(run) = stored_run(ctx, chunk.run, dead).await? else {
        if dead {
            tracing::warn!(run = %chunk.run, chunk = chunk.chunk, "chunk of a run that was never stored dropped");
            return Ok(());
        }
        // Queued before the run is stored: it waits (or dies with a creation that never finished).
        return Err(Error::transient("worker", "the chunk's run is not stored yet"));
    };
    let directory = ctx.chargers.as_ref().ok_or_else(|| Error::internal("worker", "no charger directory"))?;
    let owner = Identity { user: run.owner.clone(), teams: chunk.teams.to_vec() };
    let uuids: Vec<Uuid> = chunk.ids.iter().filter_map(|id| Uuid::try_parse(id).ok()).collect();
    let reachable: HashMap<String, Charger> = directory
        .chargers_by_uuid(&uuids)
        .await?
        .into_iter()
        .filter(|charger| owner.can_access(charger))
        .map(|charger| (charger.uuid.to_string(), charger))
        .collect();
    let results: Vec<ResultRecord> = chunk
        .ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let seq = chunk.first_seq + i as u64;
            match reachable.get(id) {
                Some(charger) => ResultRecord::pending(seq, charger.as_ref()),
                None => ResultRecord::skipped(seq, id.clone()),
            }
        })
        .collect();
    let fresh = ctx.runs.write_results(chunk.run, chunk.chunk, results.clone()).await?;
    tracing::debug!(run = %chunk.run, chunk = chunk.chunk, fresh, "chunk written");

    // Checked after the write: a cancel marked before this is seen here; one marked after it
    // queues a sweep that finds these results written.
    let ending = if dead {
        Some("dispatch failed: the run's creation message dead-lettered".to_owned())
    } else {
        cancelled(ctx, chunk.run).await?
    };
    if let Some(why) = &ending {
        // Never dispatched: each reachable charger's result ends `error` (conditionally: one a
        // previous delivery dispatched goes on).
        let run_id = chunk.run;
        let seqs: Vec<u64> = results.iter().filter(|r| r.charger.is_some()).map(|r| r.seq).collect();
        futures::stream::iter(seqs)
            .map(
                |seq| async move { ctx.runs.finish(run_id, seq, &Expect::Uncalled, Outcome::error(why.clone())).await },
            )
            .buffer_unordered(CONCURRENCY)
            .try_collect::<Vec<bool>>()
            .await?;
        return Ok(());
    }
    if run.rolled_out {
        // Its watch releases them, a wave at a time (`rollouts.rs`).
        return Ok(());
    }
    ctx.queue.send(dispatches(chunk.run, run.max_per_second, run.created_at, &results, Utc::now())).await
}

/// What a result of `run` says when the run was cancelled before its CALL, if it was.
async fn cancelled(ctx: &WorkerContext, run: Uuid) -> Result<Option<String>> {
    let gate = ctx.runs.gate(run).await?;
    Ok(gate.cancelled_at.map(|_| crate::cancel::ending(gate.reason.as_deref())))
}

/// The chunk's run, waited for a moment if it is not stored yet (`EARLY_CHUNK_PAUSES`); a dead
/// chunk does not wait.
async fn stored_run(ctx: &WorkerContext, run: Uuid, dead: bool) -> Result<Option<Arc<RunPlan>>> {
    let mut pauses = EARLY_CHUNK_PAUSES.iter();
    loop {
        if let Some(plan) = ctx.plans.get(ctx.runs.as_ref(), run).await? {
            return Ok(Some(plan));
        }
        match pauses.next() {
            Some(pause) if !dead => tokio::time::sleep(*pause).await,
            _ => return Ok(None),
        }
    }
}
