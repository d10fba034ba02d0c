//! The api Lambda: `lambda_http` in front of `api::handle`, AWS adapters built once.

use lambda_http::{run_concurrent, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init(true, "info");
    let ctx = api::ApiContext::from_env().await?;
    run_concurrent(service_fn(move |request| {
        let ctx = ctx.clone();
        async move { Ok::<_, Error>(api::handle(&ctx, request).await) }
    }))
    .await
}
