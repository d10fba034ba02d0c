//! The `$connect` route's REQUEST authorizer, run by the websocket function itself (template:
//! `ChargerAuthorizer`). It decides nothing: it names the charger (`identity`, from the URL) in the
//! context API Gateway hands to every later event of the connection, with the OCPP version its
//! subprotocol offer selects (`ocpp`), so a frame needs no lookup of its connection. `$connect` still checks the charger, its subprotocol and its password, and
//! refuses with its own status; a connection it refuses has no later events.

use aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerPolicy, ApiGatewayCustomAuthorizerRequestTypeRequest, ApiGatewayCustomAuthorizerResponse,
    ApiGatewayWebsocketProxyRequest,
};
use aws_lambda_events::iam::{IamPolicyEffect, IamPolicyStatement};
use serde_json::{json, Value};
use shared::ocpp::OcppVersion;

/// The context key that carries the charger's identity.
pub const IDENTITY: &str = "identity";
/// The context key that carries the connection's OCPP version (its subprotocol).
pub const VERSION: &str = "ocpp";

/// Whether a Lambda event is an authorizer's request (the websocket function serves both).
pub fn is_authorizer_request(event: &Value) -> bool {
    event.get("type").and_then(Value::as_str) == Some("REQUEST") && event.get("methodArn").is_some()
}

/// Allows the `$connect`, with the identity the URL names (empty when it names none).
pub fn authorize(request: &ApiGatewayCustomAuthorizerRequestTypeRequest) -> ApiGatewayCustomAuthorizerResponse {
    let identity = request.query_string_parameters.first(IDENTITY).unwrap_or_default().to_owned();
    let mut statement = IamPolicyStatement::default();
    statement.action = vec!["execute-api:Invoke".to_owned()];
    statement.effect = IamPolicyEffect::Allow;
    statement.resource = request.method_arn.clone().into_iter().collect();
    let mut policy = ApiGatewayCustomAuthorizerPolicy::default();
    policy.version = Some("2012-10-17".to_owned());
    policy.statement = vec![statement];
    let mut response = ApiGatewayCustomAuthorizerResponse::default();
    response.principal_id = Some(if identity.is_empty() { "anonymous".to_owned() } else { identity.clone() });
    response.policy_document = policy;
    let version = crate::connect::negotiate(&request.headers).map_or("", OcppVersion::subprotocol);
    response.context = json!({ IDENTITY: identity, VERSION: version });
    response
}

/// The identity the authorizer put in a connection's events (`None` for a connection opened
/// without it, e.g. before the authorizer was deployed: then the registry is asked).
pub fn identity_of(event: &ApiGatewayWebsocketProxyRequest) -> Option<&str> {
    event
        .request_context
        .authorizer
        .fields
        .get(IDENTITY)
        .and_then(Value::as_str)
        .filter(|identity| !identity.is_empty())
}

/// The version the authorizer put in a connection's events (`None` for a connection opened
/// without it: then the registry is asked).
pub fn version_of(event: &ApiGatewayWebsocketProxyRequest) -> Option<OcppVersion> {
    event.request_context.authorizer.fields.get(VERSION).and_then(Value::as_str).and_then(OcppVersion::from_subprotocol)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_context_names_the_charger_of_the_url() {
        let request: ApiGatewayCustomAuthorizerRequestTypeRequest = serde_json::from_value(json!({
            "type": "REQUEST",
            "methodArn": "arn:aws:execute-api:us-east-1:123456789012:abc/prod/$connect",
            "queryStringParameters": {"identity": "CP-1"},
            "headers": {"sec-websocket-protocol": "ocpp2.0.1, ocpp1.6"},
            "requestContext": {}
        }))
        .unwrap();
        let answer = serde_json::to_value(authorize(&request)).unwrap();
        assert_eq!(answer["context"]["identity"], "CP-1");
        assert_eq!(answer["context"]["ocpp"], "ocpp2.0.1");
        assert_eq!(answer["policyDocument"]["Statement"][0]["Effect"], "Allow");
        assert!(is_authorizer_request(&json!({"type": "REQUEST", "methodArn": "x"})));
        assert!(!is_authorizer_request(&json!({"requestContext": {"eventType": "MESSAGE"}})));
    }
}
