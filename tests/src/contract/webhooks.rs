//! Run webhooks' bookkeeping: every step claimed once, a dead worker's step taken over after its
//! lease, attempts recorded in order, secrets rotated per user.

use chrono::{Duration, Utc};
use shared::ports::Claim;
use shared::webhook::{AttemptOutcome, Webhook, WebhookState};
use uuid::Uuid;

use super::{new_run_with, Ports};

pub async fn webhook_steps_are_claimed_once(ports: &Ports) {
    let (run, _) =
        new_run_with(ports, "hooks", 2, 0, |run| run.webhook = Some(Webhook::new("https://h.example/".into(), true)))
            .await;
    let (id, later, gone) = (run.id, Utc::now() + Duration::seconds(30), Utc::now() - Duration::seconds(1));
    let hooks = &ports.webhooks;

    assert_eq!(hooks.claim_watch(id, 1, later).await.unwrap(), Claim::Claimed);
    let other = later + Duration::milliseconds(7);
    assert_eq!(hooks.claim_watch(id, 1, other).await.unwrap(), Claim::Held, "a duplicate while it runs");
    hooks.watch_done(id, 1).await.unwrap();
    assert_eq!(hooks.claim_watch(id, 1, later).await.unwrap(), Claim::Done, "a late duplicate");
    assert_eq!(hooks.claim_watch(id, 2, gone).await.unwrap(), Claim::Claimed);
    assert_eq!(hooks.claim_watch(id, 2, later).await.unwrap(), Claim::Claimed, "its worker died: taken over");
    assert_eq!(hooks.claim_watch(id, 1, later).await.unwrap(), Claim::Done, "an earlier step");
    assert_eq!(hooks.claim_watch(Uuid::new_v4(), 1, later).await.unwrap(), Claim::Done, "no such run");

    assert!(hooks.progress_sent(id, 3).await.unwrap());
    assert!(!hooks.progress_sent(id, 3).await.unwrap());
    assert!(!hooks.progress_sent(id, 2).await.unwrap());
    assert!(hooks.progress_sent(id, 5).await.unwrap());

    assert_eq!(hooks.claim_attempt(id, 2, later).await.unwrap(), Claim::Done, "not before the first");
    assert_eq!(hooks.claim_attempt(id, 1, later).await.unwrap(), Claim::Claimed);
    assert_eq!(hooks.claim_attempt(id, 1, other).await.unwrap(), Claim::Held);
    let failed = AttemptOutcome {
        at: Utc::now(),
        status: Some(503),
        error: Some("the receiver answered 503".into()),
        state: WebhookState::Pending,
    };
    hooks.record_attempt(id, 1, &failed).await.unwrap();
    assert_eq!(hooks.claim_attempt(id, 1, gone).await.unwrap(), Claim::Done, "recorded: never made again");
    assert_eq!(hooks.claim_attempt(id, 2, gone).await.unwrap(), Claim::Claimed);
    assert_eq!(hooks.claim_attempt(id, 2, later).await.unwrap(), Claim::Claimed, "lease out, no outcome: again");
    let delivered = AttemptOutcome { at: Utc::now(), status: Some(200), error: None, state: WebhookState::Delivered };
    hooks.record_attempt(id, 2, &delivered).await.unwrap();
    hooks.record_attempt(id, 1, &failed).await.unwrap(); // a stale outcome changes nothing
    assert_eq!(hooks.claim_attempt(id, 3, later).await.unwrap(), Claim::Done, "delivered: no more attempts");
    let hook = ports.runs.run(id).await.unwrap().and_then(|r| r.webhook).expect("webhook");
    assert_eq!(
        (hook.state, hook.attempts, hook.last_status, hook.last_error),
        (WebhookState::Delivered, 2, Some(200), None)
    );
    assert!(hook.delivered_at.is_some() && hook.progress && hook.progress_sent == 5);

    let user = format!("hooks-{}", Uuid::new_v4().simple());
    assert_eq!(ports.secrets.secret_version(&user).await.unwrap(), None);
    assert_eq!(ports.secrets.rotate_secret(&user).await.unwrap(), 1);
    assert_eq!(ports.secrets.rotate_secret(&user).await.unwrap(), 2);
    assert_eq!(ports.secrets.secret_version(&user).await.unwrap(), Some(2));
}
