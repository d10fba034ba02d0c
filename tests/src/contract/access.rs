//! Who calls: tokens and the directory, Idempotency-Keys, rate limits.

use chrono::{Duration, Utc};
use shared::domain::access::token_hash;
use shared::ports::IdempotencyClaim;
use uuid::Uuid;

use crate::harness::{charger_uuid, cp, ALICE};

use super::Ports;

pub async fn tokens_and_chargers_resolve(ports: &Ports) {
    let alice = ports.tokens.identity_for_token_hash(&token_hash(ALICE)).await.unwrap().expect("alice");
    assert_eq!(alice.user, "alice");
    assert_eq!(alice.teams, vec!["acme".to_owned()]);
    assert!(ports.tokens.identity_for_token_hash(&token_hash("nobody-token")).await.unwrap().is_none());
    let wanted = [charger_uuid(&cp(0)), Uuid::new_v4(), charger_uuid(&cp(2))];
    let mut found: Vec<Uuid> = ports.chargers.chargers_by_uuid(&wanted).await.unwrap().iter().map(|c| c.uuid).collect();
    found.sort();
    let mut expected = vec![wanted[0], wanted[2]];
    expected.sort();
    assert_eq!(found, expected);
    let locked = ports.chargers.charger_by_identity("LOCKED1").await.unwrap().expect("LOCKED1");
    assert!(locked.password_hash.as_deref().is_some_and(|h| !h.contains("locked-secret")));
    assert!(ports.chargers.charger_by_identity("NOPE").await.unwrap().is_none());
}

pub async fn idempotency_keys_claim_once(ports: &Ports) {
    let user = format!("idem-{}", Uuid::new_v4().simple());
    let (first, second) = (Uuid::new_v4(), Uuid::new_v4());
    let later = Utc::now() + Duration::hours(24);
    let claims = ports.idempotency.claim(&user, "k1", "print-a", first, later).await.unwrap();
    assert_eq!(claims, IdempotencyClaim::Claimed);
    let again = ports.idempotency.claim(&user, "k1", "print-b", second, later).await.unwrap();
    assert!(
        matches!(&again, IdempotencyClaim::Existing { run, fingerprint, expires_at }
            if *run == first && fingerprint == "print-a" && (*expires_at - later).num_seconds().abs() <= 1),
        "{again:?}"
    );
    let other_user = ports.idempotency.claim(&format!("{user}-2"), "k1", "print-a", second, later).await.unwrap();
    assert_eq!(other_user, IdempotencyClaim::Claimed, "keys are per user");
    ports.idempotency.forget(&user, "k1", second).await.unwrap();
    assert!(
        matches!(
            ports.idempotency.claim(&user, "k1", "x", second, later).await.unwrap(),
            IdempotencyClaim::Existing { .. }
        ),
        "only the claim's own run forgets it"
    );
    ports.idempotency.forget(&user, "k1", first).await.unwrap();
    assert_eq!(
        ports.idempotency.claim(&user, "k1", "print-c", second, later).await.unwrap(),
        IdempotencyClaim::Claimed
    );
    let expired = Utc::now() - Duration::seconds(5);
    assert_eq!(ports.idempotency.claim(&user, "k2", "p", first, expired).await.unwrap(), IdempotencyClaim::Claimed);
    assert_eq!(
        ports.idempotency.claim(&user, "k2", "q", second, later).await.unwrap(),
        IdempotencyClaim::Claimed,
        "an expired key is free"
    );
}

pub async fn rate_limits_count_per_user_and_minute(ports: &Ports) {
    let user = format!("rate-{}", Uuid::new_v4().simple());
    let now = Utc::now();
    let hits: Vec<_> = [0, 1, 2].iter().map(|_| ports.limiter.hit(&user, 2, now)).collect();
    let mut decisions = Vec::new();
    for hit in hits {
        decisions.push(hit.await.unwrap());
    }
    assert_eq!(decisions.iter().map(|d| d.remaining).collect::<Vec<_>>(), vec![1, 0, 0]);
    assert_eq!(decisions.iter().map(|d| d.retry_after_seconds.is_some()).collect::<Vec<_>>(), vec![false, false, true]);
    assert_eq!(ports.limiter.hit(&format!("{user}-2"), 2, now).await.unwrap().remaining, 1, "per user");
    let next_minute = now + Duration::seconds(60);
    assert_eq!(ports.limiter.hit(&user, 2, next_minute).await.unwrap().remaining, 1, "a new window");
}

/// The stack's CALLs a second: a take gets all it asks when they fit, else what the second has left;
/// racing takes never exceed the second's limit, and each second starts empty.
pub async fn dispatch_budgets_give_what_each_second_has_left(ports: &Ports) {
    // A second of its own, far from any other test's (the AWS table is shared).
    let second = Utc::now().timestamp() + i64::from(Uuid::new_v4().as_u128() as u32);
    let budget = &ports.budget;
    assert_eq!(budget.take(second, 3, 5).await.unwrap(), 3);
    assert_eq!(budget.take(second, 3, 5).await.unwrap(), 2, "what was left");
    assert_eq!(budget.take(second, 1, 5).await.unwrap(), 0, "nothing left");
    assert_eq!(budget.take(second + 1, 6, 5).await.unwrap(), 5, "never more than the limit");
    assert_eq!(budget.take(second + 3, 2, 5).await.unwrap(), 2);
    assert_eq!(budget.take(second + 3, 6, 5).await.unwrap(), 3, "more than the limit: what is left of it");
    let racing = futures::future::join_all((0..10).map(|_| budget.take(second + 2, 1, 5))).await;
    let taken = racing.into_iter().map(|take| take.unwrap()).sum::<u32>();
    // Never over; under only where a take's answer was lost after it applied and another take came
    // between it and its retry (the budget is then lower for that second, as aws/pace.rs says).
    assert!((1..=5).contains(&taken), "racing takes share the limit: {taken} taken");
}
