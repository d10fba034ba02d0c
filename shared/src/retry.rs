//! Bounded retries with full jitter: the one backoff rule of ocpp-bulk. A wait before attempt
//! `k` is drawn uniformly from `[0, min(cap, base * 2^k)]` (AWS's "full jitter"), so racing
//! writers that collided once spread out instead of colliding again in lockstep.
//!
//! The SDK retries throttling and 5xx answers itself (docs/data-model.md, "Failure modes"); what it
//! does not retry, a cancelled transaction's `TransactionConflict` above all, the adapters retry
//! here, and what still fails after these attempts is handed off durably by the caller.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::error::{Error, Result};

/// How many times, and how long to wait between.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub attempts: u32,
    pub base: Duration,
    pub cap: Duration,
}

impl Backoff {
    /// For a conditional write on a contended item: under a second of waiting in all, so a
    /// WebSocket invocation hands an answer off well within `ANSWER_GRACE_SECONDS`.
    pub const WRITE: Backoff =
        Backoff { attempts: 8, base: Duration::from_millis(10), cap: Duration::from_millis(250) };
    /// For the unprocessed part of a batch call.
    pub const BATCH: Backoff = Backoff { attempts: 10, base: Duration::from_millis(25), cap: Duration::from_secs(2) };

    /// The wait after failed attempt `attempt` (0-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self.base.saturating_mul(1u32 << attempt.min(16)).min(self.cap);
        ceiling.mul_f64(fastrand::f64())
    }

    pub async fn wait(&self, attempt: u32) {
        RETRIES.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(self.delay(attempt)).await;
    }

    /// Runs `op` until it succeeds, fails with a non-retryable error, or the attempts run out
    /// (the last error is returned).
    pub async fn run<T, F, Fut>(&self, mut op: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut attempt = 0;
        loop {
            match op().await {
                Err(err) if err.is_retryable() && attempt + 1 < self.attempts => {
                    tracing::debug!(error = %err, attempt, "retrying");
                    self.wait(attempt).await;
                    attempt += 1;
                }
                done => return done,
            }
        }
    }
}

static RETRIES: AtomicU64 = AtomicU64::new(0);
static HANDOFFS: AtomicU64 = AtomicU64::new(0);

/// What absorbed faults in this process so far: retries made by `Backoff`, and answers handed off
/// to the queue because their write kept failing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Absorbed {
    pub retries: u64,
    pub handoffs: u64,
}

pub fn absorbed() -> Absorbed {
    Absorbed { retries: RETRIES.load(Ordering::Relaxed), handoffs: HANDOFFS.load(Ordering::Relaxed) }
}

/// Counts one durable hand-off.
pub fn count_handoff() {
    HANDOFFS.fetch_add(1, Ordering::Relaxed);
}

/// A transient error for `service` once the attempts ran out.
pub fn exhausted(service: &'static str, what: impl std::fmt::Display, backoff: &Backoff) -> Error {
    Error::transient(service, format!("{what} after {} attempts", backoff.attempts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_stay_under_the_growing_ceiling() {
        let backoff = Backoff { attempts: 5, base: Duration::from_millis(10), cap: Duration::from_millis(50) };
        for attempt in 0..10 {
            let ceiling = Duration::from_millis(10 * (1 << attempt)).min(Duration::from_millis(50));
            for _ in 0..50 {
                assert!(backoff.delay(attempt) <= ceiling);
            }
        }
    }

    #[tokio::test]
    async fn retries_transient_errors_only_and_boundedly() {
        let fast = Backoff { attempts: 3, base: Duration::from_millis(1), cap: Duration::from_millis(1) };
        let mut calls = 0;
        let out: Result<()> = fast
            .run(|| {
                calls += 1;
                async { Err(Error::transient("dynamodb", "conflict")) }
            })
            .await;
        assert!(out.is_err());
        assert_eq!(calls, 3);

        let mut calls = 0;
        let out: Result<()> = fast
            .run(|| {
                calls += 1;
                async { Err(Error::internal("dynamodb", "bad")) }
            })
            .await;
        assert!(out.is_err());
        assert_eq!(calls, 1, "a final error is not retried");

        let mut calls = 0;
        let out = fast
            .run(|| {
                calls += 1;
                let ok = calls == 2;
                async move {
                    if ok {
                        Ok(7)
                    } else {
                        Err(Error::transient("sqs", "500"))
                    }
                }
            })
            .await;
        assert_eq!(out.unwrap(), 7);
    }
}
