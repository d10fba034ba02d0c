//! The HTTP API (`docs/openapi.yaml`), written once over the ports as one axum router: `main.rs`
//! serves it on Lambda (`lambda_http`), `ocpp-bulk serve` mounts it on its local server. Every
//! request is authenticated and counted against its rate limit first (`gate`), so every answer,
//! 404 and 405 included, carries the limit it was counted against.

use std::sync::Arc;

use axum::extract::rejection::{BytesRejection, FailedToBufferBody, PathRejection};
use axum::extract::{DefaultBodyLimit, Path, RawQuery, Request, State};
use axum::http::HeaderMap;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Extension, Router};
use chrono::Utc;
use serde_json::json;
use shared::domain::{CursorKey, Identity};
use shared::ports::{
    ChargerDirectory, DispatchQueue, FleetStates, IdempotencyKeys, RateDecision, RateLimiter, RunStore, TokenStore,
    WebhookSecrets,
};
use shared::webhook::address::WebhookPolicy;
use shared::webhook::WebhookKey;
use shared::{Error, Result};
use tower::util::MapRequest;
use tower::ServiceExt;

pub mod aws;
pub mod bulk_request;
pub mod cancel;
pub mod chunks;
pub mod commands;
pub mod console;
pub mod create;
pub mod fleet;
pub mod outcome;
pub mod pause;
pub mod read;
pub mod request;
pub mod respond;
pub mod retry;
pub mod rollout;
mod run_routes;
pub mod sources;
pub mod versions;
pub mod views;
pub mod webhook;

/// The capabilities the API uses, built once at start-up.
#[derive(Clone)]
pub struct ApiContext {
    pub tokens: Arc<dyn TokenStore>,
    pub chargers: Arc<dyn ChargerDirectory>,
    /// The fleet view: `GET /v3/chargers`, and runs that target chargers by it.
    pub fleet: Arc<dyn FleetStates>,
    pub runs: Arc<dyn RunStore>,
    pub queue: Arc<dyn DispatchQueue>,
    pub idempotency: Arc<dyn IdempotencyKeys>,
    pub limiter: Arc<dyn RateLimiter>,
    /// Requests a user may make per minute (`429` beyond).
    pub rate_limit_per_minute: u32,
    /// `timeout_seconds` of a run that does not give one.
    pub default_timeout_seconds: u32,
    /// Signs pagination cursors (CURSOR_SECRET on AWS; generated per process locally).
    pub cursor_key: CursorKey,
    /// Sources over their failed authentications this minute, as this instance learned it.
    pub blocked_sources: Arc<sources::BlockedSources>,
    /// Each user's webhook secret version; the secrets derive from `webhook_key`.
    pub webhook_secrets: Arc<dyn WebhookSecrets>,
    /// WEBHOOK_KEY on AWS (from the secret store); generated per process locally.
    pub webhook_key: WebhookKey,
    /// Which callback URLs a run may name (never private addresses on AWS).
    pub webhook_policy: WebhookPolicy,
}

const BULK: &str = "/v3/chargers/commands/bulk";
const CHARGERS: &str = "/v3/chargers";

/// Requests per user and minute unless RATE_LIMIT_PER_MINUTE says otherwise: room for a client
/// polling a run several times a second, not for a runaway loop.
pub const DEFAULT_RATE_LIMIT_PER_MINUTE: u32 = 6_000;

/// The API as one service: `router` behind `normalize`, so the paths API Gateway may deliver (a
/// stage or mapping prefix before `/v3`, a trailing slash) reach their routes.
pub fn service(ctx: ApiContext) -> MapRequest<Router, fn(Request) -> Request> {
    router(ctx).map_request(normalize as fn(Request) -> Request)
}

/// The path from `/v3/` on, without a trailing slash.
pub fn normalize(mut request: Request) -> Request {
    let path = request.uri().path();
    let start = path.find("/v3/").unwrap_or(0);
    let trimmed = path[start..].trim_end_matches('/');
    if start > 0 || trimmed.len() != path.len() {
        let rest = request.uri().query().map_or(String::new(), |q| format!("?{q}"));
        let rewritten = format!("{}{rest}", if trimmed.is_empty() { "/" } else { trimmed });
        if let Ok(uri) = rewritten.parse() {
            *request.uri_mut() = uri;
        }
    }
    request
}

