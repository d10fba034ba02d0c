//! What Lambda and SQS do around the functions on AWS, done in this process for
//! `serve --backend aws` and the tests: the event source mapping's polling of a queue, SQS's
//! at-least-once delivery made visible, and Lambda's recursive-loop detection. Never linked into a
//! Lambda function.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_sqs::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_sqs::error::BoxError;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use aws_sdk_sqs::Client;
use shared::aws::errors::sdk_error;
use shared::ports::{DispatchQueue, Outgoing};
use shared::queue_message::DispatchMessage;
use shared::Result;

/// Sends every message twice: at-least-once delivery made visible, to prove handlers idempotent.
pub struct Duplicating(pub Arc<dyn DispatchQueue>);

#[async_trait]
impl DispatchQueue for Duplicating {
    async fn send(&self, messages: Vec<Outgoing<DispatchMessage>>) -> Result<()> {
        let twice = messages.iter().flat_map(|m| [m.clone(), m.clone()]).collect();
        self.0.send(twice).await
    }
}

/// A function's recursive-loop setting (`RecursiveLoop` in template.yaml). Lambda follows a chain
/// of invocations through the X-Ray trace header's `Lineage`, which the AWS SDK copies from the
/// invocation (`_X_AMZN_TRACE_ID`) into every request, and SQS into each message it sends
/// (`AWSTraceHeader`); with `Terminate`, its default, the invocation after about 16 of one chain is
/// dropped (AWS Lambda Developer Guide, "Use Lambda recursive loop detection to prevent infinite
/// loops"; docs/data-model.md, "What AWS enforces").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecursiveLoop {
    /// As template.yaml sets the worker, which feeds its own queue on purpose (quick retries,
    /// pacing, sweeps, webhook watches): chains of any length run.
    #[default]
    Allow,
    Terminate,
}

impl RecursiveLoop {
    /// The setting's name in a template (`AWS::Lambda::Function`'s `RecursiveLoop`).
    pub fn name(self) -> &'static str {
        match self {
            RecursiveLoop::Allow => "Allow",
            RecursiveLoop::Terminate => "Terminate",
        }
    }
}

/// The invocations of one chain Lambda lets run before it drops the next.
pub const RECURSION_LIMIT: u32 = 16;

/// The worker's timeout in template.yaml (`Globals.Function.Timeout`; tests/tests/template.rs
/// checks the two agree). Lambda stops an invocation that runs longer, and every record of its
/// batch is received again after the visibility timeout: what it did is kept, its answer is lost.
pub const WORKER_TIMEOUT: Duration = Duration::from_secs(30);

static INVOCATIONS_TIMED_OUT: AtomicU64 = AtomicU64::new(0);

/// Invocations stopped at their timeout so far in this process.
pub fn invocations_timed_out() -> u64 {
    INVOCATIONS_TIMED_OUT.load(Ordering::Relaxed)
}

static RECURSIVE_INVOCATIONS_DROPPED: AtomicU64 = AtomicU64::new(0);

/// Invocations dropped as recursive so far in this process (Lambda's `RecursiveInvocationsDropped`).
pub fn recursive_invocations_dropped() -> u64 {
    RECURSIVE_INVOCATIONS_DROPPED.load(Ordering::Relaxed)
}

tokio::task_local! {
    /// The chain depth of the invocation running on this task: what its requests' trace header says.
    static LINEAGE: u32;
}

/// The chain depth a trace header carries (`Lineage=ocpp-bulk:N`), 0 without one.
fn lineage_of(trace_header: &str) -> u32 {
    trace_header
        .split(';')
        .find_map(|field| field.trim().strip_prefix("Lineage="))
        .and_then(|lineage| lineage.rsplit(':').next())
        .and_then(|depth| depth.parse().ok())
        .unwrap_or(0)
}

/// Puts the running invocation's trace header on each request of a client, as the AWS SDK's
/// recursion-detection interceptor does on Lambda from `_X_AMZN_TRACE_ID`: that variable is the
/// process's, and this process runs many invocations at once, so the depth travels with the task
/// instead (`LINEAGE`). SQS keeps the header as each message's `AWSTraceHeader`.
#[derive(Debug)]
struct TraceHeader;

impl Intercept for TraceHeader {
    fn name(&self) -> &'static str {
        "LocalTraceHeader"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Ok(depth) = LINEAGE.try_with(|depth| *depth) {
            let header = format!("Root=1-00000000-000000000000000000000000;Lineage=ocpp-bulk:{depth}");
            context.request_mut().headers_mut().insert("x-amzn-trace-id", header);
        }
        Ok(())
    }
}

