//! The one mapping from SDK failures to ocpp-bulk's error: throttling, timeouts and network faults
//! are transient (the queue retries them); everything else is internal. Detail goes to logs only.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

use crate::error::Error;

const TRANSIENT_CODES: [&str; 8] = [
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
    "RequestThrottled",
    "AWS.SimpleQueueService.RequestThrottled",
];

pub fn sdk_error<E, R>(service: &'static str, err: SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let transient = match &err {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => true,
        SdkError::ServiceError(service_err) => {
            service_err.err().code().is_some_and(|code| TRANSIENT_CODES.contains(&code))
        }
        _ => false,
    };
    let detail = match err.code() {
        Some(code) => format!("{code}: {}", err.message().unwrap_or_default()),
        None => format!("{}", aws_smithy_types::error::display::DisplayErrorContext(&err)),
    };
    if transient {
        Error::transient(service, detail)
    } else {
        Error::internal(service, detail)
    }
}

/// Whether a failed conditional write failed only because its condition did not hold.
pub fn is_condition_failure<E, R>(err: &SdkError<E, R>) -> bool
where
    E: ProvideErrorMetadata,
{
    err.code() == Some("ConditionalCheckFailedException")
}

/// The outcome of a conditional write: `true` when it was applied, `false` when its condition did
/// not hold (a duplicate, a race lost, a late answer), an error otherwise.
pub fn applied<T, E, R>(result: Result<T, SdkError<E, R>>) -> Result<bool, Error>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match result {
        Ok(_) => Ok(true),
        Err(err) if is_condition_failure(&err) => Ok(false),
        Err(err) => Err(sdk_error("dynamodb", err)),
    }
}
