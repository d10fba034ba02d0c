//! The WebSocket handler (the charger side of the contract), written once over the ports. Events have API Gateway's
//! WebSocket proxy shape; as with a two-way `$default` route, the response body is the frame sent
//! back to the charger, so answers to a charger's CALLs cost no management-API call.

use std::sync::Arc;

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use aws_lambda_events::encodings::Body;
use http::HeaderValue;
use shared::answers::AnswerPorts;
use shared::domain::fleet::is_valid_identity;
use shared::ocpp::OcppVersion;
use shared::plans::RunPlans;
use shared::ports::{
    ChargerDirectory, ConnectionGateway, ConnectionRegistry, DispatchQueue, FleetStates, InflightCalls, LiveConnection,
    RunStore,
};
use shared::Result;

pub mod authorizer;
pub mod aws;
pub mod connect;
pub mod fleet_view;
pub mod follow_ups;
pub mod frames;
pub mod reports;

use connect::Refusal;

/// The capabilities the WebSocket handler uses, built once at start-up.
#[derive(Clone)]
pub struct WebsocketContext {
    pub chargers: Arc<dyn ChargerDirectory>,
    pub connections: Arc<dyn ConnectionRegistry>,
    pub gateway: Arc<dyn ConnectionGateway>,
    pub inflight: Arc<dyn InflightCalls>,
    pub runs: Arc<dyn RunStore>,
    /// Where answers that could not be recorded are handed off, and waiting CALLs woken.
    pub queue: Arc<dyn DispatchQueue>,
    /// What an answer is checked against: its run's command, read once per run.
    pub plans: Arc<RunPlans>,
    /// The fleet view, kept from what chargers send (`fleet_view.rs`).
    pub fleet: Arc<dyn FleetStates>,
    /// Refuse chargers that have no password (REQUIRE_CHARGER_PASSWORDS=true).
    pub require_passwords: bool,
}

impl WebsocketContext {
    fn answer_ports(&self) -> AnswerPorts<'_> {
        AnswerPorts {
            connections: self.connections.as_ref(),
            queue: self.queue.as_ref(),
            inflight: self.inflight.as_ref(),
            runs: self.runs.as_ref(),
            plans: &self.plans,
        }
    }
}

pub async fn handle(ctx: &WebsocketContext, event: ApiGatewayWebsocketProxyRequest) -> ApiGatewayProxyResponse {
    let connection_id = event.request_context.connection_id.clone().unwrap_or_default();
    let outcome = match event.request_context.event_type.as_deref() {
        Some("CONNECT") => on_connect(ctx, &connection_id, &event).await,
        Some("DISCONNECT") => on_disconnect(ctx, &connection_id).await,
        _ => {
            let known = authorizer::identity_of(&event).zip(authorizer::version_of(&event));
            on_message(ctx, &connection_id, known, event.body.as_deref().unwrap_or_default()).await
        }
    };
    outcome.unwrap_or_else(|err| {
        if shared::telemetry::connection_may_log(&connection_id) {
            tracing::error!(error = %err, "websocket event failed");
        }
        reply(500, None)
    })
}

fn reply(status: i64, body: Option<String>) -> ApiGatewayProxyResponse {
    let mut response = ApiGatewayProxyResponse::default();
    response.status_code = status;
    response.body = body.map(Body::Text);
    response
}

async fn on_connect(
    ctx: &WebsocketContext,
    connection_id: &str,
    event: &ApiGatewayWebsocketProxyRequest,
) -> Result<ApiGatewayProxyResponse> {
    let refuse = |identity: &str, refusal: Refusal| {
        // Refusals come as fast as anyone can open connections: one budget for all of them.
        if shared::telemetry::connection_may_log("$connect refusals") {
            tracing::warn!(identity, reason = ?refusal, "charger refused");
        }
        let mut response = reply(refusal.status(), None);
        if refusal == Refusal::BadCredentials {
            response.headers.insert("www-authenticate", HeaderValue::from_static("Basic realm=\"ocpp-bulk\""));
        }
        Ok(response)
    };
    let identity = match connect::identity(event) {
        Ok(identity) => identity,
        Err(refusal) => return refuse("", refusal),
    };
    if !is_valid_identity(&identity) {
        return refuse("(not a valid identity)", Refusal::UnknownCharger);
    }
    // Every later event of the connection is taken to come from the charger the authorizer named
    // (an answer, and a job's report even once the connection is unregistered): that must be the
    // charger whose password is checked here.
    if authorizer::identity_of(event).is_some_and(|named| named != identity) {
        return refuse(&identity, Refusal::UnknownCharger);
    }
    let Some(version) = connect::negotiate(&event.headers) else {
        return refuse(&identity, Refusal::NoSubprotocol);
    };
    let Some(charger) = ctx.chargers.charger_by_identity(&identity).await? else {
        return refuse(&identity, Refusal::UnknownCharger);
    };
    if let Err(refusal) = connect::check_password(event, &charger, ctx.require_passwords) {
        return refuse(&identity, refusal);
    }
    if let Some(replaced) = ctx
        .connections
        .register(&identity, &LiveConnection { id: connection_id.to_owned(), since: chrono::Utc::now(), version })
        .await?
    {
        tracing::info!(identity, "newer connection replaces the old one");
        // Best effort: the old connection is no longer registered either way.
        if let Err(err) = ctx.gateway.close(&replaced).await {
            tracing::warn!(identity, error = %err, "closing the replaced connection failed");
        }
    }
    fleet_view::connected(ctx, &charger, connection_id, version).await;
    tracing::info!(identity, charger = %charger.uuid, ocpp = version.subprotocol(), "charger connected");
    tracing::debug!(identity, connection = %connection_id, "connection registered");
    let mut response = reply(200, None);
    response.headers.insert("sec-websocket-protocol", HeaderValue::from_static(version.subprotocol()));
    Ok(response)
}

async fn on_disconnect(ctx: &WebsocketContext, connection_id: &str) -> Result<ApiGatewayProxyResponse> {
    if let Some(identity) = ctx.connections.unregister(connection_id).await? {
        fleet_view::disconnected(ctx, &identity, connection_id).await;
    }
    Ok(reply(200, None))
}

async fn on_message(
    ctx: &WebsocketContext,
    connection_id: &str,
    known: Option<(&str, OcppVersion)>,
    body: &str,
) -> Result<ApiGatewayProxyResponse> {
    Ok(reply(200, frames::handle_frame(ctx, connection_id, known, body).await?))
}
