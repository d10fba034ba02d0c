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
