//! API Gateway's management API (`/@connections/{id}`) for this process's connections, on its own
//! loopback listener, so the real aws-sdk-apigatewaymanagement client can be pointed here
//! (`serve --backend aws`).

use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use shared::ports::ConnectionGateway;
use tokio::net::TcpListener;

use crate::stack::Stack;

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

/// API Gateway's management API for this process's connections, so the real
/// aws-sdk-apigatewaymanagement client can be pointed here (`serve --backend aws`). It fails as
/// API Gateway does: 410 `GoneException` for a connection that is closed or whose handshake has
/// not completed, and 429 `LimitExceededException` for a share of posts (`Stack::management_throttle_rate`).
fn gone() -> Response {
    let body = r#"{"message":"The connection is gone."}"#;
    (StatusCode::GONE, [("x-amzn-errortype", "GoneException"), ("content-type", "application/json")], body)
        .into_response()
}

/// API Gateway answers a call outside the caller's policy 403 `AccessDeniedException`: here the
/// strict stand-in decides (`Stack::management_authorizer`), from the template's statements for the
/// function whose credentials signed the call (scripts/strict_aws/iam.py). A local endpoint without the
/// strict stand-in (404) allows every call; one that cannot be reached, or answers anything else,
/// refuses it: an unchecked call must not pass as a checked one.
async fn denied(stack: &Stack, method: &Method, connection_id: &str, headers: &HeaderMap) -> Option<Response> {
    let authorizer = stack.management_authorizer.as_ref()?;
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let asked = serde_json::json!({
        "authorization": authorization,
        "action": "execute-api:ManageConnections",
        "resource": format!("arn:aws:execute-api:local:123456789012:local/local/{method}/@connections/{connection_id}"),
    });
    let message = match authorizer_client().post(authorizer).json(&asked).send().await {
        Ok(answer) if matches!(answer.status().as_u16(), 200 | 404) => return None,
        // The stand-in words the refusal as AWS does (scripts/strict_aws/answers.py, `denial_message`).
        Ok(answer) if answer.status() == reqwest::StatusCode::FORBIDDEN => answer
            .json::<serde_json::Value>()
            .await
            .ok()
            .and_then(|denial| denial["message"].as_str().map(str::to_owned)),
        Ok(answer) => Some(format!("the IAM stand-in answered {}", answer.status())),
        Err(err) => Some(format!("the IAM stand-in could not be asked: {err}")),
    };
    let body = serde_json::json!({ "message": message }).to_string();
    let headers = [("x-amzn-errortype", "AccessDeniedException"), ("content-type", "application/json")];
    Some((StatusCode::FORBIDDEN, headers, body).into_response())
}

fn authorizer_client() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(reqwest::Client::new)
}

async fn management_post(
    State(stack): State<Stack>,
    Path(connection_id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Some(refused) = denied(&stack, &Method::POST, &connection_id, &headers).await {
        return refused;
    }
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

async fn management_get(State(stack): State<Stack>, Path(connection_id): Path<String>, headers: HeaderMap) -> Response {
    if let Some(refused) = denied(&stack, &Method::GET, &connection_id, &headers).await {
        return refused;
    }
    if !stack.connections.is_live(&connection_id) {
        return gone();
    }
    let body = serde_json::json!({"identity": {"sourceIp": "127.0.0.1"}}).to_string();
    (StatusCode::OK, [("content-type", "application/json")], body).into_response()
}

async fn management_delete(
    State(stack): State<Stack>,
    Path(connection_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = denied(&stack, &Method::DELETE, &connection_id, &headers).await {
        return refused;
    }
    if !stack.connections.is_live(&connection_id) {
        return gone();
    }
    let _ = stack.connections.close(&connection_id).await;
    StatusCode::NO_CONTENT.into_response()
}
