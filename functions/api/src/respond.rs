//! JSON responses. Every answer of the API, errors included, is `application/json`.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde_json::Value;
use shared::Error;

pub fn json(status: u16, body: &Value) -> Response<Body> {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", "application/json")
        .body(Body::Text(body.to_string()))
        .unwrap_or_else(|_| Response::new(Body::Text(r#"{"message":"Server Error."}"#.to_owned())))
}

/// The response for an error; server-side failures are logged here with their detail.
pub fn error(err: &Error) -> Response<Body> {
    let status = err.status_code();
    if status >= 500 {
        tracing::error!(error = %err, "request failed");
    }
    let mut response = json(status, &err.body());
    if let Error::TooManyAttempts { retry_after_seconds } = err {
        if let Ok(value) = retry_after_seconds.to_string().parse() {
            response.headers_mut().insert("retry-after", value);
        }
    }
    response
}
