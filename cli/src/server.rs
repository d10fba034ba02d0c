//! The local front door of the embedded stack: the HTTP API and `ws://…/ocpp/{identity}` on one
//! port. Each request or frame becomes the event API Gateway would deliver, and the same handler
//! functions as on Lambda answer it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use aws_lambda_events::encodings::Body as LambdaBody;
use axum::body::Body;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use axum::Router;
use futures::{SinkExt, StreamExt};
use shared::embedded::Outbound;
use shared::ocpp::SUBPROTOCOL;
use shared::ports::ConnectionGateway;
use tokio::net::TcpListener;

static MANAGEMENT_THROTTLED: AtomicU64 = AtomicU64::new(0);
static MANAGEMENT_GONE: AtomicU64 = AtomicU64::new(0);

/// What the management API stand-in refused so far: (429 throttles, 410 Gone).
pub fn management_faults() -> (u64, u64) {
    (MANAGEMENT_THROTTLED.load(Ordering::Relaxed), MANAGEMENT_GONE.load(Ordering::Relaxed))
}

/// Logs, every few seconds when it changed, what absorbed faults in this process: retries,
/// hand-offs, and the management API stand-in's refusals.
pub async fn report_absorbed_faults() {
    let mut last = None;
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        let now = (shared::retry::absorbed(), management_faults());
        if last != Some(now) {
            let (absorbed, (throttled, gone)) = now;
            tracing::info!(
                retries = absorbed.retries,
                handoffs = absorbed.handoffs,
                management_429 = throttled,
                management_410 = gone,
                "faults absorbed so far"
            );
            last = Some(now);
        }
    }
}

use crate::stack::Stack;

/// The public front: the API and the chargers' WebSockets. Never the management API.
pub fn router(stack: Stack) -> Router {
    Router::new()
        .route("/ocpp/{identity}", any(charger_with_path))
        .route("/ocpp", any(charger_with_query))
        .fallback(api)
        .with_state(stack)
}

/// Serves until the process ends. The listener is bound by the caller, so port 0 works.
pub async fn serve(listener: TcpListener, stack: Stack) -> std::io::Result<()> {
    axum::serve(listener, router(stack).into_make_service_with_connect_info::<SocketAddr>()).await
}

/// The management API stand-in's own listener, on a free loopback port, and its base URL. It is
/// never routed on the public listener: on AWS the management API demands SigV4, and here anyone
/// reaching it could post any frame to any charger.
pub async fn management_listener() -> std::io::Result<(TcpListener, String)> {
    management_listener_on("127.0.0.1:0").await
}

/// The same on a given loopback address (`serve --management-listen`). Anything but loopback is
/// refused.
pub async fn management_listener_on(address: &str) -> std::io::Result<(TcpListener, String)> {
    let listener = TcpListener::bind(address).await?;
    if !listener.local_addr()?.ip().is_loopback() {
        return Err(std::io::Error::other("the management API listens on loopback only"));
    }
    let endpoint = format!("http://{}", listener.local_addr()?);
    Ok((listener, endpoint))
}

/// Serves the management API stand-in (`/@connections/{id}`) on its own listener.
pub async fn serve_management(listener: TcpListener, stack: Stack) -> std::io::Result<()> {
    let router = Router::new()
        .route("/@connections/{connection_id}", post(management_post).get(management_get).delete(management_delete))
        .with_state(stack);
    axum::serve(listener, router).await
}

async fn api(State(stack): State<Stack>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, api::request::MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(_) => return api::respond::error(&shared::Error::PayloadTooLarge).map(lambda_to_axum),
    };
    let request = lambda_http::Request::from_parts(parts, LambdaBody::Binary(bytes.to_vec()));
    api::handle(&stack.api, request).await.map(lambda_to_axum)
}

fn lambda_to_axum(body: LambdaBody) -> Body {
    match body {
        LambdaBody::Text(text) => Body::from(text),
        LambdaBody::Binary(bytes) => Body::from(bytes),
        _ => Body::empty(),
    }
}

async fn charger_with_path(
    State(stack): State<Stack>,
    Path(identity): Path<String>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    connect(stack, identity, headers, upgrade).await
}

async fn charger_with_query(
    State(stack): State<Stack>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let identity = query.get("identity").cloned().unwrap_or_default();
    connect(stack, identity, headers, upgrade).await
}

fn event(connection_id: &str, event_type: &str, route_key: &str) -> ApiGatewayWebsocketProxyRequest {
    let mut event = ApiGatewayWebsocketProxyRequest::default();
    event.request_context.connection_id = Some(connection_id.to_owned());
    event.request_context.event_type = Some(event_type.to_owned());
    event.request_context.route_key = Some(route_key.to_owned());
    event.request_context.stage = Some("local".to_owned());
    event
}

