//! What Lambda and SQS do around the functions on AWS, done in this process for
//! `serve --backend aws` and the tests: the event source mapping's polling of a queue, and SQS's
//! at-least-once delivery made visible. Never linked into a Lambda function.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
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
        let started = std::time::Instant::now();
        let response = handler(event).await;
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
