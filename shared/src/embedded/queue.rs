//! The in-process dispatch queue, with SQS's semantics where they matter: batches of up to 10
//! records delivered as an `SqsEvent`, delays, at-least-once delivery (failed records come back
//! after a visibility timeout with `ApproximateReceiveCount` raised), a dead-letter count.
//! `duplicate_deliveries` delivers every message twice, to prove handlers idempotent.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use tokio::sync::{mpsc, Semaphore};

use crate::error::{Error, Result};
use crate::ports::{DispatchQueue, Outgoing};
use crate::queue_message::{DispatchMessage, MAX_RECEIVES};

/// Records per delivered batch (SQS's maximum).
const BATCH_SIZE: usize = 10;

#[derive(Debug, Clone)]
pub struct QueueOptions {
    /// Batches handled at once (Lambda's maximum concurrency).
    pub concurrency: usize,
    /// How long a failed record stays invisible before it is delivered again.
    pub visibility_timeout: Duration,
    pub duplicate_deliveries: bool,
}

impl Default for QueueOptions {
    fn default() -> Self {
        QueueOptions { concurrency: 64, visibility_timeout: Duration::from_secs(1), duplicate_deliveries: false }
    }
}

struct Envelope {
    id: String,
    body: Arc<str>,
    receive_count: u32,
}

#[derive(Clone)]
pub struct MemoryQueue {
    sender: mpsc::UnboundedSender<Envelope>,
    options: QueueOptions,
    next_id: Arc<AtomicU64>,
    dead_letters: Arc<AtomicU64>,
}

/// The receiving end; `run` drives deliveries until every sender is gone.
pub struct QueueConsumer {
    receiver: mpsc::UnboundedReceiver<Envelope>,
    queue: MemoryQueue,
}

impl MemoryQueue {
    pub fn new(options: QueueOptions) -> (MemoryQueue, QueueConsumer) {
        let (sender, receiver) = mpsc::unbounded_channel();
        let queue = MemoryQueue {
            sender,
            options,
            next_id: Arc::new(AtomicU64::new(0)),
            dead_letters: Arc::new(AtomicU64::new(0)),
        };
        (queue.clone(), QueueConsumer { receiver, queue })
    }

    /// Messages that failed `MAX_RECEIVES` times.
    pub fn dead_letters(&self) -> u64 {
        self.dead_letters.load(Ordering::Relaxed)
    }

    fn enqueue(&self, envelope: Envelope, delay: Duration) {
        if delay.is_zero() {
            let _ = self.sender.send(envelope);
        } else {
            let sender = self.sender.clone();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let _ = sender.send(envelope);
            });
        }
    }
}

#[async_trait]
impl DispatchQueue for MemoryQueue {
    async fn send(&self, messages: Vec<Outgoing<DispatchMessage>>) -> Result<()> {
        let copies = if self.options.duplicate_deliveries { 2 } else { 1 };
        for outgoing in messages {
            let body: Arc<str> =
                serde_json::to_string(&outgoing.message).map_err(|e| Error::internal("local queue", e))?.into();
            for _ in 0..copies {
                let id = format!("local-{}", self.next_id.fetch_add(1, Ordering::Relaxed));
                let envelope = Envelope { id, body: body.clone(), receive_count: 0 };
                self.enqueue(envelope, Duration::from_secs(outgoing.delay_seconds.into()));
            }
        }
        Ok(())
    }
}

impl QueueConsumer {
    /// Delivers batches to `handler` until the queue is dropped; records the handler reports as
    /// failed come back after the visibility timeout, up to `MAX_RECEIVES` receives.
    pub async fn run<H, F>(mut self, handler: H)
    where
        H: Fn(SqsEvent) -> F + Send + Sync + 'static,
        F: Future<Output = SqsBatchResponse> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let permits = Arc::new(Semaphore::new(self.queue.options.concurrency.max(1)));
        let mut batch = Vec::with_capacity(BATCH_SIZE);
        while self.receiver.recv_many(&mut batch, BATCH_SIZE).await > 0 {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                return;
            };
            let mut envelopes: HashMap<String, Envelope> = HashMap::with_capacity(batch.len());
            let mut records = Vec::with_capacity(batch.len());
            for mut envelope in batch.drain(..) {
                envelope.receive_count += 1;
                records.push(record(&envelope));
                envelopes.insert(envelope.id.clone(), envelope);
            }
            let mut event = SqsEvent::default();
            event.records = records;
            let handler = handler.clone();
            let queue = self.queue.clone();
            tokio::spawn(async move {
                let response = handler(event).await;
                for failure in response.batch_item_failures {
                    let Some(envelope) = envelopes.remove(&failure.item_identifier) else {
                        continue;
                    };
                    if envelope.receive_count >= MAX_RECEIVES {
                        queue.dead_letters.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(message_id = %envelope.id, body = %envelope.body, "message moved to the dead-letter count");
                    } else {
                        let delay = queue.options.visibility_timeout;
                        queue.enqueue(envelope, delay);
                    }
                }
                drop(permit);
            });
        }
    }
}

fn record(envelope: &Envelope) -> SqsMessage {
    let mut message = SqsMessage::default();
    message.message_id = Some(envelope.id.clone());
    message.body = Some(envelope.body.to_string());
    message.attributes.insert("ApproximateReceiveCount".to_owned(), envelope.receive_count.to_string());
    message.event_source = Some("aws:sqs".to_owned());
    message
}
