//! AWS adapters: DynamoDB for runs, the directory and connections; SQS for dispatch; API Gateway's
//! management API for frames to chargers. Settings are read once from the environment, at start-up,
//! and a missing variable fails there with its name. `AWS_ENDPOINT_URL` points the SDK clients at a
//! local DynamoDB/SQS-compatible server.

pub mod batch;
pub mod connections;
pub mod directory;
pub mod directory_admin;
pub mod errors;
pub mod fleet_import;
mod fleet_index;
mod fleet_items;
pub mod fleet_states;
#[cfg(feature = "management")]
pub mod gateway;
pub mod idempotency;
pub mod item;
#[cfg(feature = "request-counting")]
pub mod metrics;
pub mod pace;
pub mod queue;
pub mod rate;
pub mod runs;
#[cfg(feature = "secrets")]
pub mod secrets;
pub mod tables;

use aws_config::BehaviorVersion;

pub use connections::DynamoConnectionTable;
pub use directory::DynamoDirectory;
#[cfg(feature = "management")]
pub use gateway::ManagementApiGateway;
pub use idempotency::DynamoIdempotency;
#[cfg(feature = "request-counting")]
pub use metrics::{RequestCounter, Units};
pub use queue::SqsDispatchQueue;
pub use rate::DynamoRateLimiter;
pub use runs::DynamoRunStore;

/// The functions' logical ids in template.yaml: each is its own principal (`AwsClients::signed_as`).
pub const API_FUNCTION: &str = "ApiFunction";
pub const WORKER_FUNCTION: &str = "WorkerFunction";
pub const WEBSOCKET_FUNCTION: &str = "WebSocketFunction";

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

/// What a Lambda function's clients are built from: the region, credentials and (for a local stack)
/// endpoint the Lambda runtime sets as environment variables, and nothing else. Lambda gives a
/// function its execution role's credentials as AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
/// AWS_SESSION_TOKEN (Lambda Developer Guide, "Defined runtime environment variables"), so the
/// default chain's other sources (profile files, SSO, web identity through STS, container and instance
/// metadata) would never run there; not naming them keeps their code out of the functions' bootstraps.
/// Nor are the loader's other settings read (per-service endpoint URLs, FIPS and dual-stack
/// endpoints): the template sets none. Without credentials in the environment a function fails at
/// cold start, saying so. The CLI, which may run anywhere, keeps the default chain
/// (`AwsClients::from_env`).
pub fn lambda_config() -> Result<aws_config::SdkConfig, String> {
    lambda_config_from(|name| std::env::var(name).ok().filter(|value| !value.trim().is_empty()))
}

fn lambda_config_from(env: impl Fn(&str) -> Option<String>) -> Result<aws_config::SdkConfig, String> {
    use aws_config::environment::EnvironmentVariableCredentialsProvider;
    use aws_sdk_dynamodb::config::SharedCredentialsProvider;
    let region =
        env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION")).ok_or("missing environment variable AWS_REGION")?;
    if env("AWS_ACCESS_KEY_ID").is_none() || env("AWS_SECRET_ACCESS_KEY").is_none() {
        return Err("missing environment variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (the execution \
                    role's credentials, which Lambda sets)"
            .to_owned());
    }
    let mut config = aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(aws_config::Region::new(region))
        .credentials_provider(SharedCredentialsProvider::new(EnvironmentVariableCredentialsProvider::new()))
        .retry_config(sdk_retries());
    if let Some(endpoint) = env("AWS_ENDPOINT_URL") {
        config = config.endpoint_url(endpoint);
    }
    Ok(config.build())
}

impl AwsClients {
    /// The clients over the default configuration chain (environment, profile files, SSO, web
    /// identity, container and instance metadata): for the CLI and tests, wherever they run.
    pub async fn from_env() -> AwsClients {
        let config = aws_config::defaults(BehaviorVersion::latest()).retry_config(sdk_retries()).load().await;
        Self::from_config(config)
    }

    /// The clients a Lambda function uses (`lambda_config`).
    pub fn for_lambda() -> Result<AwsClients, String> {
        lambda_config().map(Self::from_config)
    }

    /// The same clients signing as `function` (a logical id of template.yaml: `API_FUNCTION`,
    /// `WORKER_FUNCTION`, `WEBSOCKET_FUNCTION`) when they point at a local endpoint
    /// (`AWS_ENDPOINT_URL`): the local stack then makes each function's requests as its own principal,
    /// as Lambda does with each function's execution role, and the strict stand-in holds them to that
    /// function's policy in the template (scripts/strict_aws/iam.py). Against AWS itself (no endpoint
    /// URL) they stay the caller's own.
    pub fn signed_as(&self, function: &str) -> AwsClients {
        use aws_sdk_dynamodb::config::{Credentials, SharedCredentialsProvider};
        if self.config.endpoint_url().is_none() {
            return self.clone();
        }
        let credentials = Credentials::new(function, "local-function-secret", None, None, "ocpp-bulk-function");
        let config = self.config.to_builder().credentials_provider(SharedCredentialsProvider::new(credentials)).build();
        #[cfg(feature = "request-counting")]
        return Self::counted(config, self.requests.clone());
        #[cfg(not(feature = "request-counting"))]
        Self::from_config(config)
    }

