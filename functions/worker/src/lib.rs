//! The dispatch worker (SQS → charger). Each record is handled in its own future; the answer
//! lists only the records that should be delivered again (`ReportBatchItemFailures`).
//!
//! Dispatch, in order, each step conditional so a duplicate delivery sends no second CALL:
//! result still pending and uncalled → live connection (else `offline`) → the charger's in-flight
//! slot (else re-queued: one CALL per charger at a time) → timeout message queued → result marked
//! called with the CALL's id → frame posted (gone → `offline`).

use std::sync::Arc;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::{Duration, Utc};
use shared::dispatch::{DispatchMessage, BUSY_RETRY_SECONDS, MAX_DELAY_SECONDS, MAX_RECEIVES};
use shared::domain::{Expect, Outcome};
use shared::ocpp::encode_call;
use shared::ports::{
    ConnectionGateway, ConnectionRegistry, DispatchQueue, InflightCall, InflightCalls, Outgoing, PostError, RunStore,
};
use shared::Result;
use uuid::Uuid;

pub mod plans;

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
}

impl WorkerContext {
    pub fn new(
        runs: Arc<dyn RunStore>,
        connections: Arc<dyn ConnectionRegistry>,
        gateway: Arc<dyn ConnectionGateway>,
        inflight: Arc<dyn InflightCalls>,
        queue: Arc<dyn DispatchQueue>,
    ) -> Self {
        WorkerContext { runs, connections, gateway, inflight, queue, plans: Arc::default() }
    }
}

pub async fn handle(ctx: &WorkerContext, event: SqsEvent) -> SqsBatchResponse {
    let outcomes = futures::future::join_all(event.records.iter().map(|record| handle_record(ctx, record))).await;
    let mut response = SqsBatchResponse::default();
    for (record, retry) in event.records.iter().zip(outcomes) {
        if retry {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = record.message_id.clone().unwrap_or_default();
            response.batch_item_failures.push(failure);
        }
    }
    response
}

/// Handles one record; `true` asks for it to be delivered again.
async fn handle_record(ctx: &WorkerContext, record: &SqsMessage) -> bool {
    let body = record.body.as_deref().unwrap_or_default();
    let message: DispatchMessage = match serde_json::from_str(body) {
        Ok(message) => message,
        Err(err) => {
            tracing::error!(message_id = ?record.message_id, error = %err, "unreadable queue message dropped");
            return false;
        }
    };
    let receives: u32 = record.attributes.get("ApproximateReceiveCount").and_then(|n| n.parse().ok()).unwrap_or(1);
    let span = tracing::info_span!("dispatch", run = %message.run(), charger = %message.charger(), identity = message.identity());
    let _entered = span.enter();
    let err = match process(ctx, &message).await {
        Ok(()) => return false,
        Err(err) => err,
    };
    if err.is_retryable() && receives < MAX_RECEIVES {
        tracing::warn!(error = %err, receives, "dispatch failed; the message will be delivered again");
        return true;
    }
    tracing::error!(error = %err, receives, "dispatch failed for good");
    give_up(ctx, &message, receives).await.is_err()
}

/// A message that cannot succeed still ends its result, so no run stays `running`.
async fn give_up(ctx: &WorkerContext, message: &DispatchMessage, receives: u32) -> Result<()> {
    let (expect, outcome) = match message {
        DispatchMessage::Dispatch { .. } => {
            (Expect::Uncalled, Outcome::error(format!("dispatch failed after {receives} attempts")))
        }
        DispatchMessage::Timeout { call_id, .. } => {
            (Expect::Call(call_id.clone()), Outcome::error("timeout: no answer (the timeout check itself failed)"))
        }
    };
    ctx.runs.finish(message.run(), message.seq(), &expect, outcome).await?;
    Ok(())
}

