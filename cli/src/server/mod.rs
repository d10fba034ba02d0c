//! The local front door of the embedded stack: the HTTP API and `ws://…/ocpp/{identity}` on one
//! port. Each request or frame becomes the event API Gateway would deliver, and the same handler
//! functions as on Lambda answer it.

mod charger;
mod limits;
mod listen;
mod management;

use std::net::SocketAddr;

use aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::any;
use axum::Router;
use lambda_http::request::RequestContext;
use tokio::net::TcpListener;
use tower::ServiceExt;

pub use limits::ConnectionLimits;
pub use management::{
    management_faults, management_listener, management_listener_on, report_absorbed_faults, serve_management,
};

use crate::stack::Stack;

/// The public front: the API (`api::router`, as on Lambda) and the chargers' WebSockets. Never
/// the management API.
pub fn router(stack: Stack) -> Router {
    let limits = stack.limits;
    let api = api::router(stack.api.clone())
        .layer(middleware::from_fn(move |request, next| as_api_gateway(limits, request, next)))
        .map_request(api::normalize as fn(Request) -> Request);
    Router::new()
        .route("/ocpp/{identity}", any(charger::charger_with_path))
        .route("/ocpp", any(charger::charger_with_query))
        .with_state(stack)
        .fallback_service(api)
}

/// Serves until the process ends. The listener is bound by the caller, so port 0 works.
pub async fn serve(listener: TcpListener, stack: Stack) -> std::io::Result<()> {
    let limits = stack.limits;
    listen::serve(listener, router(stack), limits).await
}

/// What API Gateway does before the api function sees a request: the body read whole (within the
/// body-read timeout, else 408; at most `MAX_BODY_BYTES`, else 413), and the request context with
/// the client's address.
async fn as_api_gateway(limits: ConnectionLimits, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let read = axum::body::to_bytes(body, api::request::MAX_BODY_BYTES);
    let bytes = match tokio::time::timeout(limits.body_read_timeout, read).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => return api::respond::error(&shared::Error::PayloadTooLarge),
        Err(_) => {
            let late = serde_json::json!({"message": "The request body did not arrive in time."});
            return api::respond::json(408, &late);
        }
    };
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(peer)| peer.ip().to_string());
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.http.source_ip = peer;
    parts.extensions.insert(RequestContext::ApiGatewayV2(context));
    let started = std::time::Instant::now();
    let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
    crate::invocations::record("api", started.elapsed());
    as_lambda_returns(response).await
}

/// What Lambda does with the api function's response: it carries at most 6 MB, the body escaped
/// into a JSON string (`api::request::fits_lambda_response`); a larger one fails the invocation,
/// and API Gateway answers 500 "Internal Server Error" in its place.
async fn as_lambda_returns(response: Response) -> Response {
    let (parts, body) = response.into_parts();
    match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) if api::request::fits_lambda_response(&bytes) => Response::from_parts(parts, Body::from(bytes)),
        refused => {
            let bytes = refused.map_or(0, |bytes| bytes.len());
            tracing::error!(bytes, "the api function's response is over Lambda's 6 MB as it carries it");
            api::respond::json(500, &serde_json::json!({"message": "Internal Server Error"}))
        }
    }
}
