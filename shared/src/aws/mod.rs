//! AWS adapters: DynamoDB for runs, the directory and connections; SQS for dispatch; API Gateway's
//! management API for frames to chargers. Settings are read once from the environment, at start-up,
//! and a missing variable fails there with its name. `AWS_ENDPOINT_URL` points the SDK clients at a
//! local DynamoDB/SQS-compatible server.

pub mod batch;
pub mod connections;
pub mod directory;
pub mod directory_admin;
pub mod errors;
pub mod fleet_states;
pub mod gateway;
pub mod idempotency;
pub mod item;
#[cfg(feature = "request-counting")]
pub mod metrics;
pub mod queue;
pub mod rate;
pub mod runs;
pub mod tables;

use aws_config::BehaviorVersion;

pub use connections::DynamoConnectionTable;
pub use directory::DynamoDirectory;
pub use gateway::ManagementApiGateway;
pub use idempotency::DynamoIdempotency;
#[cfg(feature = "request-counting")]
pub use metrics::{RequestCounter, Units};
pub use queue::SqsDispatchQueue;
pub use rate::DynamoRateLimiter;
pub use runs::DynamoRunStore;

/// A required environment variable, or an error that names it.
pub fn required_env(name: &str) -> Result<String, String> {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => Ok(value),
        _ => Err(format!("missing environment variable {name}")),
    }
}

/// The SDK's own retries (standard mode: throttling, 5xx and network faults, full jitter): five
/// attempts from 50 ms, so a throttled write in a WebSocket invocation waits milliseconds, not the
/// default's seconds. What the SDK does not retry is retried by `crate::retry::Backoff`.
fn sdk_retries() -> aws_config::retry::RetryConfig {
    aws_config::retry::RetryConfig::standard()
        .with_max_attempts(5)
        .with_initial_backoff(std::time::Duration::from_millis(50))
        .with_max_backoff(std::time::Duration::from_secs(2))
}

/// The SDK clients, built once per process (counting their requests with `request-counting`).
#[derive(Clone)]
pub struct AwsClients {
    pub config: aws_config::SdkConfig,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    #[cfg(feature = "request-counting")]
    pub requests: RequestCounter,
}

impl AwsClients {
    pub async fn from_env() -> AwsClients {
        let config = aws_config::defaults(BehaviorVersion::latest()).retry_config(sdk_retries()).load().await;
        #[cfg(feature = "request-counting")]
        {
            let requests = RequestCounter::default();
            let dynamodb = aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(&config).interceptor(requests.clone()).build(),
            );
            let sqs = aws_sdk_sqs::Client::from_conf(
                aws_sdk_sqs::config::Builder::from(&config).interceptor(requests.clone()).build(),
            );
            AwsClients { config, dynamodb, sqs, requests }
        }
        #[cfg(not(feature = "request-counting"))]
        {
            let (dynamodb, sqs) = (aws_sdk_dynamodb::Client::new(&config), aws_sdk_sqs::Client::new(&config));
            AwsClients { config, dynamodb, sqs }
        }
    }

    /// The management API client for one WebSocket API stage. `endpoint` is
    /// `https://{api-id}.execute-api.{region}.amazonaws.com/{stage}` (see `management_endpoint`).
    pub fn management(&self, endpoint: &str) -> aws_sdk_apigatewaymanagement::Client {
        let builder = aws_sdk_apigatewaymanagement::config::Builder::from(&self.config).endpoint_url(endpoint);
        #[cfg(feature = "request-counting")]
        let builder = builder.interceptor(self.requests.clone());
        aws_sdk_apigatewaymanagement::Client::from_conf(builder.build())
    }

    /// The management endpoint from `WEBSOCKET_MANAGEMENT_ENDPOINT`, else from `WEBSOCKET_API_ID`,
    /// `WEBSOCKET_STAGE` and the region (never a custom domain: PostToConnection needs the API's own).
    pub fn management_endpoint(&self) -> Result<String, String> {
        if let Ok(endpoint) = required_env("WEBSOCKET_MANAGEMENT_ENDPOINT") {
            return Ok(endpoint);
        }
        let api = required_env("WEBSOCKET_API_ID")?;
        let stage = required_env("WEBSOCKET_STAGE")?;
        let region = self.config.region().map(|r| r.to_string()).ok_or("missing AWS_REGION")?;
        Ok(format!("https://{api}.execute-api.{region}.amazonaws.com/{stage}"))
    }
}

/// What every function reads at cold start: the deployment's resources (`Resources::from_env`),
/// the SDK clients, and the dispatch queue on them.
pub struct Deployment {
    pub resources: tables::Resources,
    pub clients: AwsClients,
    pub queue: std::sync::Arc<SqsDispatchQueue>,
}

impl Deployment {
    pub async fn from_env() -> Result<Deployment, String> {
        let resources = tables::Resources::from_env()?;
        let clients = AwsClients::from_env().await;
        let queue = std::sync::Arc::new(SqsDispatchQueue::new(clients.sqs.clone(), &resources.queue_url));
        Ok(Deployment { resources, clients, queue })
    }
}
