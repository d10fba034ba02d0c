//! The dispatch queue on SQS: SendMessageBatch in chunks of 10 (failed entries retried with
//! backoff, chunks sent concurrently). Receiving is Lambda's event source mapping on AWS, and
//! `cli/src/lambda_like.rs` for `ocpp-bulk serve --backend aws`.

use async_trait::async_trait;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use aws_sdk_sqs::Client;
use futures::{StreamExt, TryStreamExt};

use super::errors::sdk_error;
use crate::error::{Error, Result};
use crate::ports::{DispatchQueue, Outgoing};
use crate::queue_message::{DispatchMessage, MAX_DELAY_SECONDS};
use crate::retry::{exhausted, Backoff};

/// SQS's limit per SendMessageBatch / DeleteMessageBatch.
pub const SEND_CHUNK: usize = 10;
/// The most message bytes one SendMessageBatch carries: SQS takes 256 KiB per call, all entries
/// together (a big run's chunk messages are tens of KB each).
pub const SEND_BYTES: usize = 200 * 1024;
const CONCURRENCY: usize = 64;

pub struct SqsDispatchQueue {
    client: Client,
    url: String,
}

impl SqsDispatchQueue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        SqsDispatchQueue { client, url: url.into() }
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
        let mut chunks: Vec<Vec<SendMessageBatchRequestEntry>> =
            Vec::with_capacity(messages.len().div_ceil(SEND_CHUNK));
        let mut bytes = 0;
        for outgoing in &messages {
            let body = serde_json::to_string(&outgoing.message).map_err(|e| Error::internal("sqs", e))?;
            let full = chunks.last().is_none_or(|c| c.len() == SEND_CHUNK || bytes + body.len() > SEND_BYTES);
            if full {
                chunks.push(Vec::with_capacity(SEND_CHUNK));
                bytes = 0;
            }
            bytes += body.len();
            let Some(chunk) = chunks.last_mut() else { continue };
            let entry = SendMessageBatchRequestEntry::builder()
                .id(chunk.len().to_string())
                .message_body(body)
                .delay_seconds(i32::try_from(outgoing.delay_seconds.min(MAX_DELAY_SECONDS)).unwrap_or(0))
                .build()
                .map_err(|e| Error::internal("sqs", e))?;
            chunk.push(entry);
        }
        futures::stream::iter(chunks.into_iter().map(|entries| self.send_chunk(entries)))
            .buffer_unordered(CONCURRENCY)
            .try_collect::<()>()
            .await
    }
}
