//! What a dispatch checks of its run before a CALL: the run's gate (`RunStore::gate`).

use chrono::{DateTime, Utc};

/// What a dispatch checks of its run before a CALL (`RunStore::gate`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gate {
    pub cancelled_at: Option<DateTime<Utc>>,
    /// Why it was cancelled, when not by a request (`RunStore::cancel`).
    pub reason: Option<String>,
    /// New CALLs wait: the run is paused, or its rollout is outside its window.
    pub held: bool,
}

impl Gate {
    /// Whether new CALLs (and a charger's TriggerMessage) wait: held, and not cancelled (a cancelled
    /// run holds nothing any more: what it did not send ends).
    pub fn holds_calls(&self) -> bool {
        self.held && self.cancelled_at.is_none()
    }
}
