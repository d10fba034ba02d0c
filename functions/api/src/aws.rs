//! The api function's AWS wiring: adapters over the deployment's `Resources`, and the settings it
//! reads once at cold start.

use std::sync::Arc;

use shared::aws::secrets::secret_setting;
use shared::aws::tables::Resources;
use shared::aws::{AwsClients, Deployment, DynamoDirectory, DynamoIdempotency, DynamoRateLimiter, DynamoRunStore};
use shared::domain::CursorKey;
use shared::ports::DispatchQueue;
use shared::webhook::address::WebhookPolicy;
use shared::webhook::{WebhookKey, WEBHOOK_KEY};

use crate::{bulk_request, ApiContext, DEFAULT_RATE_LIMIT_PER_MINUTE};

/// The api's own settings, beside the resources: DEFAULT_TIMEOUT_SECONDS (30, at most 900),
/// RATE_LIMIT_PER_MINUTE (6,000), and two secrets read at cold start from Secrets Manager by the ARNs
/// in CURSOR_SECRET_ARN (every instance signs and checks cursors with it) and WEBHOOK_KEY_ARN (users'
/// webhook secrets derive from it, as in the worker); CURSOR_SECRET and WEBHOOK_KEY, when set, are
/// the values themselves (`shared::aws::secrets`).
pub const DEFAULT_TIMEOUT_SECONDS: &str = "DEFAULT_TIMEOUT_SECONDS";
pub const RATE_LIMIT_PER_MINUTE: &str = "RATE_LIMIT_PER_MINUTE";
pub const CURSOR_SECRET: &str = "CURSOR_SECRET";

impl ApiContext {
    /// The AWS adapters over the directory table, the runs table (runs, idempotency keys, rate
    /// counters) and `queue`; default timeout and rate limit, a random cursor key.
    pub fn on_aws(
        clients: &AwsClients,
        resources: &Resources,
        queue: Arc<dyn DispatchQueue>,
        webhook_key: WebhookKey,
    ) -> Self {
        let db = || clients.dynamodb.clone();
        let directory = Arc::new(DynamoDirectory::new(db(), &resources.directory));
        let runs = Arc::new(DynamoRunStore::new(db(), &resources.runs));
        ApiContext {
            tokens: directory.clone(),
            chargers: directory.clone(),
            fleet: directory,
            runs: runs.clone(),
            webhook_secrets: runs,
            webhook_key,
            webhook_policy: WebhookPolicy { allow_private: false },
            queue,
            idempotency: Arc::new(DynamoIdempotency::new(db(), &resources.runs)),
            limiter: Arc::new(DynamoRateLimiter::new(db(), &resources.runs)),
            rate_limit_per_minute: DEFAULT_RATE_LIMIT_PER_MINUTE,
            default_timeout_seconds: bulk_request::DEFAULT_TIMEOUT_SECONDS,
            cursor_key: CursorKey::random(),
            blocked_sources: Arc::default(),
        }
    }

    /// Everything, read once at cold start: `Resources::from_env` and the settings above.
    pub async fn from_env() -> Result<ApiContext, String> {
        let default_timeout_seconds =
            optional_env(DEFAULT_TIMEOUT_SECONDS, bulk_request::DEFAULT_TIMEOUT_SECONDS, |t| {
                (1..=bulk_request::MAX_TIMEOUT_SECONDS).contains(t)
            })?;
        let rate_limit_per_minute = optional_env(RATE_LIMIT_PER_MINUTE, DEFAULT_RATE_LIMIT_PER_MINUTE, |n| *n > 0)?;
        let Deployment { resources, clients, queue } = Deployment::from_env().await?;
        // Both at once: each is a request to Secrets Manager at cold start.
        let (cursor, webhook) =
            tokio::join!(secret_setting(&clients, CURSOR_SECRET), secret_setting(&clients, WEBHOOK_KEY));
        let (cursor_key, webhook_key) = (CursorKey::new(cursor?), WebhookKey::new(webhook?));
        Ok(ApiContext {
            default_timeout_seconds,
            rate_limit_per_minute,
            cursor_key,
            ..Self::on_aws(&clients, &resources, queue, webhook_key)
        })
    }
}

/// An optional numeric setting: its default when unset, an error naming it when out of range.
fn optional_env(name: &str, default: u32, valid: impl Fn(&u32) -> bool) -> Result<u32, String> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(text) => text.trim().parse().ok().filter(valid).ok_or_else(|| format!("{name} is out of range: {text:?}")),
    }
}
