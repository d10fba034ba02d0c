//! POST /v3/chargers/commands/bulk: validate, resolve chargers, store the run, queue one message
//! per accessible charger.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use shared::domain::{Counters, Expect, Identity, Outcome, ResultRecord, Run};
use shared::ports::{IdempotencyClaim, Outgoing};
use shared::queue_message::{rollout_slot, DispatchMessage};
use shared::{Error, Result};
use uuid::Uuid;

use crate::views::EMBEDDED_RESULTS;
use crate::ApiContext;

use crate::bulk_request::BulkRequest;

/// When a run created inline is looked at for lost messages (`DispatchMessage::Recover`).
pub const RECOVER_AFTER_SECONDS: u32 = 60;

/// How long after a claim a request with the same key may take it over when no run exists: longer
/// than any request may run (API Gateway ends one at 30 s).
pub const TAKEOVER_AFTER: Duration = Duration::seconds(60);

/// How long an `Idempotency-Key` names its run.
pub const IDEMPOTENCY_HOURS: i64 = 24;

/// Creates a run, or, for an `Idempotency-Key` (with the body's fingerprint) the same user already
/// used within 24 h, answers with that request's run: a different body under the same key is a
/// 422, a first request still being processed a 409.
pub async fn submit(
    ctx: &ApiContext,
    caller: &Identity,
    request: BulkRequest,
    idempotency: Option<(String, String)>,
    now: DateTime<Utc>,
) -> Result<(Run, Vec<ResultRecord>)> {
    let run_id = Uuid::new_v4();
    let Some((key, fingerprint)) = idempotency else {
        return create(ctx, caller, request, now, run_id).await;
    };
    let expires = now + Duration::hours(IDEMPOTENCY_HOURS);
    match ctx.idempotency.claim(&caller.user, &key, &fingerprint, run_id, expires).await? {
        IdempotencyClaim::Claimed => {}
        IdempotencyClaim::Existing { fingerprint: earlier, .. } if earlier != fingerprint => {
            return Err(Error::invalid(
                "idempotency_key",
                "The Idempotency-Key was already used with a different request body.",
            ));
        }
        IdempotencyClaim::Existing { run, expires_at, .. } => {
            return match ctx.runs.run(run).await? {
                Some(existing) if existing.owner == caller.user => {
                    let results = ctx.runs.results(run, None, None, EMBEDDED_RESULTS).await?;
                    Ok((existing, results))
                }
                Some(_) => Err(Error::Conflict),
                // Claimed long enough ago that its request is over, and no run: that request died
                // before storing it. This one creates it, under the same id (any of its messages
                // still queued then find their run).
                None if expires_at - Duration::hours(IDEMPOTENCY_HOURS) + TAKEOVER_AFTER <= now => {
                    tracing::warn!(run = %run, "taking over the Idempotency-Key of a request that never created its run");
                    create(ctx, caller, request, now, run).await
                }
                None => Err(Error::Conflict),
            };
        }
    }
    let created = create(ctx, caller, request, now, run_id).await;
    if created.is_err() {
        if let Err(err) = ctx.idempotency.forget(&caller.user, &key, run_id).await {
            tracing::warn!(run = %run_id, error = %err, "could not release the Idempotency-Key of a failed request");
        }
    }
    created
}

