//! Every limit of the public port in one place: how many connections, how long a request's headers
//! may take, and what a charger's WebSocket may send and for how long.

use std::time::Duration;

/// The public port's limits. Those of a charger's WebSocket default to API Gateway's quotas, so a
/// charger meets the same limits here as on AWS: a frame of at most 32 KB and a message of at most
/// 128 KB (larger closes the connection with 1009), 10 minutes idle, 2 hours in all.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Open connections (HTTP and WebSocket) at once; one more is answered 503 and closed.
    pub max_connections: usize,
    /// From a connection's accept, or the end of its last response, to a request's complete
    /// headers: an idle keep-alive connection or a slow sender is closed after this long.
    pub header_read_timeout: Duration,
    /// From a request's headers to the end of its body: a slower body gets a 408.
    pub body_read_timeout: Duration,
    /// How long a write may wait for a peer that does not read (an HTTP client, a charger) before
    /// the connection is dropped.
    pub write_stall_timeout: Duration,
    pub max_frame_bytes: usize,
    pub max_message_bytes: usize,
    /// Closed when no frame came from the charger for this long.
    pub idle: Duration,
    /// Closed when it has been open this long.
    pub max_duration: Duration,
    /// How long a Close we sent waits for the charger's before the connection is dropped.
    pub close_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: connections_the_process_can_open(),
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            write_stall_timeout: Duration::from_secs(30),
            max_frame_bytes: 32 * 1024,
            max_message_bytes: 128 * 1024,
            idle: Duration::from_secs(10 * 60),
            max_duration: Duration::from_secs(2 * 60 * 60),
            close_timeout: Duration::from_secs(5),
        }
    }
}

/// Open files left for connections: the soft open-file limit (raised to the hard one at start, see
/// `main.rs`) less a reserve for the process's own files and outgoing connections (SDK clients).
fn connections_the_process_can_open() -> usize {
    const RESERVE: u64 = 512;
    let soft = rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1_024, |(soft, _)| soft);
    usize::try_from(soft.saturating_sub(RESERVE).max(64)).unwrap_or(usize::MAX)
}