/// `client`, its requests carrying the trace header of the invocation that makes them (`TraceHeader`).
pub fn with_trace_header(client: &Client) -> Client {
    Client::from_conf(client.config().to_builder().interceptor(TraceHeader).build())
}

/// Receives from the queue and hands each batch to `handler` as an `SqsEvent`; records the
/// handler does not report as failed are deleted, the others come back after the visibility
/// timeout (and move to the DLQ after maxReceiveCount), as with Lambda's event source mapping.
/// Each record carries `source_arn` as its `eventSourceARN`. A batch whose chain is
/// `RECURSION_LIMIT` invocations deep is not handed over unless `recursion` allows it: its messages
/// stay on the queue, as Lambda leaves them (the dead-letter queue takes them after their receives).
/// Requests the handler makes through a client of `with_trace_header` carry the chain one deeper.
/// The handler is given its invocation's deadline, `timeout` from its start, and stopped there, as
/// Lambda stops it: none of its batch's messages is deleted.
pub async fn poll<H, F>(
    client: Client,
    url: String,
    source_arn: Option<String>,
    recursion: RecursiveLoop,
    timeout: Duration,
    handler: H,
) where
    H: Fn(SqsEvent, tokio::time::Instant) -> F,
    F: Future<Output = SqsBatchResponse>,
{
    loop {
        #[allow(deprecated)]
        let received = client
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
            .send()
            .await;
        let messages = match received {
            Ok(output) => output.messages.unwrap_or_default(),
            Err(err) => {
                tracing::warn!(error = %sdk_error("sqs", err), "receiving from the dispatch queue failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if messages.is_empty() {
            continue;
        }
        let mut event = SqsEvent::default();
        let mut receipts = Vec::with_capacity(messages.len());
        for message in messages {
            let mut record = SqsMessage::default();
            record.message_id = message.message_id.clone();
            record.receipt_handle = message.receipt_handle.clone();
            record.body = message.body.clone();
            record.event_source = Some("aws:sqs".into());
            record.event_source_arn = source_arn.clone();
            for (name, value) in message.attributes.unwrap_or_default() {
                record.attributes.insert(name.as_str().to_owned(), value);
            }
            receipts.push((message.message_id.unwrap_or_default(), message.receipt_handle.unwrap_or_default()));
            event.records.push(record);
        }
        // The invocation's depth: the deepest chain among its messages.
        let depth = event
            .records
            .iter()
            .filter_map(|record| record.attributes.get("AWSTraceHeader"))
            .map(|header| lineage_of(header))
            .max()
            .unwrap_or(0);
        if depth >= RECURSION_LIMIT && recursion == RecursiveLoop::Terminate {
            RECURSIVE_INVOCATIONS_DROPPED.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(depth, "recursive invocation dropped, as Lambda drops it (RecursiveLoop: Terminate)");
            continue;
        }
        let started = std::time::Instant::now();
        let deadline = tokio::time::Instant::now() + timeout;
        let invocation = LINEAGE.scope(depth.saturating_add(1), handler(event, deadline));
        let response = match tokio::time::timeout_at(deadline, invocation).await {
            Ok(response) => response,
            Err(_) => {
                INVOCATIONS_TIMED_OUT.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    seconds = timeout.as_secs(),
                    "invocation stopped at its timeout, as Lambda stops it: its batch comes back"
                );
                continue;
            }
        };
        crate::invocations::record("worker", started.elapsed());
        let done: Vec<DeleteMessageBatchRequestEntry> = receipts
            .into_iter()
            .filter(|(id, _)| !response.batch_item_failures.iter().any(|f| f.item_identifier == *id))
            .enumerate()
            .filter_map(|(i, (_, receipt))| {
                DeleteMessageBatchRequestEntry::builder().id(i.to_string()).receipt_handle(receipt).build().ok()
            })
            .collect();
        if !done.is_empty() {
            if let Err(err) = client.delete_message_batch().queue_url(&url).set_entries(Some(done)).send().await {
                tracing::warn!(error = %sdk_error("sqs", err), "deleting handled messages failed; they will be delivered again");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trace_headers_lineage_is_its_chains_depth() {
        assert_eq!(lineage_of("Root=1-5759e988-bd862e3fe1be46a994272793;Lineage=ocpp-bulk:7"), 7);
        assert_eq!(lineage_of("Root=1-5759e988-bd862e3fe1be46a994272793; Lineage=a87bd80c:16"), 16);
        assert_eq!(lineage_of("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0"), 0);
        assert_eq!(lineage_of("Lineage=garbled"), 0);
    }
}
