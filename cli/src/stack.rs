//! The local stack: the three handlers wired to one adapter set, with the worker fed by the
//! dispatch queue. Embedded: every port in-process (`serve`, the demo, tests). AWS: DynamoDB and
//! SQS through the SDK (moto's server locally), frames through the real management-API client
//! pointed at this process's own `/@connections` endpoint (a loopback listener of its own).

use std::sync::Arc;

use api::ApiContext;
use shared::aws::tables::Resources;
use shared::aws::{AwsClients, SqsDispatchQueue, API_FUNCTION, WEBSOCKET_FUNCTION, WORKER_FUNCTION};
use shared::domain::fleet::Provisioned;
use shared::embedded::{MemoryGateway, MemoryQueue, MemoryStore, QueueOptions};
use shared::ports::DispatchQueue;
use shared::webhook::address::WebhookPolicy;
use shared::webhook::WebhookKey;
use websocket::WebsocketContext;
use worker::webhooks::Webhooks;
use worker::WorkerContext;

use crate::lambda_like::RecursiveLoop;
use crate::server::ConnectionLimits;

/// Queue pollers feeding the worker in AWS mode.
const POLLERS: usize = 8;

#[derive(Clone)]
pub struct Stack {
    /// The live WebSockets of this process (the management API's stand-in, and its backend).
    pub connections: MemoryGateway,
    pub api: ApiContext,
    pub worker: WorkerContext,
    pub websocket: WebsocketContext,
    /// The share of management-API posts answered 429, as API Gateway throttles (AWS backend).
    pub management_throttle_rate: f64,
    /// Where the management API stand-in has each call's principal authorized (the strict stand-in's
    /// `/strict-api/authorize`, on the local AWS endpoint); `None` allows every call.
    pub management_authorizer: Option<String>,
    /// Charger connections' limits (API Gateway's by default).
    pub limits: ConnectionLimits,
}

#[derive(Debug, Clone, Default)]
pub struct AwsOptions {
    /// Send every dispatch message twice (tests).
    pub duplicate_deliveries: bool,
    /// The share of management-API posts answered 429 (`STRICT_MANAGEMENT_THROTTLE_RATE`).
    pub management_throttle_rate: f64,
    /// The worker's recursive-loop setting, as template.yaml's (`Allow`; tests try `Terminate`).
    pub recursive_loop: RecursiveLoop,
    /// The stack-wide cap on CALLs a second, when not the template's default (DISPATCH_PER_SECOND,
    /// as the worker function reads it).
    pub dispatch_per_second: Option<u32>,
}

impl AwsOptions {
    /// The management API stand-in's throttle rate from STRICT_MANAGEMENT_THROTTLE_RATE (default 0)
    /// and the dispatch cap from DISPATCH_PER_SECOND.
    pub fn from_env() -> Result<AwsOptions, String> {
        let rate = std::env::var("STRICT_MANAGEMENT_THROTTLE_RATE").ok().and_then(|r| r.parse().ok()).unwrap_or(0.0);
        let dispatch_per_second = worker::aws::dispatch_per_second()?;
        Ok(AwsOptions { management_throttle_rate: rate, dispatch_per_second, ..AwsOptions::default() })
    }
}

impl Stack {
    /// Lets webhooks reach loopback and private addresses over plain http (`serve
    /// --allow-private-webhooks`: receivers on this machine or network), and retries a failed
    /// completion event after `first_retry_seconds` (doubling) instead of 30 s.
    pub fn allow_private_webhooks(&mut self, first_retry_seconds: u32) {
        self.api.webhook_policy = WebhookPolicy { allow_private: true };
        if let Some(hooks) = &self.worker.webhooks {
            hooks.allow_private(first_retry_seconds);
        }
    }

    /// Builds the embedded stack and starts its queue consumer on the current runtime.
    pub fn embedded(fleet: &Provisioned, options: QueueOptions) -> Stack {
        Self::embedded_customized(fleet, options, |_| {})
    }

