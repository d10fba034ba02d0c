//! A charger's WebSocket: `$connect` decides the handshake, each text frame is a `$default`
//! event, the end is `$disconnect`, as API Gateway would deliver them, with API Gateway's limits:
//! `$disconnect` does not wait for the frames still being handled.

use aws_lambda_events::apigw::{ApiGatewayCustomAuthorizerRequestTypeRequest, ApiGatewayWebsocketProxyRequest};
use aws_lambda_events::encodings::Body as LambdaBody;
use aws_lambda_events::query_map::QueryMap;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use shared::embedded::Outbound;
use shared::ocpp::OcppVersion;
use shared::ports::ConnectionGateway;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite;

use crate::stack::Stack;

pub(super) async fn charger_with_path(
    State(stack): State<Stack>,
    identity: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let identity = match identity {
        Ok(Path(identity)) => identity,
        Err(rejection) => return rejected(rejection.status(), rejection.body_text()),
    };
    match upgrade {
        Ok(upgrade) => connect(stack, identity, headers, upgrade).await,
        Err(rejection) => rejected(rejection.status(), rejection.body_text()),
    }
}

pub(super) async fn charger_with_query(
    State(stack): State<Stack>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let identity = match query {
        Ok(Query(query)) => query.get("identity").cloned().unwrap_or_default(),
        Err(rejection) => return rejected(rejection.status(), rejection.body_text()),
    };
    match upgrade {
        Ok(upgrade) => connect(stack, identity, headers, upgrade).await,
        Err(rejection) => rejected(rejection.status(), rejection.body_text()),
    }
}

/// What a charger's connection reserves for reading ahead. Tungstenite's default, 128 KiB, was 87 %
/// of an idle connection's memory (147 KB against 21 KB in the ocpp-rpc peer, scripts/bench-peer.sh);
/// an OCPP frame is a few hundred bytes, and a larger one still grows the buffer to its own size, up
/// to the frame limit. Writes are not buffered either: each frame is flushed as it is sent.
const READ_BUFFER_BYTES: usize = 4 * 1024;

/// A request to a charger route that is not a WebSocket handshake, or whose identity cannot be
/// read (`/ocpp/%FF`): axum's refusal, in the API's JSON error shape.
fn rejected(status: StatusCode, text: String) -> Response {
    let body = serde_json::json!({ "message": text }).to_string();
    (status, [("content-type", "application/json")], body).into_response()
}

fn event(
    connection_id: &str,
    event_type: &str,
    route_key: &str,
    authorized: &HashMap<String, serde_json::Value>,
) -> ApiGatewayWebsocketProxyRequest {
    let mut event = ApiGatewayWebsocketProxyRequest::default();
    event.request_context.authorizer.fields = authorized.clone();
    event.request_context.connection_id = Some(connection_id.to_owned());
    event.request_context.event_type = Some(event_type.to_owned());
    event.request_context.route_key = Some(route_key.to_owned());
    event.request_context.stage = Some("local".to_owned());
    event
}

/// The `$connect` route's authorizer, as API Gateway runs it: its context goes with every event
/// of the connection.
fn authorize(query: &QueryMap, headers: &HeaderMap) -> HashMap<String, serde_json::Value> {
    let mut request = ApiGatewayCustomAuthorizerRequestTypeRequest::default();
    request.type_ = Some("REQUEST".to_owned());
    request.method_arn = Some("arn:aws:execute-api:local:000000000000:local/local/$connect".to_owned());
    request.query_string_parameters = query.clone();
    request.headers = headers.clone();
    match websocket::authorizer::authorize(&request).context {
        serde_json::Value::Object(context) => context.into_iter().collect(),
        _ => HashMap::new(),
    }
}

/// `$connect`: the authorizer, then the handler decides; the upgrade happens only when it answers 200.
async fn connect(stack: Stack, identity: String, headers: HeaderMap, upgrade: WebSocketUpgrade) -> Response {
    let connection_id = uuid::Uuid::new_v4().simple().to_string();
    let outbound = stack.connections.attach(&connection_id);
    let query: QueryMap = HashMap::from([("identity".to_owned(), identity.clone())]).into();
    let authorized = authorize(&query, &headers);
    let mut connect = event(&connection_id, "CONNECT", "$connect", &authorized);
    connect.headers = headers;
    connect.path = Some(format!("/ocpp/{identity}"));
    connect.query_string_parameters = query;
    let answer = invoked(Box::pin(websocket::handle(&stack.websocket, connect))).await;
    if answer.status_code != 200 {
        stack.connections.detach(&connection_id);
        let status = StatusCode::from_u16(u16::try_from(answer.status_code).unwrap_or(500))
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let reason = status.canonical_reason().unwrap_or("Refused");
        let mut response = rejected(status, format!("The charger connection is refused: {reason}."));
        response.headers_mut().extend(answer.headers);
        return response;
    }
    // The subprotocol the handler selected (`$connect` answers 200 only with one).
    let selected = answer
        .headers
        .get("sec-websocket-protocol")
        .and_then(|value| value.to_str().ok())
        .and_then(OcppVersion::from_subprotocol)
        .unwrap_or_default();
    upgrade
        .protocols([selected.subprotocol()])
        .max_frame_size(stack.limits.max_frame_bytes)
        .max_message_size(stack.limits.max_message_bytes)
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(0)
        .on_upgrade(move |socket| run_connection(stack, connection_id, authorized, socket, outbound))
}

