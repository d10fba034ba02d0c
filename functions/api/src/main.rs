//! The api Lambda: `lambda_http` in front of `api::router`, AWS adapters built once.

use lambda_http::{run_concurrent, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init(true, "info");
    let router = api::router(api::ApiContext::from_env().await?);
    run_concurrent(service_fn(move |request| {
        let router = router.clone();
        async move { Ok::<_, Error>(api::on_lambda(router, request).await) }
    }))
    .await
}