/// The console's pages (`console.rs`, open to all: they hold no data) beside the API's routes,
/// behind `gate`. Bodies up to `request::MAX_BODY_BYTES` are read; more is a 413.
pub fn router(ctx: ApiContext) -> Router {
    console::routes().merge(api_routes(ctx))
}

fn api_routes(ctx: ApiContext) -> Router {
    Router::new()
        .route(CHARGERS, get(chargers))
        .route("/v3/chargers/commands/check", post(check))
        .route("/v3/commands", get(|| async { respond::json(200, &commands::list()) }))
        .route("/v3/commands/{command}", get(command))
        .route("/v3/webhooks/secret", post(rotate_webhook_secret))
        .route(BULK, get(list).post(create))
        .route(&format!("{BULK}/{{run}}"), get(run_routes::show))
        .route(&format!("{BULK}/{{run}}/results"), get(run_routes::results))
        .route(&format!("{BULK}/{{run}}/reports/{{position}}"), get(run_routes::report))
        .route(&format!("{BULK}/{{run}}/cancel"), post(run_routes::cancel))
        .route(&format!("{BULK}/{{run}}/pause"), post(run_routes::pause))
        .route(&format!("{BULK}/{{run}}/resume"), post(run_routes::resume))
        .route(&format!("{BULK}/{{run}}/retry"), post(run_routes::retry))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(|| async { respond::error(&Error::NotFound) })
        .layer(middleware::from_fn_with_state(ctx.clone(), gate))
        .layer(DefaultBodyLimit::max(request::MAX_BODY_BYTES))
        .with_state(ctx)
}

/// Answers one Lambda request with `router`, its answer read whole (`lambda_http` wants a body it
/// can hold). Never fails: every error is its JSON response.
pub async fn on_lambda(
    service: MapRequest<Router, fn(Request) -> Request>,
    request: lambda_http::Request,
) -> lambda_http::Response<lambda_http::Body> {
    let response = match service.oneshot(request.map(axum::body::Body::new)).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let (parts, body) = response.into_parts();
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => lambda_http::Body::Text(String::from_utf8_lossy(&bytes).into_owned()),
        Err(_) => lambda_http::Body::Text(r#"{"message":"Server Error."}"#.to_owned()),
    };
    lambda_http::Response::from_parts(parts, body)
}

/// One request through a fresh router (the sample events' tests).
pub async fn handle(ctx: &ApiContext, request: lambda_http::Request) -> lambda_http::Response<lambda_http::Body> {
    on_lambda(service(ctx.clone()), request).await
}

/// Failed authentications a source address may make per minute: enough for a misconfigured client
/// to see its 401s, far too few to guess a token.
pub const UNAUTHENTICATED_PER_MINUTE: u32 = 60;

/// Authenticates, counts the request against its rate limit (the caller's, or for a request that
/// fails to authenticate, its source address's), then lets it through to its route with the
/// caller's `Identity`; the limit goes on the answer.
async fn gate(State(ctx): State<ApiContext>, mut request: Request, next: Next) -> Response {
    let mut rate = None;
    let source = sources::source_key(request.extensions());
    let admitted = admit(&ctx, request.headers(), source, &mut rate).await;
    let mut response = match admitted {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(err) => respond::error(&err),
    };
    if let Some(rate) = rate {
        let headers = response.headers_mut();
        headers.insert("x-ratelimit-limit", rate.limit.into());
        headers.insert("x-ratelimit-remaining", rate.remaining.into());
    }
    response
}

async fn admit(
    ctx: &ApiContext,
    headers: &HeaderMap,
    source: String,
    rate: &mut Option<RateDecision>,
) -> Result<Identity> {
    let now = Utc::now();
    if ctx.blocked_sources.blocks(&source, RateDecision::window(now)) {
        // Over its failed authentications this minute: not even a right token is looked at.
        let refused =
            RateDecision::for_hits(UNAUTHENTICATED_PER_MINUTE, u64::from(UNAUTHENTICATED_PER_MINUTE) + 1, now);
        *rate = Some(refused);
        return Err(Error::TooManyAttempts { retry_after_seconds: refused.retry_after_seconds.unwrap_or(60) });
    }
    let caller = match request::authenticate(ctx.tokens.as_ref(), headers).await {
        Ok(caller) => caller,
        Err(Error::Unauthenticated) => {
            let decision = ctx.limiter.hit(&source, UNAUTHENTICATED_PER_MINUTE, now).await?;
            *rate = Some(decision);
            return Err(match decision.retry_after_seconds {
                Some(retry_after_seconds) => {
                    ctx.blocked_sources.block(source, RateDecision::window(now));
                    Error::TooManyAttempts { retry_after_seconds }
                }
                None => Error::Unauthenticated,
            });
        }
        Err(err) => return Err(err),
    };
    let decision = ctx.limiter.hit(&caller.user, ctx.rate_limit_per_minute, now).await?;
    *rate = Some(decision);
    if let Some(retry_after_seconds) = decision.retry_after_seconds {
        return Err(Error::TooManyAttempts { retry_after_seconds });
    }
    Ok(caller)
}

