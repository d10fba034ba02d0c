//! The local front door of the embedded stack: the HTTP API and `ws://…/ocpp/{identity}` on one
//! port. Each request or frame becomes the event API Gateway would deliver, and the same handler
//! functions as on Lambda answer it.

mod charger;
mod limits;
mod listen;
mod management;

use std::net::SocketAddr;

use aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
use aws_lambda_events::encodings::Body as LambdaBody;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use axum::routing::any;
use axum::Router;
use lambda_http::request::RequestContext;
use lambda_http::RequestExt;
use tokio::net::TcpListener;

pub use limits::ConnectionLimits;
pub use management::{
    management_faults, management_listener, management_listener_on, report_absorbed_faults, serve_management,
};

use crate::stack::Stack;

/// The public front: the API and the chargers' WebSockets. Never the management API.
pub fn router(stack: Stack) -> Router {
    Router::new()
        .route("/ocpp/{identity}", any(charger::charger_with_path))
        .route("/ocpp", any(charger::charger_with_query))
        .fallback(api)
        .with_state(stack)
}

/// Serves until the process ends. The listener is bound by the caller, so port 0 works.
pub async fn serve(listener: TcpListener, stack: Stack) -> std::io::Result<()> {
    let limits = stack.limits;
    listen::serve(listener, router(stack), limits).await
}

async fn api(State(stack): State<Stack>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let read = axum::body::to_bytes(body, api::request::MAX_BODY_BYTES);
    let bytes = match tokio::time::timeout(stack.limits.body_read_timeout, read).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => return api::respond::error(&shared::Error::PayloadTooLarge).map(lambda_to_axum),
        Err(_) => {
            let late = serde_json::json!({"message": "The request body did not arrive in time."});
            return api::respond::json(408, &late).map(lambda_to_axum);
        }
    };
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(peer)| peer.ip().to_string());
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.http.source_ip = peer;
    let request = lambda_http::Request::from_parts(parts, LambdaBody::Binary(bytes.to_vec()))
        .with_request_context(RequestContext::ApiGatewayV2(context));
    api::handle(&stack.api, request).await.map(lambda_to_axum)
}

fn lambda_to_axum(body: LambdaBody) -> Body {
    match body {
        LambdaBody::Text(text) => Body::from(text),
        LambdaBody::Binary(bytes) => Body::from(bytes),
        _ => Body::empty(),
    }
}
