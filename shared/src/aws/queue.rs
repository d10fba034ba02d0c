//! The dispatch queue on SQS: SendMessageBatch in chunks of 10 (failed entries retried with
//! backoff, chunks sent concurrently), and, for `ocpp-bulk serve --backend aws`, a poller that
//! delivers batches to the worker the way Lambda's event source mapping does.

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName, SendMessageBatchRequestEntry};
use aws_sdk_sqs::Client;
use futures::{StreamExt, TryStreamExt};

use super::errors::sdk_error;
use crate::dispatch::{DispatchMessage, MAX_DELAY_SECONDS};
use crate::error::{Error, Result};
use crate::ports::{DispatchQueue, Outgoing};
use crate::retry::{exhausted, Backoff};

/// SQS's limit per SendMessageBatch / DeleteMessageBatch.
pub const SEND_CHUNK: usize = 10;
const CONCURRENCY: usize = 64;

pub struct SqsDispatchQueue {
    client: Client,
    url: String,
    copies: usize,
}

impl SqsDispatchQueue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        SqsDispatchQueue { client, url: url.into(), copies: 1 }
    }

    /// Sends every message twice: at-least-once delivery made visible, to prove handlers idempotent.
    pub fn duplicating(mut self) -> Self {
        self.copies = 2;
        self
    }

    async fn send_chunk(&self, mut entries: Vec<SendMessageBatchRequestEntry>) -> Result<()> {
        for attempt in 0..Backoff::BATCH.attempts {
            let output = self
                .client
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries.clone()))
                .send()
                .await
                .map_err(|e| sdk_error("sqs", e))?;
            if let Some(bad) = output.failed.iter().find(|f| f.sender_fault) {
                return Err(Error::internal(
                    "sqs",
                    format!("message refused: {}: {}", bad.code, bad.message.as_deref().unwrap_or("")),
                ));
            }
            if output.failed.is_empty() {
                return Ok(());
            }
            entries.retain(|e| output.failed.iter().any(|f| f.id == e.id));
            Backoff::BATCH.wait(attempt).await;
        }
        Err(exhausted("sqs", format_args!("{} messages still failing", entries.len()), &Backoff::BATCH))
    }
}

#[async_trait]
impl DispatchQueue for SqsDispatchQueue {
    async fn send(&self, messages: Vec<Outgoing<DispatchMessage>>) -> Result<()> {
        let mut chunks = Vec::with_capacity(messages.len().div_ceil(SEND_CHUNK));
        let messages: Vec<&Outgoing<DispatchMessage>> =
            messages.iter().flat_map(|m| std::iter::repeat_n(m, self.copies)).collect();
        for chunk in messages.chunks(SEND_CHUNK) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, outgoing)| {
                    let body = serde_json::to_string(&outgoing.message).map_err(|e| Error::internal("sqs", e))?;
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body)
                        .delay_seconds(i32::try_from(outgoing.delay_seconds.min(MAX_DELAY_SECONDS)).unwrap_or(0))
                        .build()
                        .map_err(|e| Error::internal("sqs", e))
                })
                .collect::<Result<Vec<_>>>()?;
            chunks.push(entries);
        }
        futures::stream::iter(chunks.into_iter().map(|entries| self.send_chunk(entries)))
            .buffer_unordered(CONCURRENCY)
            .try_collect::<()>()
            .await
    }
}

/// Receives from the queue and hands each batch to `handler` as an `SqsEvent`; records the
/// handler does not report as failed are deleted, the others come back after the visibility
/// timeout (and move to the DLQ after maxReceiveCount), as with Lambda's event source mapping.
/// Each record carries `source_arn` as its `eventSourceARN`.
pub async fn poll<H, F>(client: Client, url: String, source_arn: Option<String>, handler: H)
where
    H: Fn(SqsEvent) -> F,
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
        let response = handler(event).await;
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