async fn run_connection(
    stack: Stack,
    connection_id: String,
    authorized: HashMap<String, serde_json::Value>,
    socket: WebSocket,
    mut outbound: tokio::sync::mpsc::UnboundedReceiver<Outbound>,
) {
    stack.connections.open(&connection_id);
    let (mut sink, mut stream) = socket.split();
    let (closed_tx, mut closed) = tokio::sync::watch::channel(false);
    let (too_big_tx, mut too_big) = tokio::sync::oneshot::channel::<()>();
    let mut too_big_tx = Some(too_big_tx);
    let mut writer = tokio::spawn(async move {
        loop {
            let item = tokio::select! {
                item = outbound.recv() => item,
                Ok(()) = &mut too_big => {
                    // As API Gateway answers a frame or message over its limits.
                    let close = CloseFrame { code: close_code::SIZE, reason: "message too big".into() };
                    let _ = sink.send(Message::Close(Some(close))).await;
                    break;
                }
            };
            let Some(item) = item else { break };
            let sent = match item {
                Outbound::Frame(text) => sink.send(Message::Text(text.into())).await,
                Outbound::Close => {
                    // The close timeout runs from now, even if the charger does not read our Close.
                    let _ = closed_tx.send(true);
                    let _ = sink.send(Message::Close(None)).await;
                    break;
                }
            };
            if sent.is_err() {
                break;
            }
        }
    });
    // The frames read are handled in order, one at a time, while the reading goes on; when the
    // connection ends, `$disconnect` runs at once, whatever frames read before it are still being
    // handled: API Gateway invokes a connection's `$default` and `$disconnect` concurrently, so a
    // charger that sends its last status and closes at once can be disconnected before that status
    // is read. (A futures channel: it allocates per frame, not a block of slots per connection.)
    let (mut frames, mut to_handle) = futures::channel::mpsc::channel::<String>(FRAMES_AHEAD);
    let handling = async {
        while let Some(text) = to_handle.next().await {
            Box::pin(handle_text(&stack, &connection_id, &authorized, text)).await;
        }
    };
    let reading = async {
        let limits = stack.limits;
        let ends = Instant::now() + limits.max_duration;
        let mut idle_until = Instant::now() + limits.idle;
        let mut close_by: Option<Instant> = None;
        loop {
            let deadline = close_by.unwrap_or(idle_until.min(ends));
            let message = tokio::select! {
                message = tokio::time::timeout_at(deadline, stream.next()) => message,
                _ = closed.changed(), if close_by.is_none() => {
                    close_by = Some(Instant::now() + limits.close_timeout);
                    continue;
                }
            };
            let message = match message {
                Ok(Some(Ok(message))) => message,
                Ok(Some(Err(err))) => {
                    if is_too_big(err) {
                        if let Some(tx) = too_big_tx.take() {
                            let _ = tx.send(());
                        }
                        let _ = tokio::time::timeout(limits.close_timeout, &mut writer).await;
                    }
                    break;
                }
                Ok(None) => break,
                Err(_) if close_by.is_some() => break, // our Close went unanswered
                Err(_) => {
                    tracing::debug!(idle = Instant::now() >= idle_until, "closing a connection at its time limit");
                    let _ = stack.connections.close(&connection_id).await;
                    close_by = Some(Instant::now() + limits.close_timeout);
                    continue;
                }
            };
            idle_until = Instant::now() + limits.idle;
            let text = match message {
                Message::Text(text) => text,
                Message::Close(_) => break,
                _ => continue,
            };
            if frames.send(text.to_string()).await.is_err() {
                break;
            }
        }
        frames.close_channel();
        let disconnect = event(&connection_id, "DISCONNECT", "$disconnect", &authorized);
        invoked(Box::pin(websocket::handle(&stack.websocket, disconnect))).await;
    };
    tokio::join!(reading, handling);
    stack.connections.detach(&connection_id);
    writer.abort();
}

/// One frame, as a `$default` event, and its reply posted. Boxed by its caller: its state (the
/// event, the answer) then lives only while a frame is handled, not in every idle connection.
async fn handle_text(
    stack: &Stack,
    connection_id: &str,
    authorized: &HashMap<String, serde_json::Value>,
    text: String,
) {
    let mut frame = event(connection_id, "MESSAGE", "$default", authorized);
    frame.body = Some(text);
    let answer = invoked(Box::pin(websocket::handle(&stack.websocket, frame))).await;
    if let Some(LambdaBody::Text(reply)) = answer.body {
        // A reply the connection can no longer take (the charger closed it, or a newer connection
        // of the charger replaced it) is lost, as API Gateway's would be; the frames read before
        // are still handled.
        if stack.connections.post(connection_id, &reply).await.is_err() {
            tracing::debug!("a reply found its connection closed");
        }
    }
}

/// The channel's bound: besides the frame in hand, at most this many and one more (a futures
/// channel keeps a slot per sender) wait, and one more in the reading's `send`; past them the
/// reading waits for the handling, so a charger that sends faster than its frames are handled is
/// held back, not buffered.
const FRAMES_AHEAD: usize = 2;

/// One invocation of the websocket function, counted (`crate::invocations`). The handler's future
/// comes boxed: its state (every step of a frame's way through the handler, about 14 KB) then lives
/// only while a frame is handled, instead of inside every idle connection's task, where it was 60 %
/// of a connection's memory (scripts/bench-peer.sh).
async fn invoked<T>(handling: Pin<Box<dyn Future<Output = T> + Send + '_>>) -> T {
    let started = std::time::Instant::now();
    let answer = handling.await;
    crate::invocations::record("websocket", started.elapsed());
    answer
}

/// Whether reading failed on a frame or message over the limits.
fn is_too_big(err: axum::Error) -> bool {
    let inner = err.into_inner();
    matches!(inner.downcast_ref::<tungstenite::Error>(), Some(tungstenite::Error::Capacity(_)))
}
