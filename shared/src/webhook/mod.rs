//! Run webhooks: a run created with a `callback_url` is watched from the queue; when it completes
//! (and, if asked, at each tenth of its progress) its summary is POSTed there, signed the way
//! Stripe signs: `OcppBulk-Signature: t={unix seconds},v1={hex HMAC-SHA256(secret, "{t}.{body}")}`.
//!
//! Each user's signing secret is derived from the deployment's webhook key (a secret store on AWS)
//! and a version the user rotates: nothing secret is stored per user, and the secret is shown only
//! when it is rotated. The completion event is retried with exponential backoff through the queue
//! for up to 24 hours; each attempt's outcome is kept on the run (`Webhook`).

pub mod address;

use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

pub use crate::domain::webhook::{AttemptOutcome, Webhook, WebhookState};
use crate::domain::Run;

/// The environment variable that holds the deployment's webhook key (api and worker).
pub const WEBHOOK_KEY: &str = "WEBHOOK_KEY";
/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "OcppBulk-Signature";
/// The header that names the event (receivers deduplicate by it: delivery is at least once).
pub const EVENT_HEADER: &str = "OcppBulk-Event-Id";
/// How long a completion event is retried after its first attempt.
pub const RETRY_FOR: Duration = Duration::hours(24);
/// How long one attempt may take.
pub const ATTEMPT_TIMEOUT_SECONDS: u64 = 10;
/// The first retry's delay; each next one doubles, up to SQS's longest delay (900 s).
pub const FIRST_RETRY_SECONDS: u32 = 30;
/// What a receiver's error text keeps on the run.
pub const MAX_ERROR_BYTES: usize = 300;

/// Which event of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WebhookEvent {
    Completed,
    /// The run's abort threshold was crossed: it sends nothing more (one attempt).
    Aborted,
    /// A tenth of the run's results have ended, `tenth` times over (1 to 9).
    Progress {
        tenth: u8,
    },
}

impl WebhookEvent {
    pub fn name(self) -> &'static str {
        match self {
            WebhookEvent::Completed => "run.completed",
            WebhookEvent::Aborted => "run.aborted",
            WebhookEvent::Progress { .. } => "run.progress",
        }
    }

    /// The event's id: the same for every attempt of it.
    pub fn id(self, run: uuid::Uuid) -> String {
        match self {
            WebhookEvent::Completed => format!("{run}.completed"),
            WebhookEvent::Aborted => format!("{run}.aborted"),
            WebhookEvent::Progress { tenth } => format!("{run}.progress.{tenth}"),
        }
    }
}

/// The event body: `{"id", "type", "created_at", "data": run}`.
pub fn event_body(event: WebhookEvent, run: &Run, summary: serde_json::Value, now: DateTime<Utc>) -> String {
    serde_json::json!({
        "id": event.id(run.id),
        "type": event.name(),
        "created_at": crate::clock::rfc3339(now),
        "data": summary,
    })
    .to_string()
}

/// How many tenths of `run`'s results have ended (0 to 10).
pub fn tenths_done(run: &Run) -> u8 {
    if run.total_count == 0 {
        return 10;
    }
    let done = run.counters.terminal().min(run.total_count);
    u8::try_from(done * 10 / run.total_count).unwrap_or(10)
}

/// The delay before attempt `attempt` + 1 (`attempt` ≥ 1 failed): 30 s, doubling, at most 900 s.
pub fn retry_delay_seconds(attempt: u32) -> u32 {
    FIRST_RETRY_SECONDS
        .saturating_mul(1 << attempt.saturating_sub(1).min(5))
        .min(crate::queue_message::MAX_DELAY_SECONDS)
}

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], message: &[u8]) -> HmacSha256 {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(message);
    mac
}

/// The deployment's webhook key (WEBHOOK_KEY on AWS, from the secret store; random per process
/// locally), from which every user's signing secret is derived.
#[derive(Clone)]
pub struct WebhookKey(Vec<u8>);

impl WebhookKey {
    pub fn new(secret: impl AsRef<[u8]>) -> WebhookKey {
        WebhookKey(secret.as_ref().to_vec())
    }

    pub fn random() -> WebhookKey {
        let mut bytes = uuid::Uuid::new_v4().as_bytes().to_vec();
        bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
        WebhookKey(bytes)
    }

    /// `user`'s signing secret at `version`: `whsec_` and 64 hex digits.
    pub fn user_secret(&self, user: &str, version: u32) -> String {
        let derived = hmac(&self.0, format!("ocpp-bulk webhook secret\0{user}\0{version}").as_bytes());
        format!("whsec_{}", hex::encode(derived.finalize().into_bytes()))
    }
}

impl std::fmt::Debug for WebhookKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookKey(…)")
    }
}

/// The signature header's value for `body` sent at `at`.
pub fn signature(secret: &str, at: DateTime<Utc>, body: &str) -> String {
    let t = at.timestamp();
    let mac = hmac(secret.as_bytes(), format!("{t}.{body}").as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A receiver's check (ocpp-bulk only signs): the HMAC matches, in constant time, and its time is
    /// within `tolerance` of `now`.
    fn verify(secret: &str, header: &str, body: &str, now: DateTime<Utc>, tolerance: Duration) -> bool {
        let mut t = None;
        let mut v1 = Vec::new();
        for part in header.split(',') {
            match part.trim().split_once('=') {
                Some(("t", value)) => t = value.parse::<i64>().ok(),
                Some(("v1", value)) => v1.extend(hex::decode(value).ok()),
                _ => {}
            }
        }
        let Some(t) = t else {
            return false;
        };
        if (now.timestamp() - t).abs() > tolerance.num_seconds() {
            return false;
        }
        v1.iter().any(|sig| hmac(secret.as_bytes(), format!("{t}.{body}").as_bytes()).verify_slice(sig).is_ok())
    }

    #[test]
    fn signatures_verify_and_expire() {
        let key = WebhookKey::new("k");
        let secret = key.user_secret("alice", 1);
        assert!(secret.starts_with("whsec_") && secret.len() == 6 + 64);
        assert_ne!(secret, key.user_secret("alice", 2), "a rotation changes the secret");
        assert_ne!(secret, key.user_secret("bob", 1));
        let now = Utc::now();
        let header = signature(&secret, now, "{}");
        assert!(verify(&secret, &header, "{}", now, Duration::minutes(5)));
        assert!(!verify(&secret, &header, "{ }", now, Duration::minutes(5)), "another body");
        assert!(!verify(&key.user_secret("alice", 2), &header, "{}", now, Duration::minutes(5)));
        assert!(!verify(&secret, &header, "{}", now + Duration::minutes(6), Duration::minutes(5)), "too old");
        assert!(!verify(&secret, "v1=00", "{}", now, Duration::minutes(5)));
    }

    #[test]
    fn retries_back_off_to_the_longest_queue_delay() {
        let delays: Vec<u32> = (1..=8).map(retry_delay_seconds).collect();
        assert_eq!(delays, [30, 60, 120, 240, 480, 900, 900, 900]);
    }
}