/// Creates run `run_id`: resolves the chargers, stores the run and its results, queues one
/// message per accessible charger.
pub async fn create(
    ctx: &ApiContext,
    caller: &Identity,
    request: BulkRequest,
    now: DateTime<Utc>,
    run_id: Uuid,
) -> Result<(Run, Vec<ResultRecord>)> {
    let mut request = request;
    let webhook = match &request.callback {
        Some((url, progress)) => Some(crate::webhook::checked(ctx, caller, url, *progress).await?),
        None => None,
    };
    if let Some(target) = &request.target {
        let matched = crate::fleet::resolve(ctx, caller, target).await?;
        if matched.is_empty() {
            return Err(Error::invalid("target", "The target matches none of your chargers."));
        }
        request.charger_ids = matched.iter().map(Uuid::to_string).collect();
    }
    if request.charger_ids.len() > crate::chunks::INLINE_LIMIT {
        return crate::chunks::create(ctx, caller, request, now, run_id, webhook).await;
    }
    crate::rollout::fits(request.rollout.as_ref(), request.charger_ids.len() as u64)?;
    let rolled_out = request.rollout.is_some();
    let (charger_ids, settings) = (std::mem::take(&mut request.charger_ids), request);
    let uuids: Vec<Uuid> = charger_ids.iter().filter_map(|id| Uuid::try_parse(id).ok()).collect();
    // The adapter chunks the lookup as its store requires, with its own concurrency cap.
    let mut accessible = HashMap::new();
    for charger in ctx.chargers.chargers_by_uuid(&uuids).await?.into_iter().filter(|c| caller.can_access(c)) {
        accessible.insert(charger.uuid.to_string(), charger);
    }

    let mut counters = Counters::default();
    let mut messages = Vec::with_capacity(accessible.len());
    let results: Vec<ResultRecord> = charger_ids
        .into_iter()
        .enumerate()
        .map(|(seq, id)| match accessible.get(&id) {
            // A rolled-out run's results are dispatched by its watch, a wave at a time.
            Some(charger) if rolled_out => ResultRecord::pending(seq as u64, charger.as_ref()),
            Some(charger) => {
                let slot = messages.len() as u64;
                let (delay_seconds, not_before) = rollout_slot(settings.max_per_second, slot, now, now);
                messages.push(Outgoing {
                    message: DispatchMessage::Dispatch {
                        run: run_id,
                        seq: seq as u64,
                        charger: charger.uuid,
                        identity: charger.identity.clone(),
                        not_before,
                    },
                    delay_seconds,
                });
                ResultRecord::pending(seq as u64, charger.as_ref())
            }
            None => {
                counters.skipped += 1;
                ResultRecord::skipped(seq as u64, id)
            }
        })
        .collect();

    let mut run = settings.into_run(ctx, caller, run_id, results.len() as u64, now, webhook);
    run.counters = counters;
    if run.is_complete() {
        run.completed_at = Some(now);
    }
    if rolled_out && !run.is_complete() {
        // Its watch drives the rollout: the backstop copy is queued before the run is stored.
        let [backstop, watch] = crate::rollout::watches(run_id);
        ctx.queue.send(vec![backstop]).await?;
        messages.push(watch);
    } else if run.webhook.is_some() {
        // The run's watch (`worker/src/webhooks.rs`): progress events, then the completion event.
        messages.push(Outgoing { message: DispatchMessage::WebhookWatch { run: run_id, step: 1 }, delay_seconds: 1 });
    }
    let first_results: Vec<ResultRecord> = results.iter().take(EMBEDDED_RESULTS).cloned().collect();
    let dispatched: Vec<u64> = messages.iter().filter_map(|m| m.message.result_key()).map(|(_, seq)| seq).collect();
    // Queued before the run is stored: if this request dies between storing the run and queueing
    // its messages, the run is recovered from the queue (`worker/src/recover.rs`) instead of
    // staying `running`; if it dies before storing it, the message finds no run and ends.
    if !dispatched.is_empty() {
        let recover = DispatchMessage::Recover { run: run.id };
        ctx.queue.send(vec![Outgoing { message: recover, delay_seconds: RECOVER_AFTER_SECONDS }]).await?;
    }
    ctx.runs.create_run(&run, results).await?;
    tracing::info!(run = %run.id, user = %run.owner, command = %run.command, total = run.total_count,
        skipped = run.counters.skipped, "run created");

    if let Err(err) = ctx.queue.send(messages).await {
        tracing::error!(run = %run.id, error = %err, "queueing failed; failing the run's undispatched results");
        fail_undispatched(ctx, run.id, &dispatched).await?;
        if run.webhook.is_some() {
            // Its watch may have been among the messages lost: once more, alone, so the run's
            // completion is still told.
            let watch = Outgoing { message: DispatchMessage::WebhookWatch { run: run.id, step: 1 }, delay_seconds: 1 };
            if let Err(err) = ctx.queue.send(vec![watch]).await {
                tracing::error!(run = %run.id, error = %err, "the run's webhook watch could not be queued");
            }
        }
        let run = ctx.runs.run(run.id).await?.unwrap_or(run);
        let first_results = ctx.runs.results(run.id, None, None, EMBEDDED_RESULTS).await?;
        return Ok((run, first_results));
    }
    Ok((run, first_results))
}

/// Results whose message may not have been queued become `error`; any the worker already
/// called are left to finish (the write is conditional on no CALL yet).
async fn fail_undispatched(ctx: &ApiContext, run: Uuid, seqs: &[u64]) -> Result<()> {
    let outcome = Outcome::error("dispatch failed: the queue refused the message");
    for &seq in seqs {
        ctx.runs.finish(run, seq, &Expect::Uncalled, outcome.clone()).await?;
    }
    Ok(())
}
