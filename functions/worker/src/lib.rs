//! The dispatch worker (SQS → charger). Each record is handled in its own future; the answer
//! lists only the records that should be delivered again (`ReportBatchItemFailures`).
//!
//! Dispatch, in order, each step conditional so a duplicate delivery sends no second CALL:
//! result still pending and uncalled → live connection (else `offline`) → the charger's in-flight
//! slot (else re-queued: one CALL per charger at a time) → timeout message queued (one send for
//! the whole batch) → result marked called with the CALL's id → frame posted (gone → `offline`).

use std::sync::Arc;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use shared::aws::{
    required_env, ApiGatewayConnections, AwsClients, DynamoConnections, DynamoRunStore, SqsDispatchQueue,
};
use shared::dispatch::{DispatchMessage, MAX_RECEIVES};
use shared::domain::{Expect, Outcome};
use shared::ports::{ConnectionGateway, ConnectionRegistry, DispatchQueue, InflightCalls, RunStore};
use shared::{Error, Result};
use tracing::Instrument;

pub mod dispatch;
pub mod plans;

use dispatch::Step;
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
    let records: Vec<Record> = event.records.iter().map(Record::read).collect();
    // Step one, every record at once: checks, offline verdicts, the charger's slot; timeouts end here.
    let steps = futures::future::join_all(records.iter().map(|r| async move {
        match &r.message {
            Some(message) => dispatch::prepare(ctx, message).instrument(r.span()).await,
            None => Ok(Step::Done),
        }
    }))
    .await;
    // The CALLs about to go out get their timeout messages in one send, before any is marked called.
    let timeouts: Vec<_> = steps
        .iter()
        .filter_map(|s| if let Ok(Step::Ready(ready)) = s { Some(ready.timeout()) } else { None })
        .collect();
    let queued = if timeouts.is_empty() { Ok(()) } else { ctx.queue.send(timeouts).await };
    if let Err(err) = &queued {
        tracing::warn!(error = %err, "queueing the batch's timeout messages failed; its CALLs wait for a retry");
    }
    // Step two: mark each result called and post its CALL; then settle every record.
    let outcomes = futures::future::join_all(records.iter().zip(steps).map(|(record, step)| {
        let queued = queued.is_ok();
        async move {
            let done = match step {
                Ok(Step::Ready(ready)) if queued => dispatch::fire(ctx, ready).await,
                Ok(Step::Ready(ready)) => ready
                    .abandon(ctx)
                    .await
                    .and(Err(Error::transient("sqs", "the timeout message could not be queued"))),
                Ok(Step::Done) => Ok(()),
                Err(err) => Err(err),
            };
            record.settle(ctx, done).await
        }
        .instrument(record.span())
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

/// One SQS record, read.
struct Record {
    id: String,
    receives: u32,
    /// `None`: the body is not a dispatch message (dropped, never retried).
    message: Option<DispatchMessage>,
}

impl Record {
    fn read(record: &SqsMessage) -> Record {
        let id = record.message_id.clone().unwrap_or_default();
        let receives = record.attributes.get("ApproximateReceiveCount").and_then(|n| n.parse().ok()).unwrap_or(1);
        let message = match serde_json::from_str(record.body.as_deref().unwrap_or_default()) {
            Ok(message) => Some(message),
            Err(err) => {
                tracing::error!(message_id = %id, error = %err, "unreadable queue message dropped");
                None
            }
        };
        Record { id, receives, message }
    }

    fn span(&self) -> tracing::Span {
        match &self.message {
            Some(m) => tracing::info_span!("dispatch", run = %m.run(), charger = %m.charger(), identity = m.identity()),
            None => tracing::Span::none(),
        }
    }

    /// `true` asks for the record to be delivered again.
    async fn settle(&self, ctx: &WorkerContext, done: Result<()>) -> bool {
        let (Err(err), Some(message)) = (done, &self.message) else {
            return false;
        };
        if err.is_retryable() && self.receives < MAX_RECEIVES {
            tracing::warn!(error = %err, receives = self.receives, "dispatch failed; the message will be delivered again");
            return true;
        }
        tracing::error!(error = %err, receives = self.receives, "dispatch failed for good");
        give_up(ctx, message, self.receives).await.is_err()
    }
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

impl WorkerContext {
    /// The AWS adapters: the runs and connections tables, the dispatch queue, and the WebSocket
    /// API's management endpoint.
    pub fn on_aws(
        clients: &AwsClients,
        runs_table: &str,
        connections_table: &str,
        queue: Arc<dyn DispatchQueue>,
        management_endpoint: &str,
    ) -> Self {
        let connections = Arc::new(DynamoConnections::new(clients.dynamodb.clone(), connections_table));
        WorkerContext::new(
            Arc::new(DynamoRunStore::new(clients.dynamodb.clone(), runs_table)),
            connections.clone(),
            Arc::new(ApiGatewayConnections::new(clients.management(management_endpoint))),
            connections,
            queue,
        )
    }

    /// The AWS wiring, read once at cold start: RUNS_TABLE, CONNECTIONS_TABLE, DISPATCH_QUEUE_URL,
    /// and the WebSocket management endpoint (see `AwsClients::management_endpoint`).
    pub async fn from_env() -> std::result::Result<WorkerContext, String> {
        let (runs, connections, queue) =
            (required_env("RUNS_TABLE")?, required_env("CONNECTIONS_TABLE")?, required_env("DISPATCH_QUEUE_URL")?);
        let clients = AwsClients::from_env().await;
        let endpoint = clients.management_endpoint()?;
        let queue = Arc::new(SqsDispatchQueue::new(clients.sqs.clone(), queue));
        Ok(Self::on_aws(&clients, &runs, &connections, queue, &endpoint))
    }
}
