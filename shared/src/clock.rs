//! Time as ocpp-bulk writes it: RFC 3339, UTC, milliseconds.

use chrono::{DateTime, SecondsFormat, Utc};

pub fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}
