//! The websocket Lambda: API Gateway WebSocket events to `websocket::handle`, AWS adapters built once.

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use lambda_runtime::{run_concurrent, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init(true, "info");
    let ctx = websocket::WebsocketContext::from_env().await?;
    run_concurrent(service_fn(move |event: LambdaEvent<ApiGatewayWebsocketProxyRequest>| {
        let ctx = ctx.clone();
        async move { Ok::<_, Error>(websocket::handle(&ctx, event.payload).await) }
    }))
    .await
}