/// `$connect`: the handler decides; the upgrade happens only when it answers 200.
async fn connect(stack: Stack, identity: String, headers: HeaderMap, upgrade: WebSocketUpgrade) -> Response {
    let connection_id = uuid::Uuid::new_v4().simple().to_string();
    let outbound = stack.connections.attach(&connection_id);
    let mut connect = event(&connection_id, "CONNECT", "$connect");
    connect.headers = headers;
    connect.path = Some(format!("/ocpp/{identity}"));
    connect.query_string_parameters = HashMap::from([("identity".to_owned(), identity)]).into();
    let answer = websocket::handle(&stack.websocket, connect).await;
    if answer.status_code != 200 {
        stack.connections.detach(&connection_id);
        let status = StatusCode::from_u16(u16::try_from(answer.status_code).unwrap_or(500))
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, answer.headers).into_response();
        *response.body_mut() = Body::empty();
        return response;
    }
    upgrade.protocols([SUBPROTOCOL]).on_upgrade(move |socket| run_connection(stack, connection_id, socket, outbound))
}

async fn run_connection(
    stack: Stack,
    connection_id: String,
    socket: WebSocket,
    mut outbound: tokio::sync::mpsc::UnboundedReceiver<Outbound>,
) {
    stack.connections.open(&connection_id);
    let (mut sink, mut stream) = socket.split();
    let writer = tokio::spawn(async move {
        while let Some(item) = outbound.recv().await {
            let sent = match item {
                Outbound::Frame(text) => sink.send(Message::Text(text.into())).await,
                Outbound::Close => {
                    let _ = sink.send(Message::Close(None)).await;
                    break;
                }
            };
            if sent.is_err() {
                break;
            }
        }
    });
    while let Some(Ok(message)) = stream.next().await {
        let text = match message {
            Message::Text(text) => text,
            Message::Close(_) => break,
            _ => continue,
        };
        let mut frame = event(&connection_id, "MESSAGE", "$default");
        frame.body = Some(text.to_string());
        let answer = websocket::handle(&stack.websocket, frame).await;
        if let Some(LambdaBody::Text(reply)) = answer.body {
            if stack.connections.post(&connection_id, &reply).await.is_err() {
                break;
            }
        }
    }
    websocket::handle(&stack.websocket, event(&connection_id, "DISCONNECT", "$disconnect")).await;
    stack.connections.detach(&connection_id);
    writer.abort();
}

/// API Gateway's management API for this process's connections, so the real
/// aws-sdk-apigatewaymanagement client can be pointed here (`serve --backend aws`). It fails as
/// API Gateway does: 410 `GoneException` for a connection that is closed or whose handshake has
/// not completed, and 429 `LimitExceededException` for a share of posts (`Stack::management_throttle_rate`).
fn gone() -> Response {
    let body = r#"{"message":"The connection is gone."}"#;
    (StatusCode::GONE, [("x-amzn-errortype", "GoneException"), ("content-type", "application/json")], body)
        .into_response()
}

async fn management_post(
    State(stack): State<Stack>,
    Path(connection_id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let Ok(frame) = std::str::from_utf8(&body) else {
        return (StatusCode::BAD_REQUEST, [("x-amzn-errortype", "BadRequestException")], "").into_response();
    };
    if fastrand::f64() < stack.management_throttle_rate {
        MANAGEMENT_THROTTLED.fetch_add(1, Ordering::Relaxed);
        let body = r#"{"message":"Rate exceeded"}"#;
        let headers = [("x-amzn-errortype", "LimitExceededException"), ("content-type", "application/json")];
        return (StatusCode::TOO_MANY_REQUESTS, headers, body).into_response();
    }
    match stack.connections.post(&connection_id, frame).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(_) => {
            MANAGEMENT_GONE.fetch_add(1, Ordering::Relaxed);
            gone()
        }
    }
}

async fn management_get(State(stack): State<Stack>, Path(connection_id): Path<String>) -> Response {
    if !stack.connections.is_live(&connection_id) {
        return gone();
    }
    let body = serde_json::json!({"identity": {"sourceIp": "127.0.0.1"}}).to_string();
    (StatusCode::OK, [("content-type", "application/json")], body).into_response()
}

async fn management_delete(State(stack): State<Stack>, Path(connection_id): Path<String>) -> Response {
    if !stack.connections.is_live(&connection_id) {
        return gone();
    }
    let _ = stack.connections.close(&connection_id).await;
    StatusCode::NO_CONTENT.into_response()
}
