//! `$connect`: who is this charger, which OCPP version does it speak, is its password right.

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use shared::domain::access::password_matches;
use shared::domain::Charger;
use shared::ocpp::OcppVersion;

/// Why a handshake is refused, with the HTTP status the charger sees.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No identity in the URL.
    NoIdentity,
    /// The charger offered neither `ocpp1.6` nor `ocpp2.0.1`.
    NoSubprotocol,
    UnknownCharger,
    BadCredentials,
}

impl Refusal {
    pub fn status(&self) -> i64 {
        match self {
            Refusal::NoIdentity | Refusal::NoSubprotocol => 400,
            Refusal::UnknownCharger => 404,
            Refusal::BadCredentials => 401,
        }
    }
}

/// The identity from `?identity=` (API Gateway) or the last segment of `/ocpp/{identity}`.
pub fn identity(event: &ApiGatewayWebsocketProxyRequest) -> Result<String, Refusal> {
    let from_query = event.query_string_parameters.first("identity").map(str::to_owned);
    let from_path = || {
        let path = event.path.as_deref()?;
        let (_, last) = path.trim_end_matches('/').rsplit_once('/')?;
        (!last.is_empty() && last != "ocpp").then(|| last.to_owned())
    };
    from_query.filter(|id| !id.is_empty()).or_else(from_path).ok_or(Refusal::NoIdentity)
}

/// The version the handshake's `Sec-WebSocket-Protocol` offers select (`OcppVersion::negotiate`).
pub fn negotiate(headers: &http::HeaderMap) -> Option<OcppVersion> {
    OcppVersion::negotiate(headers.get_all("sec-websocket-protocol").iter().filter_map(|v| v.to_str().ok()))
}

/// OCPP 1.6 security profile 1: HTTP Basic `identity:password` when the charger has a password.
/// A charger without one connects unauthenticated (profile 0), unless `require` refuses it.
pub fn check_password(
    event: &ApiGatewayWebsocketProxyRequest,
    charger: &Charger,
    require: bool,
) -> Result<(), Refusal> {
    let Some(stored) = charger.password_hash.as_deref() else {
        return if require { Err(Refusal::BadCredentials) } else { Ok(()) };
    };
    let header = event.headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let (scheme, encoded) = header.trim().split_once(' ').unwrap_or_default();
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(Refusal::BadCredentials);
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| Refusal::BadCredentials)?;
    let decoded = String::from_utf8(decoded).map_err(|_| Refusal::BadCredentials)?;
    match decoded.split_once(':') {
        Some((user, password)) if user == charger.identity && password_matches(stored, password) => Ok(()),
        _ => Err(Refusal::BadCredentials),
    }
}
