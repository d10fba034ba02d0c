//! The api Lambda: `lambda_http` in front of `api::handle`, AWS adapters built once.

use lambda_http::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init(true, "info");
    let ctx = api::ApiContext::from_env().await?;
    run(service_fn(|request| async { Ok::<_, Error>(api::handle(&ctx, request).await) })).await
}
