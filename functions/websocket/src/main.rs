//! The websocket Lambda: API Gateway WebSocket events to `websocket::handle`, and the `$connect`
//! route's authorizer requests to `websocket::authorizer` (one function serves both); AWS adapters
//! built once.

use aws_lambda_events::apigw::{ApiGatewayCustomAuthorizerRequestTypeRequest, ApiGatewayWebsocketProxyRequest};
use lambda_runtime::{run_concurrent, service_fn, Error, LambdaEvent};
use serde_json::Value;
use websocket::authorizer;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init(true, "info");
    let ctx = websocket::WebsocketContext::from_env().await?;
    run_concurrent(service_fn(move |event: LambdaEvent<Value>| {
        let ctx = ctx.clone();
        async move {
            if authorizer::is_authorizer_request(&event.payload) {
                let request: ApiGatewayCustomAuthorizerRequestTypeRequest = serde_json::from_value(event.payload)?;
                return Ok::<_, Error>(serde_json::to_value(authorizer::authorize(&request))?);
            }
            let request: ApiGatewayWebsocketProxyRequest = serde_json::from_value(event.payload)?;
            Ok(serde_json::to_value(websocket::handle(&ctx, request).await)?)
        }
    }))
    .await
}
