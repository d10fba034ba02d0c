//! Rates: a user's requests a minute (`RateLimiter`, the API's), and the CALLs the whole stack
//! sends a second (`DispatchBudget`, the worker's).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::Result;

/// One request counted against a user's rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    pub limit: u32,
    pub remaining: u32,
    /// Set when the limit is exceeded: seconds until the window resets.
    pub retry_after_seconds: Option<u64>,
}

impl RateDecision {
    /// The decision for the `hits`th request of a fixed one-minute window at `now`.
    pub fn for_hits(limit: u32, hits: u64, now: DateTime<Utc>) -> RateDecision {
        let remaining = u64::from(limit).saturating_sub(hits);
        let exceeded = hits > u64::from(limit);
        RateDecision {
            limit,
            remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
            retry_after_seconds: exceeded.then(|| 60 - now.timestamp().rem_euclid(60) as u64),
        }
    }

    /// The fixed one-minute window `now` falls in.
    pub fn window(now: DateTime<Utc>) -> i64 {
        now.timestamp().div_euclid(60)
    }
}

#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Counts one request of `user` in the current minute.
    async fn hit(&self, user: &str, limit: u32, now: DateTime<Utc>) -> Result<RateDecision>;
}

/// The stack-wide cap on CALLs sent a second, shared by every worker invocation: what API Gateway's
/// account-wide request rate and the WebSocket `$default` route's throttle leave room for
/// (docs/data-model.md, "What AWS enforces": the route's arithmetic). One counter per second.
#[async_trait]
pub trait DispatchBudget: Send + Sync {
    /// Takes up to `calls` of the `limit` CALLs of the second `second` (Unix seconds): how many it
    /// took, all of them when they fit, else what was left of the second's (0 when nothing was).
    async fn take(&self, second: i64, calls: u32, limit: u32) -> Result<u32>;
}
