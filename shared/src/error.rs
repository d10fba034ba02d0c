//! The one error type of ocpp-bulk, and its single mapping to what each side sees:
//! an HTTP status and JSON body for API clients, a retry decision for the dispatch queue.
//! Details stay in logs; bodies carry only what the client may know.

use std::collections::BTreeMap;

/// Per-field validation messages, keyed by dotted path (`data.type`, `charger_ids`).
pub type FieldErrors = BTreeMap<String, Vec<String>>;

/// At most this many field errors are reported; the others are counted, not kept, so a body full of
/// mistakes costs a bounded answer and bounded memory.
pub const MAX_REPORTED_ERRORS: usize = 100;

/// Collects field errors up to `MAX_REPORTED_ERRORS`, counting the rest.
#[derive(Debug, Default)]
pub struct ErrorCollector {
    errors: FieldErrors,
    reported: usize,
    more: usize,
}

impl ErrorCollector {
    pub fn add(&mut self, field: &str, message: String) {
        if self.reported < MAX_REPORTED_ERRORS {
            self.errors.entry(field.to_owned()).or_default().push(message);
            self.reported += 1;
        } else {
            self.more += 1;
        }
    }

    /// Counts `count` errors that were not even looked at (beyond the cap).
    pub fn count_more(&mut self, count: usize) {
        self.more += count;
    }

    /// Adds another collection (a schema's), its own count of unreported errors included.
    pub fn absorb(&mut self, other: ErrorCollector) {
        for (field, messages) in other.errors {
            for message in messages {
                self.add(&field, message);
            }
        }
        self.more += other.more;
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty() && self.more == 0
    }

    /// How many errors were added so far (reported or counted).
    pub fn len(&self) -> usize {
        self.reported + self.more
    }

    /// Whether `field` has an error.
    pub fn has(&self, field: &str) -> bool {
        self.errors.contains_key(field)
    }

    /// The reported errors, by field.
    pub fn fields(&self) -> &FieldErrors {
        &self.errors
    }

    /// How many errors were counted beyond the reported ones.
    pub fn more(&self) -> usize {
        self.more
    }

    /// The first reported message, in field order.
    pub fn first_message(&self) -> Option<&str> {
        self.errors.values().flatten().next().map(String::as_str)
    }

    /// The 422, if anything was collected.
    pub fn into_error(self) -> Option<Error> {
        Error::from_fields_and_more(self.errors, self.more)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Unauthenticated.")]
    Unauthenticated,
    #[error("Not found.")]
    NotFound,
    /// 422: the first message is the summary, `errors` carries every field's messages.
    #[error("{message}")]
    Validation { message: String, errors: FieldErrors },
    /// 409: an Idempotency-Key whose first request is still being processed.
    #[error("A request with this Idempotency-Key is still being processed.")]
    Conflict,
    /// 409: the run's state does not allow the request (a resume of a run not paused).
    #[error("{0}")]
    InState(String),
    #[error(
        "The request body is too large: at most 6,225,920 bytes as the API passes it on (every quote counted twice; \
         4 bytes for 3 unless sent as application/json), about 150,000 charger UUIDs written without spaces; \
         send more chargers as several runs, or name them by target."
    )]
    PayloadTooLarge,
    #[error("Too Many Attempts.")]
    TooManyAttempts { retry_after_seconds: u64 },
    /// A backing service failed in a way that may pass (throttling, a network fault): retry.
    #[error("transient failure in {service}: {detail}")]
    Transient { service: &'static str, detail: String },
    /// A backing service failed for good, or an invariant broke: do not retry.
    #[error("internal failure in {service}: {detail}")]
    Internal { service: &'static str, detail: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A 422 for one field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        let message = message.into();
        let mut errors = FieldErrors::new();
        errors.insert(field.into(), vec![message.clone()]);
        Error::Validation { message, errors }
    }

    /// A 422 from many field errors; `None` when there are none.
    pub fn from_fields(errors: FieldErrors) -> Option<Self> {
        Self::from_fields_and_more(errors, 0)
    }

    /// A 422 from field errors and a count of errors not reported (beyond `MAX_REPORTED_ERRORS`).
    pub fn from_fields_and_more(errors: FieldErrors, more: usize) -> Option<Self> {
        let message = errors.values().flatten().next()?.clone();
        let extra = errors.values().map(Vec::len).sum::<usize>() - 1 + more;
        let message = match extra {
            0 => message,
            1 => format!("{message} (and 1 more error)"),
            n => format!("{message} (and {n} more errors)"),
        };
        Some(Error::Validation { message, errors })
    }

    pub fn internal(service: &'static str, detail: impl std::fmt::Display) -> Self {
        Error::Internal { service, detail: detail.to_string() }
    }

    pub fn transient(service: &'static str, detail: impl std::fmt::Display) -> Self {
        Error::Transient { service, detail: detail.to_string() }
    }

    pub fn status_code(&self) -> u16 {
        match self {
            Error::Unauthenticated => 401,
            Error::NotFound => 404,
            Error::Conflict | Error::InState(_) => 409,
            Error::Validation { .. } => 422,
            Error::PayloadTooLarge => 413,
            Error::TooManyAttempts { .. } => 429,
            Error::Transient { .. } | Error::Internal { .. } => 500,
        }
    }

    /// Whether the queue should deliver the message again.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Transient { .. })
    }

    /// The JSON body a client sees. Server-side failures never show their detail.
    pub fn body(&self) -> serde_json::Value {
        match self {
            Error::Validation { message, errors } => {
                serde_json::json!({ "message": message, "errors": errors })
            }
            Error::Transient { .. } | Error::Internal { .. } => {
                serde_json::json!({ "message": "Server Error." })
            }
            other => serde_json::json!({ "message": other.to_string() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_hide_their_detail() {
        let err = Error::internal("dynamodb", "table arn:aws:secret missing");
        assert_eq!(err.status_code(), 500);
        assert_eq!(err.body(), serde_json::json!({"message": "Server Error."}));
        assert!(!err.is_retryable());
        assert!(Error::transient("sqs", "throttled").is_retryable());
    }

    #[test]
    fn validation_summarises_the_first_error() {
        let mut fields = FieldErrors::new();
        fields.insert("command".into(), vec!["The command field is required.".into()]);
        fields.insert("charger_ids".into(), vec!["a".into(), "b".into()]);
        let err = Error::from_fields(fields).expect("has errors");
        assert_eq!(err.status_code(), 422);
        let body = err.body();
        assert_eq!(body["message"], "a (and 2 more errors)");
        assert_eq!(body["errors"]["command"][0], "The command field is required.");
        assert!(Error::from_fields(FieldErrors::new()).is_none());
    }
}
