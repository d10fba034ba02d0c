//! Logging set-up, once per process: JSON lines on Lambda, readable text locally.
//! Handlers log with `run`, `charger` and `identity` fields; secrets are never logged.

use tracing_subscriber::EnvFilter;

/// `json`: one JSON object per line (CloudWatch). The level comes from `RUST_LOG`, else `default_level`.
pub fn init(json: bool, default_level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = if json {
        builder.json().flatten_event(true).with_current_span(false).without_time().try_init()
    } else {
        builder.compact().try_init()
    };
}

/// Log lines about what one connection sent, per minute. A charger (or anyone holding a
/// connection) can send frames as fast as the network carries them; the logs must not follow.
pub const LOG_LINES_PER_CONNECTION_PER_MINUTE: u32 = 20;
/// Connections tracked at once; beyond, lines from connections not yet tracked are muted.
const TRACKED_CONNECTIONS: usize = 10_000;

/// Per-connection budgets for log lines, in this process (a warm Lambda instance, or `serve`).
static BUDGETS: std::sync::LazyLock<crate::window::WindowCounts> =
    std::sync::LazyLock::new(|| crate::window::WindowCounts::new(TRACKED_CONNECTIONS));

/// Whether a log line about `connection` may be written now: the first
/// `LOG_LINES_PER_CONNECTION_PER_MINUTE` of each minute may, and the first one past them writes
/// (here) that the connection is muted until the minute ends.
pub fn connection_may_log(connection: &str) -> bool {
    let minute = chrono::Utc::now().timestamp().div_euclid(60);
    let Some(lines) = BUDGETS.hit(connection, minute) else {
        return false; // as many connections as it tracks logged this minute: the rest are muted
    };
    let limit = u64::from(LOG_LINES_PER_CONNECTION_PER_MINUTE);
    if lines == limit + 1 {
        tracing::warn!(
            limit = LOG_LINES_PER_CONNECTION_PER_MINUTE,
            "a connection logs too much: its lines are muted for the rest of the minute"
        );
    }
    lines <= limit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_logs_a_bounded_number_of_lines_a_minute() {
        let (noisy, quiet) = (uuid::Uuid::new_v4().to_string(), uuid::Uuid::new_v4().to_string());
        let allowed = (0..1_000).filter(|_| connection_may_log(&noisy)).count();
        // At most one minute boundary can pass during the loop.
        assert!((LOG_LINES_PER_CONNECTION_PER_MINUTE as usize..=2 * LOG_LINES_PER_CONNECTION_PER_MINUTE as usize)
            .contains(&allowed));
        assert!(connection_may_log(&quiet), "another connection has its own budget");
    }
}
