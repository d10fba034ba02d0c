//! The dispatch worker (SQS → charger). Each record is handled in its own future; the answer
//! lists only the records that should be delivered again (`ReportBatchItemFailures`).
//!
//! Dispatch, in order, each step conditional so a duplicate delivery sends no second CALL:
//! result still pending and uncalled, and the charger's live connection (else `offline`), read
//! for the whole batch at once → timeout messages queued (one send for the whole batch) → the
//! charger's in-flight slot taken (else parked: one CALL per charger at a time) and the result
//! marked called with the CALL's id, in one transaction → frame posted (gone → `offline`).

use std::sync::Arc;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use shared::answers::AnswerPorts;
use shared::domain::{Expect, Outcome};
use shared::ports::{
    ChargerDirectory, ConnectionGateway, ConnectionRegistry, DispatchQueue, InflightCalls, Outgoing, RunStore,
};
use shared::queue_message::{quick_retry_delay, DispatchMessage, MAX_RECEIVES, QUICK_RETRIES};
use shared::{Error, Result};
use tracing::Instrument;

pub mod aws;
pub mod cancel;
pub mod chunks;
pub mod dispatch;
pub mod follow_ups;
pub mod handed_off;
pub mod known;
pub mod pace;
pub use shared::plans;
pub mod recover;
pub mod rollouts;
pub mod timeouts;
pub mod webhooks;

use dispatch::Step;
use known::Known;
use plans::RunPlans;

/// The capabilities the worker uses, built once at start-up.
#[derive(Clone)]
pub struct WorkerContext {
    pub runs: Arc<dyn RunStore>,
    pub connections: Arc<dyn ConnectionRegistry>,
    pub gateway: Arc<dyn ConnectionGateway>,
    pub inflight: Arc<dyn InflightCalls>,
    pub queue: Arc<dyn DispatchQueue>,
    pub plans: Arc<RunPlans>,
    /// The dead-letter queue's ARN: its records end their results instead of dispatching.
    pub dead_letter_arn: Option<String>,
    /// Run webhooks (`webhooks.rs`); without it, webhook messages are left to the dead-letter queue.
    pub webhooks: Option<Arc<webhooks::Webhooks>>,
    /// Resolves the ids of big runs' chunks (`chunks.rs`).
    pub chargers: Option<Arc<dyn ChargerDirectory>>,
    /// The stack-wide cap on CALLs a second (`pace.rs`); without it, none.
    pub pace: Option<pace::Cap>,
}

impl WorkerContext {
    pub fn new(
        runs: Arc<dyn RunStore>,
        connections: Arc<dyn ConnectionRegistry>,
        gateway: Arc<dyn ConnectionGateway>,
        inflight: Arc<dyn InflightCalls>,
        queue: Arc<dyn DispatchQueue>,
    ) -> Self {
        WorkerContext {
            runs,
            connections,
            gateway,
            inflight,
            queue,
            plans: Arc::default(),
            dead_letter_arn: None,
            webhooks: None,
            chargers: None,
            pace: None,
        }
    }

    fn answer_ports(&self) -> AnswerPorts<'_> {
        AnswerPorts {
            connections: self.connections.as_ref(),
            queue: self.queue.as_ref(),
            inflight: self.inflight.as_ref(),
            runs: self.runs.as_ref(),
            plans: &self.plans,
        }
    }
}

pub async fn handle(ctx: &WorkerContext, event: SqsEvent) -> SqsBatchResponse {
    handle_within(ctx, event, None).await
}