    fn from_config(config: aws_config::SdkConfig) -> AwsClients {
        #[cfg(feature = "request-counting")]
        return Self::counted(config, RequestCounter::default());
        #[cfg(not(feature = "request-counting"))]
        {
            let (dynamodb, sqs) = (aws_sdk_dynamodb::Client::new(&config), aws_sdk_sqs::Client::new(&config));
            AwsClients { config, dynamodb, sqs }
        }
    }

    #[cfg(feature = "request-counting")]
    fn counted(config: aws_config::SdkConfig, requests: RequestCounter) -> AwsClients {
        let dynamodb = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&config).interceptor(requests.clone()).build(),
        );
        let sqs = aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::from(&config).interceptor(requests.clone()).build(),
        );
        AwsClients { config, dynamodb, sqs, requests }
    }

    /// The management API client for one WebSocket API stage (feature `management`). `endpoint` is
    /// `https://{api-id}.execute-api.{region}.amazonaws.com/{stage}` (see `management_endpoint`).
    #[cfg(feature = "management")]
    pub fn management(&self, endpoint: &str) -> aws_sdk_apigatewaymanagement::Client {
        let builder = aws_sdk_apigatewaymanagement::config::Builder::from(&self.config).endpoint_url(endpoint);
        #[cfg(feature = "request-counting")]
        let builder = builder.interceptor(self.requests.clone());
        aws_sdk_apigatewaymanagement::Client::from_conf(builder.build())
    }

    /// The management endpoint from `WEBSOCKET_MANAGEMENT_ENDPOINT` (the template builds it with
    /// `${AWS::URLSuffix}`), else from `WEBSOCKET_API_ID`, `WEBSOCKET_STAGE` and the region (never a
    /// custom domain: PostToConnection needs the API's own).
    pub fn management_endpoint(&self) -> Result<String, String> {
        if let Ok(endpoint) = required_env("WEBSOCKET_MANAGEMENT_ENDPOINT") {
            return Ok(endpoint);
        }
        let api = required_env("WEBSOCKET_API_ID")?;
        let stage = required_env("WEBSOCKET_STAGE")?;
        let region = self.config.region().map(|r| r.to_string()).ok_or("missing AWS_REGION")?;
        Ok(management_endpoint_of(&api, &region, &stage))
    }
}

/// `https://{api}.execute-api.{region}.{suffix}/{stage}`: the domain suffix is `amazonaws.com.cn` in
/// the China regions (Beijing, Ningxia), `amazonaws.com` elsewhere, as CloudFormation's
/// `AWS::URLSuffix` gives it.
pub fn management_endpoint_of(api: &str, region: &str, stage: &str) -> String {
    let suffix = if region.starts_with("cn-") { "amazonaws.com.cn" } else { "amazonaws.com" };
    format!("https://{api}.execute-api.{region}.{suffix}/{stage}")
}

/// What every function reads at cold start: the deployment's resources (`Resources::from_env`),
/// the SDK clients (`AwsClients::for_lambda`), and the dispatch queue on them.
pub struct Deployment {
    pub resources: tables::Resources,
    pub clients: AwsClients,
    pub queue: std::sync::Arc<SqsDispatchQueue>,
}

impl Deployment {
    pub async fn from_env() -> Result<Deployment, String> {
        let resources = tables::Resources::from_env()?;
        let clients = AwsClients::for_lambda()?;
        let queue = std::sync::Arc::new(SqsDispatchQueue::new(clients.sqs.clone(), &resources.queue_url));
        Ok(Deployment { resources, clients, queue })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<aws_config::SdkConfig, String> {
        lambda_config_from(|name| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string()))
    }

    const KEYS: [(&str, &str); 2] = [("AWS_ACCESS_KEY_ID", "id"), ("AWS_SECRET_ACCESS_KEY", "secret")];

    #[test]
    fn a_function_takes_its_region_credentials_and_endpoint_from_the_environment_alone() {
        let lambda = config(&[KEYS[0], KEYS[1], ("AWS_REGION", "eu-west-1"), ("AWS_DEFAULT_REGION", "us-east-1")]);
        let lambda = lambda.unwrap();
        assert_eq!(lambda.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert!(lambda.credentials_provider().is_some());
        assert_eq!(lambda.endpoint_url(), None);
        assert_eq!(lambda.retry_config().map(|r| r.max_attempts()), Some(5));

        let local =
            config(&[KEYS[0], KEYS[1], ("AWS_DEFAULT_REGION", "us-east-1"), ("AWS_ENDPOINT_URL", "http://x:5000")]);
        let local = local.unwrap();
        assert_eq!(local.region().map(|r| r.as_ref()), Some("us-east-1"));
        assert_eq!(local.endpoint_url(), Some("http://x:5000"));
    }

    #[test]
    fn the_management_endpoint_has_the_regions_own_domain() {
        assert_eq!(
            management_endpoint_of("a1", "eu-west-1", "ocpp"),
            "https://a1.execute-api.eu-west-1.amazonaws.com/ocpp"
        );
        assert_eq!(
            management_endpoint_of("a1", "cn-northwest-1", "ocpp"),
            "https://a1.execute-api.cn-northwest-1.amazonaws.com.cn/ocpp"
        );
    }

    #[test]
    fn a_function_without_region_or_credentials_fails_at_cold_start_naming_them() {
        assert_eq!(config(&KEYS).unwrap_err(), "missing environment variable AWS_REGION");
        let no_secret = config(&[KEYS[0], ("AWS_REGION", "eu-west-1")]).unwrap_err();
        assert!(no_secret.contains("AWS_SECRET_ACCESS_KEY"), "{no_secret}");
    }
}
