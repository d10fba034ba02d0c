//! The worker Lambda: SQS batches (ReportBatchItemFailures) to `worker::handle`, AWS adapters built once.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{run_concurrent, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init(true, "info");
    let ctx = worker::WorkerContext::from_env().await?;
    run_concurrent(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let ctx = ctx.clone();
        async move {
            // The invocation's deadline (epoch milliseconds), on the runtime's clock.
            let now = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0);
            let left = event.context.deadline.saturating_sub(now);
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(left);
            Ok::<_, Error>(worker::handle_within(&ctx, event.payload, Some(deadline)).await)
        }
    }))
    .await
}
