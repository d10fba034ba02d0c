//! Run webhooks (`shared::webhook`), delivered from the queue:
//!
//! - `WebhookWatch` looks at a run every few seconds until it completes: a progress event at each
//!   tenth if asked (one attempt each), then the completion event's first attempt. Each step queues
//!   the next before it is marked done, and is claimed with a lease first, so a duplicated message
//!   is dropped and a step whose worker died is taken over once its lease ends.
//! - `WebhookSend` is one attempt of the completion event; a failed one queues the next with
//!   exponential backoff (30 s doubling to 15 min) until 24 hours after the first, then gives up.
//!
//! Every attempt connects only to addresses the deployment allows (`address::WebhookPolicy`),
//! checked as the name is resolved for that very connection, and never follows a redirect.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use shared::domain::result::truncated;
use shared::domain::Run;
use shared::ports::{Claim, Outgoing, RunWebhooks, WebhookSecrets};
use shared::queue_message::DispatchMessage;
use shared::webhook::address::{self, WebhookPolicy};
use shared::webhook::{
    event_body, retry_delay_seconds, signature, tenths_done, AttemptOutcome, Webhook, WebhookEvent, WebhookKey,
    WebhookState, ATTEMPT_TIMEOUT_SECONDS, EVENT_HEADER, FIRST_RETRY_SECONDS, MAX_ERROR_BYTES, RETRY_FOR,
    SIGNATURE_HEADER,
};
use shared::{Error, Result};
use uuid::Uuid;

use crate::WorkerContext;

/// How long a watch step is held: a run read, perhaps one progress event, one send.
const WATCH_LEASE: Duration = Duration::seconds(15);
/// How long an attempt is held: longer than one attempt may take.
const ATTEMPT_LEASE: Duration = Duration::seconds(ATTEMPT_TIMEOUT_SECONDS as i64 + 10);

/// What the worker needs to deliver webhooks.
pub struct Webhooks {
    pub store: Arc<dyn RunWebhooks>,
    pub secrets: Arc<dyn WebhookSecrets>,
    pub key: WebhookKey,
    /// `WebhookPolicy::allow_private`, shared with the resolver of `client`.
    allow_private: Arc<AtomicBool>,
    /// The first retry's delay (`FIRST_RETRY_SECONDS`; shorter only on a local stack).
    first_retry_seconds: AtomicU32,
    /// Never a client without the checks above: if it cannot be built, every attempt fails, saying so.
    client: std::result::Result<reqwest::Client, String>,
}

impl Webhooks {
    pub fn new(
        store: Arc<dyn RunWebhooks>,
        secrets: Arc<dyn WebhookSecrets>,
        key: WebhookKey,
        policy: WebhookPolicy,
    ) -> Webhooks {
        let allow_private = Arc::new(AtomicBool::new(policy.allow_private));
        // TLS on aws-lc-rs, the crypto the AWS SDK's client already links (reqwest is built without a
        // provider of its own; an error here only means one was installed first).
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        // No proxy (it would resolve names past `AllowedOnly`), no redirects (to anywhere).
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(StdDuration::from_secs(ATTEMPT_TIMEOUT_SECONDS))
            .dns_resolver(Arc::new(AllowedOnly(allow_private.clone())))
            .user_agent("ocpp-bulk-webhooks")
            .build()
            .map_err(|e| format!("the webhook HTTP client could not be built: {e}"));
        Webhooks {
            store,
            secrets,
            key,
            allow_private,
            first_retry_seconds: AtomicU32::new(FIRST_RETRY_SECONDS),
            client,
        }
    }

    /// Lets webhooks reach loopback and private addresses over plain http (a local stack's
    /// receivers), retrying a failed completion event after `first_retry_seconds`, doubling.
    pub fn allow_private(&self, first_retry_seconds: u32) {
        self.allow_private.store(true, Ordering::Relaxed);
        self.first_retry_seconds.store(first_retry_seconds.max(1), Ordering::Relaxed);
    }

    fn policy(&self) -> WebhookPolicy {
        WebhookPolicy { allow_private: self.allow_private.load(Ordering::Relaxed) }
    }

