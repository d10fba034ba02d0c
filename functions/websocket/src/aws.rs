//! The websocket function's AWS wiring: adapters over the deployment's `Resources` and the
//! WebSocket API's management endpoint, read once at cold start.

use std::sync::Arc;

use shared::aws::tables::Resources;
use shared::aws::{
    AwsClients, Deployment, DynamoConnectionTable, DynamoDirectory, DynamoRunStore, ManagementApiGateway,
};
use shared::ports::DispatchQueue;

use crate::WebsocketContext;

/// `true` refuses chargers that have no password (the template's RequireChargerPasswords).
pub const REQUIRE_CHARGER_PASSWORDS: &str = "REQUIRE_CHARGER_PASSWORDS";

impl WebsocketContext {
    /// The AWS adapters over the directory, runs and connections tables, `queue`, and the
    /// management endpoint (to close replaced connections).
    pub fn on_aws(
        clients: &AwsClients,
        resources: &Resources,
        queue: Arc<dyn DispatchQueue>,
        management_endpoint: &str,
    ) -> Self {
        let db = || clients.dynamodb.clone();
        let connections = Arc::new(DynamoConnectionTable::new(db(), &resources.connections));
        let directory = Arc::new(DynamoDirectory::new(db(), &resources.directory));
        WebsocketContext {
            chargers: directory.clone(),
            fleet: directory,
            connections: connections.clone(),
            gateway: Arc::new(ManagementApiGateway::new(clients.management(management_endpoint))),
            inflight: connections,
            runs: Arc::new(DynamoRunStore::new(db(), &resources.runs).with_slots(&resources.connections)),
            plans: Arc::default(),
            queue,
            require_passwords: false,
        }
    }

    /// Everything, read once at cold start: `Resources::from_env`, the management endpoint
    /// (`AwsClients::management_endpoint`) and REQUIRE_CHARGER_PASSWORDS.
    pub async fn from_env() -> Result<WebsocketContext, String> {
        let Deployment { resources, clients, queue } = Deployment::from_env().await?;
        let endpoint = clients.management_endpoint()?;
        let mut ctx = Self::on_aws(&clients, &resources, queue, &endpoint);
        ctx.require_passwords = std::env::var(REQUIRE_CHARGER_PASSWORDS).is_ok_and(|v| v.eq_ignore_ascii_case("true"));
        Ok(ctx)
    }
}
