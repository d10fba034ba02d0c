//! The api Lambda: `lambda_http` in front of `api::service`, AWS adapters built once.

use lambda_http::{run_concurrent, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init(true, "info");
    let service = api::service(api::ApiContext::from_env().await?);
    run_concurrent(service_fn(move |request| {
        let service = service.clone();
        async move { Ok::<_, Error>(api::on_lambda(service, request).await) }
    }))
    .await
}