/// `handle`, for an invocation that must end by `deadline` (Lambda's: the function's timeout): a run's
/// chunk starts only with `chunks::CHUNK_BUDGET` and `chunks::AFTER_CHUNKS` left, else it goes back to
/// the queue whole, as a new message (`chunks::create_in_time`).
pub async fn handle_within(
    ctx: &WorkerContext,
    event: SqsEvent,
    deadline: Option<tokio::time::Instant>,
) -> SqsBatchResponse {
    let records: Vec<Record> = event.records.iter().map(|r| Record::read(ctx, r)).collect();
    let chunk_gate = &chunks::Gate::new(deadline);
    // Each record's span, made once for both steps (a span's fields are formatted as it is made).
    let spans: Vec<tracing::Span> = records.iter().map(Record::span).collect();
    // A dead letter ends its result, but a dead dispatch is first attempted (it may never have been:
    // throttled invocations use up receives too), so it is read with the live ones.
    let known =
        &Known::read(ctx, records.iter().filter(|r| !r.dead || r.attempted_dead).filter_map(|r| r.message.as_ref()))
            .await;
    // Step one, every record at once, on what the batch read: checks and offline verdicts;
    // timeouts, handed-off answers and dead letters end here.
    let mut steps = futures::future::join_all(records.iter().zip(&spans).map(|(r, span)| {
        async move {
            match &r.message {
                Some(DispatchMessage::Answer(answer)) => {
                    handed_off::record_answer(ctx, answer).await.map(|()| Step::Done)
                }
                Some(DispatchMessage::ReportPart { identity, part }) => {
                    handed_off::gather_part(ctx, identity, part).await.map(|()| Step::Done)
                }
                Some(DispatchMessage::Cancel { run, after, reason }) => {
                    cancel::sweep(ctx, *run, *after, reason.as_deref()).await.map(|()| Step::Done)
                }
                Some(DispatchMessage::Redispatch { run, released, after, from }) => {
                    rollouts::redispatch_page(ctx, *run, *released, *after, *from).await.map(|()| Step::Done)
                }
                Some(message @ DispatchMessage::CreateChunk { run, chunk, first_seq, ids, teams }) => {
                    let chunk = chunks::Chunk { run: *run, chunk: *chunk, first_seq: *first_seq, ids, teams };
                    chunks::create_in_time(ctx, chunk_gate, message, chunk, r.dead).await.map(|()| Step::Done)
                }
                Some(DispatchMessage::Recover { run }) => recover::recover(ctx, *run).await.map(|()| Step::Done),
                // Dead letters of a webhook are simply tried again.
                Some(DispatchMessage::WebhookWatch { run, step }) => {
                    webhooks::watch(ctx, *run, *step).await.map(|()| Step::Done)
                }
                Some(DispatchMessage::WebhookSend { run, attempt, first_at }) => {
                    webhooks::attempt(ctx, *run, *attempt, *first_at).await.map(|()| Step::Done)
                }
                // Dead letters of outcomes are simply followed again: every change is conditional.
                Some(DispatchMessage::FollowUps { run, seqs, not_before }) => {
                    follow_ups::check(ctx, *run, seqs, *not_before).await.map(|()| Step::Done)
                }
                Some(DispatchMessage::Notified { identity, version, action, payload, at }) => {
                    handed_off::notified(ctx, identity, *version, action, payload, *at).await.map(|()| Step::Done)
                }
                Some(message) if r.dead && !r.attempted_dead => dead_letter(ctx, message).await.map(|()| Step::Done),
                Some(message @ (DispatchMessage::Timeouts { .. } | DispatchMessage::Timeout { .. })) => {
                    timeouts::expire(ctx, known, message, None).await.map(|()| Step::Done)
                }
                Some(message) => dispatch::prepare(ctx, known, message).await,
                None => Ok(Step::Done),
            }
        }
        .instrument(span.clone())
    }))
    .await;
    hold_back_over_budget(ctx, &records, &mut steps).await;
    // The CALLs about to go out get their timeout messages in one send, before any is marked called.
    let ready: Vec<_> =
        steps.iter().filter_map(|s| if let Ok(Step::Ready(ready)) = s { Some(ready.as_ref()) } else { None }).collect();
    let queued = if ready.is_empty() {
        Ok(())
    } else {
        let mut timers = timeouts::messages(&ready);
        timers.extend(follow_ups::messages(&ready));
        ctx.queue.send(timers).await
    };
    if let Err(err) = &queued {
        tracing::warn!(error = %err, "queueing the batch's timeout messages failed; its CALLs wait for a retry");
    }
    // Step two: mark each result called and post its CALL; then settle every record.
    let outcomes = futures::future::join_all(records.iter().zip(steps).zip(spans).map(|((record, step), span)| {
        let queued = queued.is_ok();
        async move {
            let done = match step {
                Ok(Step::Ready(ready)) if queued => dispatch::fire(ctx, ready).await,
                // No slot was taken nor result marked yet: the message comes again.
                Ok(Step::Ready(_)) => Err(Error::transient("sqs", "the timeout message could not be queued")),
                Ok(Step::Done) => Ok(()),
                Err(err) => Err(err),
            };
            record.settle(ctx, done).await
        }
        .instrument(span)
    }))
    .await;
    let mut response = SqsBatchResponse::default();
    for (record, retry) in records.iter().zip(outcomes) {
        if retry {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = record.id.clone();
            response.batch_item_failures.push(failure);
        }
    }
    response
}