    /// `embedded`, with `customize` applied before the queue consumer starts, so the worker it runs
    /// is the customized one.
    pub fn embedded_customized(
        fleet: &Provisioned,
        options: QueueOptions,
        customize: impl FnOnce(&mut Stack),
    ) -> Stack {
        let store = Arc::new(MemoryStore::new());
        store.import(fleet);
        let (queue, consumer) = MemoryQueue::new(options);
        let connections = MemoryGateway::new();
        let queue = Arc::new(queue);
        let webhook_key = WebhookKey::random();
        let mut worker = WorkerContext::new(
            store.clone(),
            store.clone(),
            Arc::new(connections.clone()),
            store.clone(),
            queue.clone(),
        );
        worker.chargers = Some(store.clone());
        worker.webhooks =
            Some(Arc::new(Webhooks::new(store.clone(), store.clone(), webhook_key.clone(), WebhookPolicy::default())));
        let mut stack = Stack {
            api: ApiContext {
                tokens: store.clone(),
                chargers: store.clone(),
                fleet: store.fleet.clone(),
                runs: store.clone(),
                queue: queue.clone(),
                idempotency: store.clone(),
                limiter: store.clone(),
                rate_limit_per_minute: api::DEFAULT_RATE_LIMIT_PER_MINUTE,
                default_timeout_seconds: api::bulk_request::DEFAULT_TIMEOUT_SECONDS,
                cursor_key: shared::domain::CursorKey::random(),
                blocked_sources: Default::default(),
                webhook_secrets: store.clone(),
                webhook_key,
                webhook_policy: WebhookPolicy::default(),
            },
            worker,
            websocket: WebsocketContext {
                chargers: store.clone(),
                connections: store.clone(),
                gateway: Arc::new(connections.clone()),
                inflight: store.clone(),
                runs: store.clone(),
                plans: Arc::default(),
                queue: queue.clone(),
                fleet: store.fleet.clone(),
                require_passwords: false,
            },
            connections,
            management_throttle_rate: 0.0,
            management_authorizer: None,
            limits: ConnectionLimits::default(),
        };
        customize(&mut stack);
        let ctx = stack.worker.clone();
        tokio::spawn(consumer.run(move |event| {
            let ctx = ctx.clone();
            async move { worker::handle(&ctx, event).await }
        }));
        stack
    }

    /// Builds the stack on the AWS adapters and starts the queue pollers. `management_endpoint`
    /// is this process's own base URL, which serves `/@connections/{id}`. Each function, and the
    /// queue pollers Lambda runs for the worker, signs as its own principal on a local endpoint
    /// (`AwsClients::signed_as`), so the strict stand-in holds each to its policy in the template.
    pub fn aws(clients: &AwsClients, resources: &Resources, management_endpoint: &str, options: &AwsOptions) -> Stack {
        Self::aws_customized(clients, resources, management_endpoint, options, |_| {})
    }

    /// `aws`, with `customize` applied before the queue pollers start.
    pub fn aws_customized(
        clients: &AwsClients,
        resources: &Resources,
        management_endpoint: &str,
        options: &AwsOptions,
        customize: impl FnOnce(&mut Stack),
    ) -> Stack {
        let queue = |clients: &AwsClients| -> Arc<dyn DispatchQueue> {
            let queue = Arc::new(SqsDispatchQueue::new(clients.sqs.clone(), &resources.queue_url));
            match options.duplicate_deliveries {
                true => Arc::new(crate::lambda_like::Duplicating(queue)),
                false => queue,
            }
        };
        let (api, mut worker, websocket) = (
            clients.signed_as(API_FUNCTION),
            clients.signed_as(WORKER_FUNCTION),
            clients.signed_as(WEBSOCKET_FUNCTION),
        );
        // What the worker sends carries its invocation's chain, as on Lambda (`lambda_like::poll`).
        worker.sqs = crate::lambda_like::with_trace_header(&worker.sqs);
        let webhook_key = WebhookKey::random();
        let mut stack = Stack {
            connections: MemoryGateway::new(),
            management_throttle_rate: options.management_throttle_rate,
            management_authorizer: clients.config.endpoint_url().map(|url| format!("{url}/strict-api/authorize")),
            limits: ConnectionLimits::default(),
            api: ApiContext::on_aws(&api, resources, queue(&api), webhook_key.clone()),
            worker: WorkerContext::on_aws(&worker, resources, queue(&worker), management_endpoint, webhook_key),
            websocket: WebsocketContext::on_aws(&websocket, resources, queue(&websocket), management_endpoint),
        };
        if let (Some(cap), Some(per_second)) = (stack.worker.pace.as_mut(), options.dispatch_per_second) {
            cap.per_second = per_second;
        }
        customize(&mut stack);
        // The dispatch queue's pollers, and one for its dead-letter queue (as the template maps both).
        // Only with its ARN: the worker tells dead letters by it.
        let dead_letter =
            resources.dead_letter_url.clone().zip(resources.dead_letter_arn.clone()).map(|(url, arn)| (url, Some(arn)));
        let sources = std::iter::repeat_n((resources.queue_url.clone(), None), POLLERS).chain(dead_letter);
        for (url, arn) in sources {
            let ctx = stack.worker.clone();
            tokio::spawn(crate::lambda_like::poll(
                worker.sqs.clone(),
                url,
                arn,
                options.recursive_loop,
                crate::lambda_like::WORKER_TIMEOUT,
                move |event, deadline| {
                    let ctx = ctx.clone();
                    async move { worker::handle_within(&ctx, event, Some(deadline)).await }
                },
            ));
        }
        stack
    }
}
