//! Run webhooks in process: the same conditional steps as on DynamoDB, under the run's lock.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::store::MemoryStore;
use crate::error::Result;
use crate::ports::{Claim, RunWebhooks, WebhookSecrets};
use crate::sync::locked;
use crate::webhook::{AttemptOutcome, WebhookState};

/// What the store keeps of a run's webhook beside what the run shows.
#[derive(Debug, Default)]
pub struct HookBookkeeping {
    watch: u32,
    watch_lease: Option<DateTime<Utc>>,
    watch_done: u32,
    lease_until: Option<DateTime<Utc>>,
    /// The last attempt whose outcome was recorded.
    recorded: u32,
}

#[async_trait]
impl RunWebhooks for MemoryStore {
    async fn claim_watch(&self, run: Uuid, step: u32, lease_until: DateTime<Utc>) -> Result<Claim> {
        let Some(entry) = self.entry(run) else {
            return Ok(Claim::Done);
        };
        let mut entry = locked(&entry);
        let entry = &mut *entry;
        let hook = &mut entry.hook;
        if (entry.run.webhook.is_none() && entry.run.rollout.is_none()) || hook.watch > step || hook.watch_done >= step
        {
            return Ok(Claim::Done);
        }
        if hook.watch == step && hook.watch_lease.is_some_and(|lease| lease >= Utc::now()) {
            return Ok(Claim::Held);
        }
        hook.watch = step;
        hook.watch_lease = Some(lease_until);
        Ok(Claim::Claimed)
    }

    async fn watch_done(&self, run: Uuid, step: u32) -> Result<()> {
        if let Some(entry) = self.entry(run) {
            let mut entry = locked(&entry);
            if entry.hook.watch == step {
                entry.hook.watch_done = step;
            }
        }
        Ok(())
    }

    async fn progress_sent(&self, run: Uuid, tenth: u8) -> Result<bool> {
        let Some(entry) = self.entry(run) else {
            return Ok(false);
        };
        let mut entry = locked(&entry);
        match entry.run.webhook.as_mut() {
            Some(hook) if hook.progress_sent < tenth => {
                hook.progress_sent = tenth;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn claim_attempt(&self, run: Uuid, attempt: u32, lease_until: DateTime<Utc>) -> Result<Claim> {
        let Some(entry) = self.entry(run) else {
            return Ok(Claim::Done);
        };
        let mut entry = locked(&entry);
        let entry = &mut *entry;
        let Some(hook) = entry.run.webhook.as_mut() else {
            return Ok(Claim::Done);
        };
        let book = &mut entry.hook;
        if hook.state != WebhookState::Pending || book.recorded >= attempt {
            return Ok(Claim::Done);
        }
        if hook.attempts == attempt {
            if book.lease_until.is_some_and(|lease| lease >= Utc::now()) {
                return Ok(Claim::Held);
            }
        } else if hook.attempts + 1 != attempt {
            return Ok(Claim::Done);
        }
        hook.attempts = attempt;
        book.lease_until = Some(lease_until);
        Ok(Claim::Claimed)
    }

    async fn record_attempt(&self, run: Uuid, attempt: u32, outcome: &AttemptOutcome) -> Result<()> {
        let Some(entry) = self.entry(run) else {
            return Ok(());
        };
        let mut entry = locked(&entry);
        let Some(hook) = entry.run.webhook.as_mut() else {
            return Ok(());
        };
        if hook.attempts != attempt || hook.state != WebhookState::Pending {
            return Ok(());
        }
        hook.state = outcome.state;
        hook.last_attempt_at = Some(outcome.at);
        hook.last_status = outcome.status;
        hook.last_error = outcome.error.clone();
        if outcome.state == WebhookState::Delivered {
            hook.delivered_at = Some(outcome.at);
        }
        entry.hook.recorded = attempt;
        entry.hook.lease_until = None;
        Ok(())
    }
}

#[async_trait]
impl WebhookSecrets for MemoryStore {
    async fn secret_version(&self, user: &str) -> Result<Option<u32>> {
        Ok(locked(&self.webhook_secrets).get(user).copied())
    }

    async fn rotate_secret(&self, user: &str) -> Result<u32> {
        let mut versions = locked(&self.webhook_secrets);
        let version = versions.entry(user.to_owned()).or_insert(0);
        *version += 1;
        Ok(*version)
    }
}
