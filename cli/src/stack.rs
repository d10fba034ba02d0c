//! The embedded stack: every port in-process, the three handlers wired to them, the queue
//! consumer running the worker. `ocpp-bulk serve`, the demo and the tests all start it here.

use std::sync::Arc;

use api::ApiContext;
use shared::domain::fleet::Provisioned;
use shared::embedded::{LocalConnections, LocalQueue, MemoryStore, QueueOptions};
use websocket::WebsocketContext;
use worker::WorkerContext;

#[derive(Clone)]
pub struct EmbeddedStack {
    pub store: Arc<MemoryStore>,
    pub queue: LocalQueue,
    pub connections: LocalConnections,
    pub api: ApiContext,
    pub worker: WorkerContext,
    pub websocket: WebsocketContext,
}

impl EmbeddedStack {
    /// Builds the stack and starts its queue consumer on the current runtime.
    pub fn start(fleet: &Provisioned, options: QueueOptions) -> EmbeddedStack {
        let store = Arc::new(MemoryStore::new());
        store.import(fleet);
        let (queue, consumer) = LocalQueue::new(options);
        let connections = LocalConnections::new();
        let api = ApiContext {
            tokens: store.clone(),
            chargers: store.clone(),
            runs: store.clone(),
            queue: Arc::new(queue.clone()),
        };
        let worker = WorkerContext::new(
            store.clone(),
            store.clone(),
            Arc::new(connections.clone()),
            store.clone(),
            Arc::new(queue.clone()),
        );
        let websocket = WebsocketContext {
            chargers: store.clone(),
            connections: store.clone(),
            gateway: Arc::new(connections.clone()),
            inflight: store.clone(),
            runs: store.clone(),
        };
        let ctx = worker.clone();
        tokio::spawn(consumer.run(move |event| {
            let ctx = ctx.clone();
            async move { worker::handle(&ctx, event).await }
        }));
        EmbeddedStack {
            store,
            queue,
            connections,
            api,
            worker,
            websocket,
        }
    }
}