/// A route that exists, with a method it does not take (axum adds `Allow`).
async fn method_not_allowed(request: Request) -> Response {
    let message = format!("The {} method is not supported for this route.", request.method());
    respond::json(405, &json!({ "message": message }))
}

/// The `{run}` of the path; one that cannot be read (invalid UTF-8 once decoded) names no run.
fn run_id(id: Result<Path<String>, PathRejection>) -> Result<String> {
    id.map(|Path(id)| id).map_err(|_| Error::NotFound)
}

/// The body as read: over `MAX_BODY_BYTES` is a 413, anything else unreadable a 422.
fn read_body(body: Result<axum::body::Bytes, BytesRejection>) -> Result<axum::body::Bytes> {
    body.map_err(|rejection| match rejection {
        BytesRejection::FailedToBufferBody(FailedToBufferBody::LengthLimitError(_)) => Error::PayloadTooLarge,
        other => Error::invalid("body", format!("The request body could not be read: {}.", other.body_text())),
    })
}

/// A handler's outcome as its answer.
fn answer(status: u16, result: Result<serde_json::Value>) -> Response {
    match result {
        Ok(body) => respond::json(status, &body),
        Err(err) => respond::error(&err),
    }
}

async fn create(
    State(ctx): State<ApiContext>,
    Extension(caller): Extension<Identity>,
    headers: HeaderMap,
    body: Result<axum::body::Bytes, BytesRejection>,
) -> Response {
    let result = async {
        let body = request::json_body(&read_body(body)?, &headers)?;
        let idempotency = request::idempotency_key(&headers)?.map(|key| (key, request::fingerprint(&body)));
        let bulk = bulk_request::BulkRequest::parse(body)?;
        let (run, results) = create::submit(&ctx, &caller, bulk, idempotency, Utc::now()).await?;
        Ok(json!({ "data": views::run(&run, Some(&results)) }))
    };
    answer(202, result.await)
}

async fn list(
    State(ctx): State<ApiContext>,
    Extension(caller): Extension<Identity>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let query = request::query(query.as_deref());
    answer(200, read::list(&ctx, &caller, &query, request::url_of(&headers, BULK)).await)
}

async fn chargers(
    State(ctx): State<ApiContext>,
    Extension(caller): Extension<Identity>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let query = request::query(query.as_deref());
    answer(200, fleet::list(&ctx, &caller, &query, request::url_of(&headers, CHARGERS)).await)
}

/// A run's body checked as `create` checks it, nothing created (`commands::check`).
async fn check(headers: HeaderMap, body: Result<axum::body::Bytes, BytesRejection>) -> Response {
    let result = async { commands::check(request::json_body(&read_body(body)?, &headers)?) };
    answer(200, result.await)
}

async fn command(name: Result<Path<String>, PathRejection>) -> Response {
    answer(200, name.map_err(|_| Error::NotFound).and_then(|Path(name)| commands::show(&name)))
}

async fn rotate_webhook_secret(State(ctx): State<ApiContext>, Extension(caller): Extension<Identity>) -> Response {
    answer(201, webhook::rotate(&ctx, &caller).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path_of(uri: &str) -> String {
        let request = Request::builder().uri(uri).body(axum::body::Body::empty()).unwrap();
        normalize(request).uri().to_string()
    }

    #[test]
    fn paths_reach_their_routes_with_or_without_a_prefix_or_trailing_slash() {
        assert_eq!(path_of("/v3/chargers/commands/bulk"), "/v3/chargers/commands/bulk");
        assert_eq!(path_of("/prod/v3/chargers/commands/bulk/"), "/v3/chargers/commands/bulk");
        assert_eq!(
            path_of("/v3/chargers/commands/bulk/abc/results/?per_page=5"),
            "/v3/chargers/commands/bulk/abc/results?per_page=5"
        );
        assert_eq!(path_of("/elsewhere"), "/elsewhere");
        assert_eq!(path_of("/"), "/");
    }
}
