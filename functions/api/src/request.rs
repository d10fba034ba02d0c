//! What the handlers read from an HTTP request: the bearer token, query parameters, the JSON body,
//! the Idempotency-Key, and the URL paginator links are built from.

use std::collections::HashMap;

use axum::http::HeaderMap;
use serde_json::Value;
use shared::domain::access::token_hash;
use shared::domain::result::json_size;
use shared::domain::Identity;
use shared::ports::TokenStore;
use shared::{Error, Result};

/// The largest body the api function can be handed: Lambda takes a synchronous invocation of at
/// most 6 MB (its refusal names 6,291,456 bytes), and API Gateway puts the body into that event as
/// a JSON string (every `"` and `\` escaped, so counted twice here), beside the request line, the
/// headers (at most 10,240 bytes on an HTTP API, some of them repeated in the request context) and
/// the context: 64 KiB is kept for those. A larger body is refused before parsing, locally as on AWS
/// (where Lambda would refuse the event itself). Sources: docs/data-model.md, "How much one POST
/// carries".
pub const MAX_BODY_BYTES: usize = LAMBDA_PAYLOAD_BYTES - EVENT_ENVELOPE_BYTES;
/// The largest answer body: a function's response is limited to the same 6 MB, and lambda_http
/// writes the body into it as a JSON string (escaped as `event_bytes` counts), beside the status and
/// headers; a results page stops before it (`read::results_page`), its cursor going on from there.
pub const MAX_RESPONSE_BYTES: usize = LAMBDA_PAYLOAD_BYTES - EVENT_ENVELOPE_BYTES;
const LAMBDA_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;
/// What a proxy response holds beside its body (status, headers, `isBase64Encoded`), at most.
const RESPONSE_ENVELOPE_BYTES: usize = 4 * 1024;

/// Whether a JSON `body` fits the response Lambda takes from the function, escaped into it as a
/// string (where `MAX_RESPONSE_BYTES` is what the API's pages keep to, with room to spare).
pub fn fits_lambda_response(body: &[u8]) -> bool {
    event_bytes(body, true) + RESPONSE_ENVELOPE_BYTES <= LAMBDA_PAYLOAD_BYTES
}
const EVENT_ENVELOPE_BYTES: usize = 64 * 1024;

/// The body's size in the Lambda event. Sent as text (`passed_as_text`), it is escaped into a JSON
/// string: a quote or backslash takes two bytes, a control character up to six (`\u001f`). Sent
/// as anything else (or with no Content-Type), an HTTP API base64-encodes it: 4 bytes for 3.
pub fn event_bytes(body: &[u8], as_text: bool) -> usize {
    if !as_text {
        return body.len().div_ceil(3) * 4;
    }
    body.iter().map(escaped).sum()
}

/// What one byte weighs escaped into a JSON string (a control character at most 6, `\u00XX`).
pub(crate) fn escaped(byte: &u8) -> usize {
    match byte {
        b'"' | b'\\' => 2,
        0..=0x1f => 6,
        _ => 1,
    }
}

/// The size of `value` as compact JSON: as text, or (`as_event`) escaped into a Lambda event or
/// response the way `event_bytes` counts a body. Counted as it is written, without building the text.
pub fn json_bytes(value: &Value, as_event: bool) -> usize {
    json_size(value, |buf: &[u8]| if as_event { buf.iter().map(escaped).sum() } else { buf.len() })
}

/// Whether an HTTP API hands the body to Lambda as text: only for `text/*`, `application/json`,
/// `application/xml` and `application/javascript` (parameters aside); every other body, and one
/// without a Content-Type, arrives base64-encoded (docs/data-model.md, "How much one POST carries").
pub fn passed_as_text(headers: &HeaderMap) -> bool {
    let content_type = header(headers, "content-type").unwrap_or_default();
    let media = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    media.starts_with("text/")
        || matches!(media.as_str(), "application/json" | "application/xml" | "application/javascript")
}

/// A header's value, if it is there and readable as text.
fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