/// The batch's CALLs the second's stack-wide budget has no room for (`pace.rs`): each message queued
/// again 1 to 3 s later, as a new message, and its delivery done. Nothing was taken for them yet (no
/// slot, no mark), so they are simply not sent now. A dead letter's one attempt is not held back:
/// queued again, it would start over as a live message.
async fn hold_back_over_budget(ctx: &WorkerContext, records: &[Record], steps: &mut [Result<Step>]) {
    let Some(cap) = &ctx.pace else { return };
    // Each ready CALL (a dead letter's aside) and what it weighs.
    let (ready, weights): (Vec<usize>, Vec<u32>) = steps
        .iter()
        .enumerate()
        .filter_map(|(i, step)| match step {
            Ok(Step::Ready(call)) if !records[i].dead => Some((i, pace::weight(call.action()))),
            _ => None,
        })
        .unzip();
    if ready.is_empty() {
        return;
    }
    let admitted = cap.admits_weighted(&weights).await;
    if admitted == ready.len() {
        return;
    }
    let over = &ready[admitted..];
    let delay_seconds = pace::hold_back_seconds();
    let held: Vec<Outgoing<DispatchMessage>> = over
        .iter()
        .filter_map(|i| records[*i].message.clone())
        .map(|message| Outgoing { message, delay_seconds })
        .collect();
    let queued = ctx.queue.send(held).await;
    tracing::info!(
        calls = ready.len(),
        admitted,
        queued = queued.is_ok(),
        "over this second's dispatch budget: the rest held back"
    );
    for &i in over {
        steps[i] = match &queued {
            Ok(()) => Ok(Step::Done),
            Err(err) => Err(Error::transient("sqs", format!("held back over the dispatch budget, not queued: {err}"))),
        };
    }
}

/// How old a dead-lettered dispatch may be and still be attempted (`Record::attempted_dead`).
const DEAD_DISPATCH_MAX_AGE: chrono::TimeDelta = chrono::TimeDelta::hours(1);

/// A dead-lettered dispatch gets one attempt: its receives may all have gone to throttled
/// invocations. Only at its first receive from the dead-letter queue (SQS keeps the count it had,
/// `MAX_RECEIVES`, and adds one; a queue that starts again counts one), so one that crashes the
/// worker is not tried for ever; and only within `DEAD_DISPATCH_MAX_AGE` of its sending
/// (`SentTimestamp`), so a letter moved back days later reaches no charger.
fn attempted_dead(
    receives: u32,
    sent: Option<chrono::DateTime<chrono::Utc>>,
    message: Option<&DispatchMessage>,
) -> bool {
    let first = receives <= 1 || receives == MAX_RECEIVES + 1;
    let young = sent.is_none_or(|sent| chrono::Utc::now() - sent < DEAD_DISPATCH_MAX_AGE);
    first && young && matches!(message, Some(DispatchMessage::Dispatch { .. }))
}

/// One SQS record, read.
struct Record {
    id: String,
    receives: u32,
    /// How many times the message was tried again within seconds (`DispatchMessage::Again`).
    again: u32,
    /// From the dead-letter queue.
    dead: bool,
    /// A dead-lettered dispatch given its one attempt (`attempted_dead`), decided once as it is read.
    attempted_dead: bool,
    /// `None`: the body is not a dispatch message (dropped, never retried).
    message: Option<DispatchMessage>,
}

impl Record {
    fn read(ctx: &WorkerContext, record: &SqsMessage) -> Record {
        let dead = ctx.dead_letter_arn.is_some() && record.event_source_arn == ctx.dead_letter_arn;
        let id = record.message_id.clone().unwrap_or_default();
        let receives = record.attributes.get("ApproximateReceiveCount").and_then(|n| n.parse().ok()).unwrap_or(1);
        let sent = record
            .attributes
            .get("SentTimestamp")
            .and_then(|ms| ms.parse().ok())
            .and_then(chrono::DateTime::from_timestamp_millis);
        let (message, again) = match serde_json::from_str::<DispatchMessage>(record.body.as_deref().unwrap_or_default())
        {
            Ok(message) => {
                let (message, again) = message.unwrapped();
                (Some(message), again)
            }
            Err(err) => {
                tracing::error!(message_id = %id, error = %err, "unreadable queue message dropped");
                (None, 0)
            }
        };
        let attempted_dead = dead && attempted_dead(receives, sent, message.as_ref());
        Record { id, receives, again, dead, attempted_dead, message }
    }

    fn span(&self) -> tracing::Span {
        let Some(m) = &self.message else {
            return tracing::Span::none();
        };
        let run = m.result_key().map(|(run, _)| run.to_string()).unwrap_or_default();
        let charger = m.charger().map(|c| c.to_string()).unwrap_or_default();
        tracing::info_span!("dispatch", run, charger, identity = m.identity().unwrap_or_default(), dead = self.dead)
    }

