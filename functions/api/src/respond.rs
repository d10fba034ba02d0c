//! JSON responses. Every answer of the API, errors included, is `application/json`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use shared::Error;

pub fn json(status: u16, body: &Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

/// The response for an error; server-side failures are logged here with their detail.
pub fn error(err: &Error) -> Response {
    let status = err.status_code();
    if status >= 500 {
        tracing::error!(error = %err, "request failed");
    }
    let mut response = json(status, &err.body());
    if let Error::TooManyAttempts { retry_after_seconds } = err {
        if let Ok(value) = HeaderValue::from_str(&retry_after_seconds.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
    }
    response
}
