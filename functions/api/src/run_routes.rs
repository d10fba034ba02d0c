//! The routes of one run (`/v3/chargers/commands/bulk/{run}/…`): read it, its results and
//! reports; retry, cancel, pause or resume it. Each reads the run as its owner's (another's is a 404).

use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Extension;
use serde_json::json;
use shared::domain::Identity;
use shared::{Error, Result};

use super::{answer, read_body, run_id, BULK};
use crate::{cancel, pause, read, request, retry, views, ApiContext};

pub async fn show(
    State(ctx): State<ApiContext>,
    Extension(caller): Extension<Identity>,
    id: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Response {
    let run = async { read::owned_run(&ctx, &caller, &run_id(id)?).await };
    answer(200, run_envelope(&ctx, query, run).await)
}

pub async fn retry(
    State(ctx): State<ApiContext>,
    Extension(caller): Extension<Identity>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<axum::body::Bytes, BytesRejection>,
) -> Response {
    let result = async {
        let run = read::owned_run(&ctx, &caller, &run_id(id)?).await?;
        let bytes = read_body(body)?;
        // The body is optional: none retries offline and error (and failed and stalled outcomes).
        let body = if bytes.iter().all(u8::is_ascii_whitespace) {
            serde_json::Value::Null
        } else {
            request::json_body(&bytes, &headers)?
        };
        let retried = retry::statuses(&run, &body)?;
        let rollout = retry::rollout(&run, &body)?;
        let idempotency =
            request::idempotency_key(&headers)?.map(|key| (key, retry::fingerprint(&run, &retried, &body)));
        let (retry, results) = retry::submit(&ctx, &caller, &run, &retried, rollout, idempotency).await?;
        Ok(json!({ "data": views::run(&retry, Some(&results)) }))
    };
    answer(202, result.await)
}

/// `{"data": Run}` with its first results (as many as the query's `results` asks, checked before
/// anything is done), for a run just read or cancelled.
async fn run_envelope(
    ctx: &ApiContext,
    query: Option<String>,
    run: impl std::future::Future<Output = Result<shared::domain::Run>>,
) -> Result<serde_json::Value> {
    let embedded = read::embedded(&request::query(query.as_deref()))?;
    Ok(json!({ "data": read::show(ctx, &run.await?, embedded).await? }))
}

pub async fn results(
    State(ctx): State<ApiContext>,
    Extension(caller): Extension<Identity>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let result = async {
        let run = read::owned_run(&ctx, &caller, &run_id(id)?).await?;
        let path = request::url_of(&headers, &format!("{BULK}/{}/results", run.id));
        read::results_page(&ctx, &run, &request::query(query.as_deref()), path).await
    };
    answer(200, result.await)
}

/// `{"data": Report, "links", "meta"}`: the report gathered for the result at `position` (OCPP 2.0.1
/// GetBaseReport, GetReport), a page of its data at a time (`read::report`).
pub async fn report(
    State(ctx): State<ApiContext>,
    Extension(caller): Extension<Identity>,
    headers: HeaderMap,
    path: Result<Path<(String, String)>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Response {
    let result = async {
        let (id, position) = path.map(|Path(parts)| parts).map_err(|_| Error::NotFound)?;
        let run = read::owned_definition(&ctx, &caller, &id).await?;
        let path = request::url_of(&headers, &format!("{BULK}/{}/reports/{position}", run.id));
        read::report(&ctx, &run, &position, &request::query(query.as_deref()), path).await
    };
    answer(200, result.await)
}

/// What a POST to a run's own path does to it.
#[derive(Clone, Copy)]
enum Act {
    Cancel,
    Pause,
    Resume,
}

/// `{"data": Run}` after `act` on the caller's run.
async fn act(
    ctx: ApiContext,
    caller: Identity,
    id: Result<Path<String>, PathRejection>,
    query: Option<String>,
    act: Act,
) -> Response {
    let run = async {
        let run = read::owned_run(&ctx, &caller, &run_id(id)?).await?;
        match act {
            Act::Cancel => cancel::cancel(&ctx, &run).await,
            Act::Pause => pause::pause(&ctx, &run).await,
            Act::Resume => pause::resume(&ctx, &run).await,
        }
    };
    answer(200, run_envelope(&ctx, query, run).await)
}

pub async fn cancel(
    State(ctx): State<ApiContext>,
    Extension(caller): Extension<Identity>,
    id: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Response {
    act(ctx, caller, id, query, Act::Cancel).await
}

pub async fn pause(
    State(ctx): State<ApiContext>,
    Extension(caller): Extension<Identity>,
    id: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Response {
    act(ctx, caller, id, query, Act::Pause).await
}

pub async fn resume(
    State(ctx): State<ApiContext>,
    Extension(caller): Extension<Identity>,
    id: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Response {
    act(ctx, caller, id, query, Act::Resume).await
}