    /// POSTs `event` of `run`, signed with its owner's secret: the receiver's status, or why not.
    async fn post(&self, run: &Run, url: &str, event: WebhookEvent) -> std::result::Result<u16, String> {
        let version = self
            .secrets
            .secret_version(&run.owner)
            .await
            .map_err(|e| format!("the owner's webhook secret could not be read: {e}"))?
            .ok_or("the owner has no webhook secret (POST /v3/webhooks/secret creates one)")?;
        let secret = self.key.user_secret(&run.owner, version);
        // An address given as such is not resolved: it is checked here (names are, in `AllowedOnly`).
        let target = address::parse(url, self.policy())?;
        address::resolve(&target, self.policy()).await?;
        let now = Utc::now();
        let body = event_body(event, run, shared::views::run(run), now);
        let client = self.client.as_ref().map_err(Clone::clone)?;
        let response = client
            .post(url)
            .header("content-type", "application/json")
            .header(SIGNATURE_HEADER, signature(&secret, now, &body))
            .header(EVENT_HEADER, event.id(run.id))
            .body(body)
            .send()
            .await
            .map_err(|e| format!("{e}"))?;
        Ok(response.status().as_u16())
    }

    fn retry_delay(&self, attempt: u32) -> u32 {
        let scaled = u64::from(retry_delay_seconds(attempt))
            * u64::from(self.first_retry_seconds.load(Ordering::Relaxed))
            / u64::from(FIRST_RETRY_SECONDS);
        u32::try_from(scaled).unwrap_or(u32::MAX).clamp(1, shared::queue_message::MAX_DELAY_SECONDS)
    }
}

/// Resolves a webhook's host name and refuses it when any address is one the policy does not allow.
struct AllowedOnly(Arc<AtomicBool>);