    /// `true` asks for the record to be delivered again.
    async fn settle(&self, ctx: &WorkerContext, done: Result<()>) -> bool {
        let (Err(err), Some(message)) = (done, &self.message) else {
            return false;
        };
        if self.dead {
            if self.attempted_dead {
                tracing::warn!(error = %err, "a dead-lettered dispatch failed once more; its result ends error");
                if dead_letter(ctx, message).await.is_ok() {
                    return false;
                }
            }
            tracing::error!(error = %err, "a dead letter could not be resolved; it stays on the dead-letter queue");
            return true;
        }
        if err.is_retryable() && message.retried_quickly() && self.again < QUICK_RETRIES {
            let attempt = self.again + 1;
            let again = DispatchMessage::Again { attempt, message: Box::new(message.clone()) };
            // Jittered, so a batch that failed together (a throttled table) does not return together.
            let base = quick_retry_delay(attempt);
            let delay_seconds = base + fastrand::u32(0..=base / 2);
            match ctx.queue.send(vec![Outgoing { message: again, delay_seconds }]).await {
                Ok(()) => {
                    tracing::info!(error = %err, attempt, delay_seconds, "failed; queued again to be tried within seconds");
                    return false;
                }
                Err(send) => {
                    tracing::warn!(error = %send, "queueing a quick retry failed; the queue delivers it again")
                }
            }
        }
        if err.is_retryable() && self.receives < MAX_RECEIVES {
            tracing::warn!(error = %err, receives = self.receives, "dispatch failed; the message will be delivered again");
            return true;
        }
        tracing::error!(error = %err, receives = self.receives, "dispatch failed for good");
        give_up(ctx, message, self.receives).await.is_err()
    }
}

/// A message that cannot succeed still ends its result, so no run stays `running`. An answer
/// that cannot be recorded goes on to the dead-letter queue, where it is tried once more.
async fn give_up(ctx: &WorkerContext, message: &DispatchMessage, receives: u32) -> Result<()> {
    end_result(ctx, message, &format!("failed after {receives} attempts")).await
}

/// A message the queue gave up on (SQS moved it to the dead-letter queue after its receives ran
/// out, e.g. because the worker kept crashing): its result ends `error`, saying so.
async fn dead_letter(ctx: &WorkerContext, message: &DispatchMessage) -> Result<()> {
    tracing::warn!("resolving a dead-lettered message");
    end_result(ctx, message, "dead-lettered").await
}

async fn end_result(ctx: &WorkerContext, message: &DispatchMessage, why: &str) -> Result<()> {
    let (run, seq) = match message {
        DispatchMessage::Dispatch { run, seq, .. } => (*run, *seq),
        DispatchMessage::Timeouts { .. } | DispatchMessage::Timeout { .. } => {
            return timeouts::expire(ctx, &Known::default(), message, Some(why)).await
        }
        DispatchMessage::Answer(answer) => return handed_off::record_answer(ctx, answer).await,
        DispatchMessage::ReportPart { identity, part } => return handed_off::gather_part(ctx, identity, part).await,
        DispatchMessage::Notified { identity, version, action, payload, at } => {
            return handed_off::notified(ctx, identity, *version, action, payload, *at).await
        }
        DispatchMessage::FollowUps { run, seqs, not_before } => {
            return follow_ups::check(ctx, *run, seqs, *not_before).await
        }
        DispatchMessage::Cancel { run, after, reason } => {
            return cancel::sweep(ctx, *run, *after, reason.as_deref()).await
        }
        DispatchMessage::Redispatch { run, released, after, from } => {
            return rollouts::redispatch_page(ctx, *run, *released, *after, *from).await
        }
        DispatchMessage::Recover { run } => return recover::recover(ctx, *run).await,
        // `Record::read` unwraps it; a wrapper reaching here ends what it wraps.
        DispatchMessage::Again { message, .. } => return Box::pin(end_result(ctx, message, why)).await,
        // A chunk that cannot be created still ends its results.
        DispatchMessage::CreateChunk { run, chunk, first_seq, ids, teams } => {
            let chunk = chunks::Chunk { run: *run, chunk: *chunk, first_seq: *first_seq, ids, teams };
            return chunks::create(ctx, chunk, true).await;
        }
        // Nothing to end: the message goes on to the dead-letter queue, whose records are tried again.
        DispatchMessage::WebhookWatch { .. } | DispatchMessage::WebhookSend { .. } => {
            return Err(Error::transient("webhook", format!("webhook message {why}; left to the dead-letter queue")))
        }
    };
    let outcome = Outcome::error(format!("dispatch failed: the message {why}"));
    ctx.runs.finish(run, seq, &Expect::Uncalled, outcome).await.map(|_| ())
}
