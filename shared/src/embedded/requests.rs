//! The API's request bookkeeping in memory: `Idempotency-Key` claims and per-user rate counters;
//! and the worker's stack-wide budget of CALLs a second.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::store::MemoryStore;
use crate::error::Result;
use crate::ports::{DispatchBudget, IdempotencyClaim, IdempotencyKeys, RateDecision, RateLimiter};
use crate::sync::locked;

#[async_trait]
impl IdempotencyKeys for MemoryStore {
    async fn claim(
        &self,
        user: &str,
        key: &str,
        fingerprint: &str,
        run: Uuid,
        expires_at: DateTime<Utc>,
    ) -> Result<IdempotencyClaim> {
        let mut keys = locked(&self.idempotency);
        let id = (user.to_owned(), key.to_owned());
        match keys.get(&id) {
            Some((existing, print, expiry)) if *expiry > Utc::now() => {
                Ok(IdempotencyClaim::Existing { run: *existing, fingerprint: print.clone(), expires_at: *expiry })
            }
            _ => {
                keys.insert(id, (run, fingerprint.to_owned(), expires_at));
                Ok(IdempotencyClaim::Claimed)
            }
        }
    }

    async fn forget(&self, user: &str, key: &str, run: Uuid) -> Result<()> {
        let mut keys = locked(&self.idempotency);
        let id = (user.to_owned(), key.to_owned());
        if keys.get(&id).is_some_and(|(existing, _, _)| *existing == run) {
            keys.remove(&id);
        }
        Ok(())
    }
}

#[async_trait]
impl RateLimiter for MemoryStore {
    async fn hit(&self, user: &str, limit: u32, now: DateTime<Utc>) -> Result<RateDecision> {
        // With no room left (this minute's keys fill it), a hit counts as over the limit.
        let hits = self.rate.hit(user, RateDecision::window(now)).unwrap_or(u64::MAX);
        Ok(RateDecision::for_hits(limit, hits, now))
    }
}

#[async_trait]
impl DispatchBudget for MemoryStore {
    async fn take(&self, second: i64, calls: u32, limit: u32) -> Result<u32> {
        let taken = self.pace.take("dispatch", second, u64::from(calls), u64::from(limit));
        Ok(u32::try_from(taken).unwrap_or(calls))
    }
}
