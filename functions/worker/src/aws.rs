//! The worker function's AWS wiring: adapters over the deployment's `Resources` and the WebSocket
//! API's management endpoint, read once at cold start.

use std::sync::Arc;

use shared::aws::pace::DynamoDispatchBudget;
use shared::aws::secrets::secret_setting;
use shared::aws::tables::Resources;
use shared::aws::{
    AwsClients, Deployment, DynamoConnectionTable, DynamoDirectory, DynamoRunStore, ManagementApiGateway,
};
use shared::ports::DispatchQueue;
use shared::webhook::address::WebhookPolicy;
use shared::webhook::{WebhookKey, WEBHOOK_KEY};

use crate::webhooks::Webhooks;
use crate::WorkerContext;

/// The stack-wide cap on CALLs a second (`pace.rs`), from the template's `DispatchPerSecond`.
pub const DISPATCH_PER_SECOND: &str = "DISPATCH_PER_SECOND";

impl WorkerContext {
    /// The AWS adapters over the runs and connections tables, `queue`, and the management
    /// endpoint; records from the dead-letter queue (`resources.dead_letter_arn`) end their results.
    /// Webhooks are signed with secrets derived from `webhook_key` and reach public addresses only.
    pub fn on_aws(
        clients: &AwsClients,
        resources: &Resources,
        queue: Arc<dyn DispatchQueue>,
        management_endpoint: &str,
        webhook_key: WebhookKey,
    ) -> Self {
        let connections = Arc::new(DynamoConnectionTable::new(clients.dynamodb.clone(), &resources.connections));
        let runs =
            Arc::new(DynamoRunStore::new(clients.dynamodb.clone(), &resources.runs).with_slots(&resources.connections));
        let mut ctx = WorkerContext::new(
            runs.clone(),
            connections.clone(),
            Arc::new(ManagementApiGateway::new(clients.management(management_endpoint))),
            connections,
            queue,
        );
        ctx.dead_letter_arn = resources.dead_letter_arn.clone();
        ctx.chargers = Some(Arc::new(DynamoDirectory::new(clients.dynamodb.clone(), &resources.directory)));
        ctx.webhooks =
            Some(Arc::new(Webhooks::new(runs.clone(), runs, webhook_key, WebhookPolicy { allow_private: false })));
        let budget = Arc::new(DynamoDispatchBudget::new(clients.dynamodb.clone(), &resources.runs));
        ctx.pace = Some(crate::pace::Cap::new(budget, crate::pace::DEFAULT_DISPATCH_PER_SECOND));
        ctx
    }

    /// Everything, read once at cold start: `Resources::from_env`, the management endpoint
    /// (`AwsClients::management_endpoint`) and the webhook key (WEBHOOK_KEY_ARN, read from Secrets
    /// Manager at cold start; WEBHOOK_KEY when set is the key itself).
    pub async fn from_env() -> Result<WorkerContext, String> {
        let Deployment { resources, clients, queue } = Deployment::from_env().await?;
        let key = WebhookKey::new(secret_setting(&clients, WEBHOOK_KEY).await?);
        let endpoint = clients.management_endpoint()?;
        let mut ctx = Self::on_aws(&clients, &resources, queue, &endpoint, key);
        if let (Some(cap), Some(per_second)) = (ctx.pace.as_mut(), dispatch_per_second()?) {
            cap.per_second = per_second;
        }
        Ok(ctx)
    }
}

/// The stack-wide cap DISPATCH_PER_SECOND sets, when it is set (the template sets it from
/// `DispatchPerSecond`; `ocpp-bulk serve --backend aws` reads it too).
pub fn dispatch_per_second() -> Result<Option<u32>, String> {
    let Ok(text) = std::env::var(DISPATCH_PER_SECOND) else {
        return Ok(None);
    };
    text.parse()
        .ok()
        .filter(|n| *n > 0)
        .map(Some)
        .ok_or_else(|| format!("{DISPATCH_PER_SECOND} must be a positive whole number, not {text:?}"))
}