async fn process(ctx: &WorkerContext, message: &DispatchMessage) -> Result<()> {
    let Some(plan) = ctx.plans.get(ctx.runs.as_ref(), message.run()).await? else {
        tracing::warn!("message for an unknown run dropped");
        return Ok(());
    };
    let seq = message.seq();
    match message {
        DispatchMessage::Dispatch { run, seq: _, charger, identity, not_before } => {
            let Some(result) = ctx.runs.result(*run, seq).await? else {
                tracing::warn!("message for an unknown result dropped");
                return Ok(());
            };
            if !result.admits(&Expect::Uncalled) {
                tracing::debug!(status = result.status.as_str(), "already dispatched or ended");
                return Ok(());
            }
            let now = Utc::now();
            if let Some(at) = not_before.filter(|at| *at > now) {
                let wait = (at - now).to_std().unwrap_or_default();
                if wait.as_secs() >= 1 {
                    let delay = u32::try_from(wait.as_secs()).unwrap_or(MAX_DELAY_SECONDS).min(MAX_DELAY_SECONDS);
                    return ctx.queue.send(vec![Outgoing { message: message.clone(), delay_seconds: delay }]).await;
                }
                tokio::time::sleep(wait).await;
            }
            let Some(connection) = ctx.connections.connection_of(identity).await? else {
                let now = Utc::now();
                if ctx.runs.finish(*run, seq, &Expect::Uncalled, Outcome::offline("no live connection", now)).await? {
                    tracing::info!("charger offline at dispatch");
                }
                return Ok(());
            };
            let now = Utc::now();
            let call = InflightCall {
                call_id: Uuid::new_v4().to_string(),
                action: plan.action.clone(),
                run: *run,
                charger: *charger,
                seq,
                expires_at: now + Duration::seconds(plan.timeout_seconds.into()),
            };
            if !ctx.inflight.acquire(identity, &call, now).await? {
                let held = ctx.inflight.current(identity).await?;
                if held.is_some_and(|held| held.run == *run && held.seq == seq) {
                    tracing::debug!("a duplicate delivery: this result's CALL is already in flight");
                    return Ok(());
                }
                tracing::debug!("charger busy with another CALL; re-queued");
                let retry = Outgoing { message: message.clone(), delay_seconds: BUSY_RETRY_SECONDS };
                return ctx.queue.send(vec![retry]).await;
            }
            let timeout = DispatchMessage::Timeout {
                run: *run,
                seq,
                charger: *charger,
                identity: identity.clone(),
                call_id: call.call_id.clone(),
            };
            if let Err(err) =
                ctx.queue.send(vec![Outgoing { message: timeout, delay_seconds: plan.timeout_seconds }]).await
            {
                ctx.inflight.release(identity, &call.call_id).await?;
                return Err(err);
            }
            if !ctx.runs.mark_called(*run, seq, &call.call_id, now).await? {
                ctx.inflight.release(identity, &call.call_id).await?;
                tracing::debug!("lost the race to dispatch this result");
                return Ok(());
            }
            let frame = encode_call(&call.call_id, &plan.action, &plan.payload_json);
            let failure = match ctx.gateway.post(&connection, &frame).await {
                Ok(()) => {
                    tracing::debug!(call = %call.call_id, "CALL posted");
                    return Ok(());
                }
                Err(PostError::Gone) => {
                    ctx.connections.unregister(&connection).await?;
                    Outcome::offline("connection gone", Utc::now())
                }
                Err(PostError::Failed(err)) => {
                    tracing::error!(error = %err, "posting the CALL failed");
                    Outcome::error("dispatch failed: the charger's connection could not be reached")
                }
            };
            ctx.runs.finish(*run, seq, &Expect::Call(call.call_id.clone()), failure).await?;
            ctx.inflight.release(identity, &call.call_id).await
        }
        DispatchMessage::Timeout { run, identity, call_id, .. } => {
            let outcome = Outcome::error(format!("timeout: no answer within {} s", plan.timeout_seconds));
            if ctx.runs.finish(*run, seq, &Expect::Call(call_id.clone()), outcome).await? {
                tracing::info!(call = %call_id, "CALL timed out");
            }
            ctx.inflight.release(identity, call_id).await
        }
    }
}

impl WorkerContext {
    /// The AWS wiring, read once at cold start: RUNS_TABLE, CONNECTIONS_TABLE, DISPATCH_QUEUE_URL,
    /// and the WebSocket management endpoint (see `AwsClients::management_endpoint`).
    pub async fn from_env() -> std::result::Result<WorkerContext, String> {
        use shared::aws::{
            required_env, ApiGatewayConnections, AwsClients, DynamoConnections, DynamoRunStore, SqsDispatchQueue,
        };
        let (runs, connections, queue) =
            (required_env("RUNS_TABLE")?, required_env("CONNECTIONS_TABLE")?, required_env("DISPATCH_QUEUE_URL")?);
        let clients = AwsClients::from_env().await;
        let endpoint = clients.management_endpoint()?;
        let connections = Arc::new(DynamoConnections::new(clients.dynamodb.clone(), connections));
        Ok(WorkerContext::new(
            Arc::new(DynamoRunStore::new(clients.dynamodb.clone(), runs)),
            connections.clone(),
            Arc::new(ApiGatewayConnections::new(clients.management(&endpoint))),
            connections,
            Arc::new(SqsDispatchQueue::new(clients.sqs.clone(), queue)),
        ))
    }
}
