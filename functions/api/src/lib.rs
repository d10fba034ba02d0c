//! The HTTP API handler (`docs/openapi.yaml`), written once over the ports: `main.rs` runs it under
//! `lambda_http`, `ocpp-bulk serve` runs it behind a local HTTP server.

use std::sync::Arc;

use chrono::Utc;
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde_json::json;
use shared::domain::CursorKey;
use shared::ports::{
    ChargerDirectory, DispatchQueue, IdempotencyKeys, RateDecision, RateLimiter, RunStore, TokenStore,
};
use shared::{Error, Result};

pub mod aws;
pub mod cancel;
pub mod create;
pub mod read;
pub mod request;
pub mod respond;
pub mod sources;
pub mod views;

/// The capabilities the API uses, built once at start-up.
#[derive(Clone)]
pub struct ApiContext {
    pub tokens: Arc<dyn TokenStore>,
    pub chargers: Arc<dyn ChargerDirectory>,
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
}

const BULK: &str = "/v3/chargers/commands/bulk";

/// Requests per user and minute unless RATE_LIMIT_PER_MINUTE says otherwise: room for a client
/// polling a run several times a second, not for a runaway loop.
pub const DEFAULT_RATE_LIMIT_PER_MINUTE: u32 = 6_000;

/// Answers one request. Never fails: every error becomes its JSON response.
pub async fn handle(ctx: &ApiContext, request: Request) -> Response<Body> {
    let mut rate = None;
    let mut response = match route(ctx, &request, &mut rate).await {
        Ok(response) => response,
        Err(err) => respond::error(&err),
    };
    if let Some(rate) = rate {
        let headers = response.headers_mut();
        headers.insert("x-ratelimit-limit", rate.limit.into());
        headers.insert("x-ratelimit-remaining", rate.remaining.into());
    }
    response
}

/// The routes, after any stage prefix API Gateway puts before `/v3`.
enum Route<'a> {
    Bulk,
    Run(&'a str),
    Results(&'a str),
    Cancel(&'a str),
}

fn parse_route(path: &str) -> Option<Route<'_>> {
    let path = path.find("/v3/").map_or(path, |i| &path[i..]).trim_end_matches('/');
    let rest = path.strip_prefix(BULK)?;
    if rest.is_empty() {
        return Some(Route::Bulk);
    }
    let mut parts = rest.strip_prefix('/')?.split('/');
    let run = parts.next().filter(|id| !id.is_empty())?;
    let route = match parts.next() {
        None => Route::Run(run),
        Some("results") => Route::Results(run),
        Some("cancel") => Route::Cancel(run),
        Some(_) => return None,
    };
    parts.next().is_none().then_some(route)
}

/// Failed authentications a source address may make per minute: enough for a misconfigured client
/// to see its 401s, far too few to guess a token.
pub const UNAUTHENTICATED_PER_MINUTE: u32 = 60;

/// Authenticates, counts the request against its rate limit (the caller's, or for a request that
/// fails to authenticate, its source address's), then routes; every answer past authentication,
/// 401, 404 and 405 included, carries the limit it was counted against.
async fn route(ctx: &ApiContext, request: &Request, rate: &mut Option<RateDecision>) -> Result<Response<Body>> {
    let now = Utc::now();
    let source = sources::source_key(request);
    if ctx.blocked_sources.blocks(&source, RateDecision::window(now)) {
        // Over its failed authentications this minute: not even a right token is looked at.
        let refused =
            RateDecision::for_hits(UNAUTHENTICATED_PER_MINUTE, u64::from(UNAUTHENTICATED_PER_MINUTE) + 1, now);
        *rate = Some(refused);
        return Err(Error::TooManyAttempts { retry_after_seconds: refused.retry_after_seconds.unwrap_or(60) });
    }
    let caller = match request::authenticate(ctx.tokens.as_ref(), request).await {
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
    let route = parse_route(request.uri().path()).ok_or(Error::NotFound)?;
    let method = request.method();
    let allowed = match route {
        Route::Bulk => "GET, POST",
        Route::Run(_) | Route::Results(_) => "GET",
        Route::Cancel(_) => "POST",
    };
    if !allowed.split(", ").any(|m| m == method.as_str()) {
        let message = format!("The {method} method is not supported for this route.");
        let mut response = respond::json(405, &json!({ "message": message }));
        response.headers_mut().insert("allow", lambda_http::http::HeaderValue::from_static(allowed));
        return Ok(response);
    }
    let query = request::query(request);
    match route {
        Route::Bulk if *method == Method::POST => {
            let body = request::json_body(request)?;
            let idempotency = request::idempotency_key(request)?.map(|key| (key, request::fingerprint(&body)));
            let bulk = create::BulkRequest::parse(body)?;
            let (run, results) = create::submit(ctx, &caller, bulk, idempotency, Utc::now()).await?;
            Ok(respond::json(202, &json!({ "data": views::run(&run, Some(&results)) })))
        }
        Route::Bulk => {
            let page = read::list(ctx, &caller, &query, request::url_of(request, BULK)).await?;
            Ok(respond::json(200, &page))
        }
        Route::Run(id) => {
            let run = read::owned_run(ctx, &caller, id).await?;
            Ok(respond::json(200, &json!({ "data": read::show(ctx, &run).await? })))
        }
        Route::Results(id) => {
            let run = read::owned_run(ctx, &caller, id).await?;
            let path = request::url_of(request, &format!("{BULK}/{}/results", run.id));
            Ok(respond::json(200, &read::results_page(ctx, &run, &query, path).await?))
        }
        Route::Cancel(id) => {
            let run = read::owned_run(ctx, &caller, id).await?;
            let run = cancel::cancel(ctx, &run).await?;
            Ok(respond::json(200, &json!({ "data": read::show(ctx, &run).await? })))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_parse_with_or_without_a_stage() {
        assert!(matches!(parse_route("/v3/chargers/commands/bulk"), Some(Route::Bulk)));
        assert!(matches!(parse_route("/prod/v3/chargers/commands/bulk/"), Some(Route::Bulk)));
        assert!(matches!(parse_route("/v3/chargers/commands/bulk/abc"), Some(Route::Run("abc"))));
        assert!(matches!(parse_route("/v3/chargers/commands/bulk/abc/results"), Some(Route::Results("abc"))));
        assert!(matches!(parse_route("/v3/chargers/commands/bulk/abc/cancel"), Some(Route::Cancel("abc"))));
        assert!(parse_route("/v3/chargers/commands/bulk/abc/other").is_none());
        assert!(parse_route("/v3/chargers/commands/bulkx").is_none());
        assert!(parse_route("/v3/chargers/commands/bulk/a/results/x").is_none());
        assert!(parse_route("/").is_none());
    }
}