pub async fn authenticate(tokens: &dyn TokenStore, headers: &HeaderMap) -> Result<Identity> {
    let authorization = header(headers, "authorization").unwrap_or_default();
    let (scheme, token) = authorization.trim().split_once(' ').unwrap_or_default();
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(Error::Unauthenticated);
    }
    tokens.identity_for_token_hash(&token_hash(token)).await?.ok_or(Error::Unauthenticated)
}

pub fn query(query: Option<&str>) -> HashMap<String, String> {
    query.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default()
}

pub fn json_body(bytes: &[u8], headers: &HeaderMap) -> Result<Value> {
    if event_bytes(bytes, passed_as_text(headers)) > MAX_BODY_BYTES {
        return Err(Error::PayloadTooLarge);
    }
    serde_json::from_slice(bytes)
        .map_err(|e| Error::invalid("body", format!("The request body is not valid JSON: {e}.")))
}

/// `scheme://host/path` of this request, for pagination links.
pub fn url_of(headers: &HeaderMap, path: &str) -> String {
    let scheme = header(headers, "x-forwarded-proto").unwrap_or("http");
    let host = header(headers, "host").unwrap_or("localhost");
    format!("{scheme}://{host}{path}")
}

/// The longest `Idempotency-Key` accepted.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

/// The `Idempotency-Key` header, if any: 1-255 visible ASCII characters.
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value.to_str().unwrap_or_default().trim();
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY || !key.chars().all(|c| c.is_ascii_graphic()) {
        return Err(Error::invalid(
            "idempotency_key",
            format!("The Idempotency-Key header must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters."),
        ));
    }
    Ok(Some(key.to_owned()))
}

/// A request body's fingerprint: SHA-256 of its canonical JSON (object keys sorted).
pub fn fingerprint(body: &serde_json::Value) -> String {
    shared::domain::access::sha256_hex(body.to_string().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent_as(content_type: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", content_type.parse().unwrap());
        headers
    }

    #[test]
    fn a_body_is_measured_as_the_lambda_event_carries_it() {
        let json = sent_as("application/json");
        assert_eq!(event_bytes(br#"{"a":"b\\"}"#, true), 11 + 6);
        assert_eq!(event_bytes(br#"{"a":"b\\"}"#, false), 16);
        assert_eq!(MAX_BODY_BYTES, 6_225_920);
        // 150,000 UUIDs written compactly: 5.85 MB as sent, 6.15 MB in the event: they fit.
        let ids: Vec<String> = (0..150_000).map(|_| uuid::Uuid::new_v4().to_string()).collect();
        let body = serde_json::to_vec(&serde_json::json!({"command": "Reset", "charger_ids": ids})).unwrap();
        assert!(event_bytes(&body, true) > 6_000_000 && json_body(&body, &json).is_ok(), "150,000 ids fit");
        // Sent without a JSON content type, the same body is base64 in the event: 7.8 MB, refused.
        for headers in [HeaderMap::new(), sent_as("application/x-www-form-urlencoded")] {
            assert_eq!(json_body(&body, &headers).unwrap_err().status_code(), 413);
        }
        // The same ids with a space after each comma (Python's json.dumps by default): 6.30 MB in the
        // event, refused, naming the limit.
        let spaced = String::from_utf8(body).unwrap().replace("\",\"", "\", \"");
        assert!(spaced.len() < MAX_BODY_BYTES && event_bytes(spaced.as_bytes(), true) > MAX_BODY_BYTES);
        let refused = json_body(spaced.as_bytes(), &json).unwrap_err();
        assert_eq!(refused.status_code(), 413);
        assert!(refused.to_string().contains("6,225,920 bytes"), "{refused}");
    }

    #[test]
    fn text_is_what_an_http_api_passes_as_text() {
        for text in ["application/json", "Application/JSON; charset=utf-8", "text/plain", "application/xml"] {
            assert!(passed_as_text(&sent_as(text)), "{text}");
        }
        for binary in ["application/octet-stream", "application/x-www-form-urlencoded", "application/problem+json"] {
            assert!(!passed_as_text(&sent_as(binary)), "{binary}");
        }
        assert!(!passed_as_text(&HeaderMap::new()));
    }
}
