//! The worker function's AWS wiring: adapters over the deployment's `Resources` and the WebSocket
//! API's management endpoint, read once at cold start.

use std::sync::Arc;

use shared::aws::tables::Resources;
use shared::aws::{AwsClients, Deployment, DynamoConnectionTable, DynamoRunStore, ManagementApiGateway};
use shared::ports::DispatchQueue;

use crate::WorkerContext;

impl WorkerContext {
    /// The AWS adapters over the runs and connections tables, `queue`, and the management
    /// endpoint; records from the dead-letter queue (`resources.dead_letter_arn`) end their results.
    pub fn on_aws(
        clients: &AwsClients,
        resources: &Resources,
        queue: Arc<dyn DispatchQueue>,
        management_endpoint: &str,
    ) -> Self {
        let connections = Arc::new(DynamoConnectionTable::new(clients.dynamodb.clone(), &resources.connections));
        let mut ctx = WorkerContext::new(
            Arc::new(DynamoRunStore::new(clients.dynamodb.clone(), &resources.runs)),
            connections.clone(),
            Arc::new(ManagementApiGateway::new(clients.management(management_endpoint))),
            connections,
            queue,
        );
        ctx.dead_letter_arn = resources.dead_letter_arn.clone();
        ctx
    }

    /// Everything, read once at cold start: `Resources::from_env` and the management endpoint
    /// (`AwsClients::management_endpoint`).
    pub async fn from_env() -> Result<WorkerContext, String> {
        let Deployment { resources, clients, queue } = Deployment::from_env().await?;
        let endpoint = clients.management_endpoint()?;
        Ok(Self::on_aws(&clients, &resources, queue, &endpoint))
    }
}