impl reqwest::dns::Resolve for AllowedOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = WebhookPolicy { allow_private: self.0.load(Ordering::Relaxed) };
        Box::pin(async move {
            let target = address::CallbackUrl { url: String::new(), host: name.as_str().to_owned(), port: 0 };
            let addresses: Vec<SocketAddr> = address::resolve(&target, policy).await?;
            Ok(Box::new(addresses.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

fn webhooks(ctx: &WorkerContext) -> Result<&Webhooks> {
    ctx.webhooks.as_deref().ok_or_else(|| Error::internal("worker", "webhook message without webhook delivery"))
}

/// The delay before watch step `step + 1`: every second at first, every 10 s for long runs.
fn watch_delay(step: u32) -> u32 {
    (1 + step / 10).min(10)
}

/// A lease's end: `length` from now, plus a random fraction of a second, so two workers that
/// claim at once never ask for the same lease (a claim whose answer was lost knows itself by it).
fn lease(length: Duration) -> DateTime<Utc> {
    Utc::now() + length + Duration::microseconds(fastrand::i64(0..1_000_000))
}

/// Whether to go on once `claim` is made: not for a duplicate or a step done; a step another
/// worker holds is an error, so its message comes back after the lease.
fn proceed(claim: Claim, what: &str) -> Result<bool> {
    match claim {
        Claim::Claimed => Ok(true),
        Claim::Held => {
            Err(Error::transient("webhook", format!("another worker holds {what}; trying again after its lease")))
        }
        Claim::Done => Ok(false),
    }
}

/// The run and its webhook, once `claim` is ours (`None`: nothing to do).
async fn claimed(ctx: &WorkerContext, run_id: Uuid, claim: Claim, what: &str) -> Result<Option<(Run, Webhook)>> {
    if !proceed(claim, what)? {
        return Ok(None);
    }
    let Some(run) = ctx.runs.run(run_id).await? else {
        return Ok(None);
    };
    Ok(run.webhook.clone().map(|hook| (run, hook)))
}

/// One step of a run's watch: its rollout's step, if it has one (`rollouts::look`, which sets the
/// pace), and its webhook's progress and completion events, if it has one; then the next step,
/// until the run completes.
pub async fn watch(ctx: &WorkerContext, run_id: Uuid, step: u32) -> Result<()> {
    let hooks = webhooks(ctx)?;
    let claim = hooks.store.claim_watch(run_id, step, lease(WATCH_LEASE)).await?;
    if !proceed(claim, "this watch step")? {
        return Ok(());
    }
    let Some(run) = ctx.runs.run(run_id).await? else {
        return Ok(());
    };
    let mut delay = watch_delay(step);
    if let Some(rollout) = &run.rollout {
        let look = crate::rollouts::look(ctx, &run, rollout).await?;
        delay = look.delay_seconds;
        if let (true, Some(hook)) = (look.aborted, &run.webhook) {
            let aborted = ctx.runs.run(run_id).await?.unwrap_or_else(|| run.clone());
            match hooks.post(&aborted, &hook.url, WebhookEvent::Aborted).await {
                Ok(status) => tracing::info!(run = %run_id, status, "abort event sent"),
                Err(error) => tracing::warn!(run = %run_id, error, "abort event not delivered (one attempt)"),
            }
        }
    }
    if let Some(hook) = run.webhook.clone() {
        if run.completed_at.is_some() {
            // The first attempt is made here (later ones have their own messages): made before and
            // cut short, it is taken over once its lease ends; made and recorded, it is done.
            if hook.state == WebhookState::Pending && hook.attempts <= 1 {
                // The run just read serves the attempt too.
                if proceed(hooks.store.claim_attempt(run_id, 1, lease(ATTEMPT_LEASE)).await?, "the first attempt")? {
                    make_attempt(ctx, hooks, &run, &hook, 1, Utc::now()).await?;
                }
            }
            return hooks.store.watch_done(run_id, step).await;
        }
        progress(hooks, &run, &hook).await?;
    } else if run.completed_at.is_some() {
        return hooks.store.watch_done(run_id, step).await;
    }
    let next = DispatchMessage::WebhookWatch { run: run_id, step: step + 1 };
    ctx.queue.send(vec![Outgoing { message: next, delay_seconds: delay }]).await?;
    hooks.store.watch_done(run_id, step).await
}

/// The progress event of the tenth the run reached, once, if it asks for them (one attempt).
async fn progress(hooks: &Webhooks, run: &Run, hook: &Webhook) -> Result<()> {
    let tenth = tenths_done(run);
    if hook.progress
        && (1..=9).contains(&tenth)
        && tenth > hook.progress_sent
        && hooks.store.progress_sent(run.id, tenth).await?
    {
        let event = WebhookEvent::Progress { tenth };
        match hooks.post(run, &hook.url, event).await {
            Ok(status) => tracing::info!(run = %run.id, tenth, status, "progress event sent"),
            Err(error) => tracing::warn!(run = %run.id, tenth, error, "progress event not delivered (one attempt)"),
        }
    }
    Ok(())
}

/// Attempt `attempt` of `run_id`'s completion event.
pub async fn attempt(ctx: &WorkerContext, run_id: Uuid, attempt: u32, first_at: DateTime<Utc>) -> Result<()> {
    let hooks = webhooks(ctx)?;
    let claim = hooks.store.claim_attempt(run_id, attempt, lease(ATTEMPT_LEASE)).await?;
    let Some((run, hook)) = claimed(ctx, run_id, claim, "this attempt").await? else {
        return Ok(());
    };
    make_attempt(ctx, hooks, &run, &hook, attempt, first_at).await
}

/// Attempt `attempt` of `run`'s completion event, claimed: posted, the next queued if it failed,
/// its outcome recorded.
async fn make_attempt(
    ctx: &WorkerContext,
    hooks: &Webhooks,
    run: &Run,
    hook: &Webhook,
    attempt: u32,
    first_at: DateTime<Utc>,
) -> Result<()> {
    let run_id = run.id;
    let result = hooks.post(run, &hook.url, WebhookEvent::Completed).await;
    let at = Utc::now();
    let (status, error) = match result {
        Ok(status) if (200..300).contains(&status) => (Some(status), None),
        Ok(status) => (Some(status), Some(format!("the receiver answered {status}"))),
        Err(error) => (None, Some(truncated(error, MAX_ERROR_BYTES))),
    };
    let given_up = at - first_at >= RETRY_FOR;
    let state = match (&error, given_up) {
        (None, _) => WebhookState::Delivered,
        (Some(_), true) => WebhookState::Failed,
        (Some(_), false) => WebhookState::Pending,
    };
    if state == WebhookState::Pending {
        // The next attempt is queued before this one is recorded: a crash in between repeats
        // this attempt (its lease runs out), never loses the event.
        let next = DispatchMessage::WebhookSend { run: run_id, attempt: attempt + 1, first_at };
        ctx.queue.send(vec![Outgoing { message: next, delay_seconds: hooks.retry_delay(attempt) }]).await?;
    }
    tracing::info!(run = %run_id, attempt, ?status, error = error.as_deref().unwrap_or_default(), state = state.as_str(),
        "completion event attempted");
    hooks.store.record_attempt(run_id, attempt, &AttemptOutcome { at, status, error, state }).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watching_slows_down_for_long_runs() {
        assert_eq!(watch_delay(1), 1);
        assert_eq!(watch_delay(25), 3);
        assert_eq!(watch_delay(500), 10);
    }
}
