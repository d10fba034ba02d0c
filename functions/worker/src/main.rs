//! The worker Lambda: SQS batches (ReportBatchItemFailures) to `worker::handle`, AWS adapters built once.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{run_concurrent, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init(true, "info");
    let ctx = worker::WorkerContext::from_env().await?;
    run_concurrent(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let ctx = ctx.clone();
        async move { Ok::<_, Error>(worker::handle(&ctx, event.payload).await) }
    }))
    .await
}
