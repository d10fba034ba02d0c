//! The one mapping from SDK failures to ocpp-bulk's error: throttling, timeouts and network faults
//! are transient (the queue retries them); everything else is internal. Detail goes to logs only.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

use crate::error::Error;

const TRANSIENT_CODES: [&str; 10] = [
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
    "RequestThrottled",
    "AWS.SimpleQueueService.RequestThrottled",
    "LimitExceededException",
    // A repeat of a TransactWriteItems (same ClientRequestToken) while the first is still running.
    "TransactionInProgressException",
];

/// Cancellation reasons of a TransactWriteItems that say "try again": another transaction held an
/// item, or capacity ran out. A `ConditionalCheckFailed` is a final answer.
const RETRYABLE_CANCELLATIONS: [&str; 3] = ["TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"];

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

/// Which items of a cancelled TransactWriteItems failed their condition (`Some` at their index,
/// with the item as it stood when it was asked for with `ReturnValuesOnConditionCheckFailure`),
/// when conditions are all that failed; conflicts and throttling are transient errors.
pub fn failed_conditions<R: std::fmt::Debug>(
    err: SdkError<aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError, R>,
) -> Result<Vec<Option<super::item::Item>>, Error> {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) = err.as_service_error() else {
        return Err(sdk_error("dynamodb", err));
    };
    let reasons = cancelled.cancellation_reasons();
    let codes: Vec<&str> = reasons.iter().map(|r| r.code().unwrap_or("None")).collect();
    if codes.iter().all(|code| *code == "None" || *code == "ConditionalCheckFailed")
        && codes.contains(&"ConditionalCheckFailed")
    {
        return Ok(reasons
            .iter()
            .map(|r| (r.code() == Some("ConditionalCheckFailed")).then(|| r.item().cloned().unwrap_or_default()))
            .collect());
    }
    let detail = format!("transaction cancelled: {codes:?}");
    if codes.iter().any(|code| RETRYABLE_CANCELLATIONS.contains(code)) {
        Err(Error::transient("dynamodb", detail))
    } else {
        Err(Error::internal("dynamodb", detail))
    }
}

/// A single-item write's error that may be its condition failing, with the item as it stood when
/// the write asked for it (`ReturnValuesOnConditionCheckFailure::AllOld`).
pub trait Refusal: ProvideErrorMetadata + std::error::Error + 'static {
    /// `Some` when the condition failed (holding the item, if any); `None` for any other error.
    fn refused_item(&self) -> Option<Option<super::item::Item>>;
}

impl Refusal for aws_sdk_dynamodb::operation::update_item::UpdateItemError {
    fn refused_item(&self) -> Option<Option<super::item::Item>> {
        match self {
            Self::ConditionalCheckFailedException(failed) => Some(failed.item().cloned()),
            _ => None,
        }
    }
}

impl Refusal for aws_sdk_dynamodb::operation::put_item::PutItemError {
    fn refused_item(&self) -> Option<Option<super::item::Item>> {
        match self {
            Self::ConditionalCheckFailedException(failed) => Some(failed.item().cloned()),
            _ => None,
        }
    }
}

/// Like `applied`, for a write sent with `ReturnValuesOnConditionCheckFailure::AllOld`: a failed
/// condition still counts as applied when the item as it stands is `ours` (a retry of a write
/// whose first attempt was applied but whose answer was lost).
pub fn applied_or<T, E: Refusal, R: std::fmt::Debug>(
    result: Result<T, SdkError<E, R>>,
    ours: impl Fn(&super::item::Item) -> bool,
) -> Result<bool, Error> {
    Ok(match refused(result)? {
        None => true,
        Some(item) => item.as_ref().is_some_and(ours),
    })
}

/// A write sent with `ReturnValuesOnConditionCheckFailure::AllOld`: `None` when applied, `Some`
/// with the item as it stood when its condition refused it; any other failure an error.
pub fn refused<T, E: Refusal, R: std::fmt::Debug>(
    result: Result<T, SdkError<E, R>>,
) -> Result<Option<Option<super::item::Item>>, Error> {
    match result {
        Ok(_) => Ok(None),
        Err(err) => match err.as_service_error().and_then(Refusal::refused_item) {
            Some(item) => Ok(Some(item)),
            None => Err(sdk_error("dynamodb", err)),
        },
    }
}
