//! A run's webhook as the run keeps it: where, what for, and how its completion event fares. The
//! delivery itself (events, signatures, retries) is `crate::webhook`'s.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A run's webhook: where, what for, and how its completion event fares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    pub url: String,
    /// Also an event at each tenth of the run's progress (one attempt each).
    pub progress: bool,
    pub state: WebhookState,
    /// Attempts of the completion event so far.
    pub attempts: u32,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// The last tenth of progress an event was sent for (0: none).
    pub progress_sent: u8,
}

impl Webhook {
    pub fn new(url: String, progress: bool) -> Webhook {
        Webhook {
            url,
            progress,
            state: WebhookState::Pending,
            attempts: 0,
            last_status: None,
            last_error: None,
            last_attempt_at: None,
            delivered_at: None,
            progress_sent: 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookState {
    /// The run is running, or its completion event is still being tried.
    Pending,
    Delivered,
    /// Not delivered within `webhook::RETRY_FOR`.
    Failed,
}

impl WebhookState {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookState::Pending => "pending",
            WebhookState::Delivered => "delivered",
            WebhookState::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<WebhookState> {
        [WebhookState::Pending, WebhookState::Delivered, WebhookState::Failed].into_iter().find(|s| s.as_str() == text)
    }
}

/// What an attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptOutcome {
    pub at: DateTime<Utc>,
    /// The receiver's HTTP status, when it answered.
    pub status: Option<u16>,
    /// Why it failed, when it did (bounded to `webhook::MAX_ERROR_BYTES`).
    pub error: Option<String>,
    /// The state the webhook is in after it.
    pub state: WebhookState,
}
