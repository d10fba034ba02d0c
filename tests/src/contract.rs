//! The contract every adapter set must keep, written once. `contract_suite!` expands to one test
//! per check for a given way to build the ports (embedded now, AWS on moto's server too).
//! Every check uses fresh run ids, so checks can share one store.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use futures::StreamExt;
use shared::domain::access::token_hash;
use shared::domain::{ChargerRef, Counters, Expect, Outcome, ResultRecord, ResultStatus, Run};
use shared::ports::{
    ChargerDirectory, ConnectionRegistry, IdempotencyClaim, IdempotencyKeys, InflightCall, InflightCalls,
    LiveConnection, Parking, RateLimiter, RunKey, RunStore, TokenStore,
};
use shared::queue_message::DispatchMessage;
use uuid::Uuid;

use crate::harness::{charger_uuid, cp, ALICE};

/// The ports under test. The directory and tokens hold `harness::fleet(n)` for some n ≥ 3.
#[derive(Clone)]
pub struct Ports {
    pub tokens: Arc<dyn TokenStore>,
    pub chargers: Arc<dyn ChargerDirectory>,
    pub runs: Arc<dyn RunStore>,
    pub inflight: Arc<dyn InflightCalls>,
    pub connections: Arc<dyn ConnectionRegistry>,
    pub idempotency: Arc<dyn IdempotencyKeys>,
    pub limiter: Arc<dyn RateLimiter>,
}

/// A run of `pending` chargers plus `skipped` unresolvable ids, stored.
pub async fn new_run(ports: &Ports, owner: &str, pending: usize, skipped: usize) -> (Run, Vec<ResultRecord>) {
    let mut results: Vec<ResultRecord> = (0..pending)
        .map(|i| {
            let identity = format!("X{}", Uuid::new_v4().simple());
            ResultRecord::pending(
                i as u64,
                ChargerRef { uuid: Uuid::new_v4(), identity, reference: Some(format!("bay {i}")) },
            )
        })
        .collect();
    results.extend((0..skipped).map(|i| ResultRecord::skipped((pending + i) as u64, format!("not-a-uuid-{i}"))));
    let run = Run {
        id: Uuid::new_v4(),
        owner: owner.to_owned(),
        command: "Reset".into(),
        data: serde_json::json!({"type": "Soft"}),
        total_count: results.len() as u64,
        counters: Counters { skipped: skipped as u64, ..Counters::default() },
        created_at: Utc::now(),
        completed_at: None,
        timeout_seconds: 30,
        max_per_second: None,
    };
    ports.runs.create_run(&run, results.clone()).await.expect("create_run");
    (run, results)
}

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

pub async fn runs_and_results_round_trip(ports: &Ports) {
    let (run, results) = new_run(ports, "alice", 7, 3).await;
    let stored = ports.runs.run(run.id).await.unwrap().expect("run");
    assert_eq!(stored.id, run.id);
    assert_eq!(stored.total_count, 10);
    assert_eq!(stored.counters.skipped, 3);
    assert_eq!(stored.data, run.data);
    assert!(ports.runs.run(Uuid::new_v4()).await.unwrap().is_none());

    let all = ports.runs.results(run.id, None, None, 100).await.unwrap();
    assert_eq!(all.iter().map(|r| r.seq).collect::<Vec<_>>(), (0..10).collect::<Vec<_>>());
    assert_eq!(all[0].charger, results[0].charger);
    let page = ports.runs.results(run.id, None, Some(3), 4).await.unwrap();
    assert_eq!(page.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![4, 5, 6, 7]);
    let skipped = ports.runs.results(run.id, Some(ResultStatus::SkippedForbidden), None, 100).await.unwrap();
    assert_eq!(skipped.len(), 3);
    let pending_after = ports.runs.results(run.id, Some(ResultStatus::Pending), Some(5), 100).await.unwrap();
    assert_eq!(pending_after.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![6]);
    let one = ports.runs.result(run.id, results[2].seq).await.unwrap().expect("result");
    assert_eq!(one, results[2]);
    assert!(ports.runs.result(run.id, 999).await.unwrap().is_none());
}

pub async fn mark_called_is_conditional(ports: &Ports) {
    let (run, results) = new_run(ports, "alice", 1, 0).await;
    let key = results[0].seq;
    let now = Utc::now();
    assert!(ports.runs.mark_called(run.id, key, "call-1", now).await.unwrap());
    assert!(!ports.runs.mark_called(run.id, key, "call-2", now).await.unwrap(), "a second CALL for one result");
    let stored = ports.runs.result(run.id, key).await.unwrap().unwrap();
    assert_eq!(stored.call_id.as_deref(), Some("call-1"));
    assert!(stored.executed_at.is_some());
    assert!(!ports.runs.mark_called(Uuid::new_v4(), key, "call-3", now).await.unwrap());
}

pub async fn finish_counts_once_and_completes(ports: &Ports) {
    let (run, results) = new_run(ports, "alice", 3, 1).await;
    let [a, b, c] = [0u64, 1, 2];
    let now = Utc::now();
    // b is called; an offline verdict that expects no CALL cannot touch it.
    assert!(ports.runs.mark_called(run.id, b, "call-b", now).await.unwrap());
    assert!(!ports
        .runs
        .finish(run.id, b, &Expect::Uncalled, Outcome::offline("no live connection", now))
        .await
        .unwrap());
    // The wrong CALL id changes nothing; the right one does, once.
    let sent = Outcome::sent(serde_json::json!({"status": "Accepted"}));
    assert!(!ports.runs.finish(run.id, b, &Expect::Call("call-x".into()), sent.clone()).await.unwrap());
    assert!(ports.runs.finish(run.id, b, &Expect::Call("call-b".into()), sent.clone()).await.unwrap());
    assert!(
        !ports.runs.finish(run.id, b, &Expect::Call("call-b".into()), sent.clone()).await.unwrap(),
        "a duplicate answer"
    );
    assert!(
        !ports.runs.finish(run.id, b, &Expect::Call("call-b".into()), Outcome::error("timeout")).await.unwrap(),
        "a late timeout"
    );
    let stored = ports.runs.result(run.id, b).await.unwrap().unwrap();
    assert_eq!(stored.status, ResultStatus::Sent);
    assert_eq!(stored.message.as_deref(), Some("Accepted"));
    assert_eq!(stored.response, Some(serde_json::json!({"status": "Accepted"})));

    assert!(ports
        .runs
        .finish(run.id, a, &Expect::Uncalled, Outcome::offline("no live connection", now))
        .await
        .unwrap());
    let mid = ports.runs.run(run.id).await.unwrap().unwrap();
    assert_eq!((mid.counters.sent, mid.counters.offline, mid.counters.skipped), (1, 1, 1));
    assert!(mid.completed_at.is_none());
    // The skipped result never leaves its state.
    assert!(!ports.runs.finish(run.id, results[3].seq, &Expect::Uncalled, Outcome::error("x")).await.unwrap());

    assert!(ports.runs.finish(run.id, c, &Expect::Uncalled, Outcome::error("dispatch failed")).await.unwrap());
    let done = ports.runs.run(run.id).await.unwrap().unwrap();
    assert_eq!(done.counters, Counters { sent: 1, offline: 1, error: 1, skipped: 1 });
    assert!(done.completed_at.is_some(), "complete when every result is terminal");
    let stored = ports.runs.result(run.id, a).await.unwrap().unwrap();
    assert!(stored.executed_at.is_some(), "offline records when it was decided");
}

pub async fn racing_finishes_make_one_transition(ports: &Ports) {
    let (run, results) = new_run(ports, "alice", 1, 0).await;
    let key = results[0].seq;
    assert!(ports.runs.mark_called(run.id, key, "call-r", Utc::now()).await.unwrap());
    let attempts = (0..16).map(|i| {
        let runs = ports.runs.clone();
        tokio::spawn(async move {
            let outcome = if i % 2 == 0 {
                Outcome::sent(serde_json::json!({"status": "Accepted"}))
            } else {
                Outcome::error("timeout")
            };
            runs.finish(run.id, key, &Expect::Call("call-r".into()), outcome).await.unwrap()
        })
    });
    let won = futures::future::join_all(attempts).await.into_iter().filter(|r| *r.as_ref().unwrap()).count();
    assert_eq!(won, 1);
    let done = ports.runs.run(run.id).await.unwrap().unwrap();
    assert_eq!(done.counters.terminal(), 1);
    assert!(done.completed_at.is_some());
}

pub async fn racing_dispatches_mark_one_call(ports: &Ports) {
    let (run, results) = new_run(ports, "alice", 1, 0).await;
    let key = results[0].seq;
    let attempts = (0..16).map(|i| {
        let runs = ports.runs.clone();
        tokio::spawn(async move { runs.mark_called(run.id, key, &format!("call-{i}"), Utc::now()).await.unwrap() })
    });
    let won = futures::future::join_all(attempts).await.into_iter().filter(|r| *r.as_ref().unwrap()).count();
    assert_eq!(won, 1, "exactly one worker may post the CALL");
}

pub async fn big_run_completes_exactly(ports: &Ports) {
    let (run, results) = new_run(ports, "alice", 2000, 50).await;
    let now = Utc::now();
    let finishes = results.iter().filter(|r| r.status == ResultStatus::Pending).map(|r| {
        let runs = ports.runs.clone();
        let key = r.seq;
        let seq = r.seq;
        async move {
            let outcome = match seq % 3 {
                0 => Outcome::sent(serde_json::json!({"status": "Accepted"})),
                1 => Outcome::offline("no live connection", now),
                _ => Outcome::error("InternalError: x"),
            };
            // Every transition is attempted twice, as a duplicated delivery would.
            let first = runs.finish(run.id, key, &Expect::Uncalled, outcome.clone()).await.unwrap();
            let second = runs.finish(run.id, key, &Expect::Uncalled, outcome).await.unwrap();
            assert!(first && !second);
        }
    });
    futures::stream::iter(finishes).buffer_unordered(64).collect::<Vec<()>>().await;
    let done = ports.runs.run(run.id).await.unwrap().unwrap();
    assert_eq!(done.counters.sent + done.counters.offline + done.counters.error + done.counters.skipped, 2050);
    assert_eq!(done.counters, Counters { sent: 667, offline: 667, error: 666, skipped: 50 });
    assert!(done.completed_at.is_some());
    let mut after = None;
    let mut seen = 0;
    loop {
        let page = ports.runs.results(run.id, None, after, 1000).await.unwrap();
        seen += page.len();
        assert!(page.iter().all(|r| r.status.is_terminal()));
        match page.last() {
            Some(last) if page.len() == 1000 => after = Some(last.seq),
            _ => break,
        }
    }
    assert_eq!(seen, 2050);
}

pub async fn runs_listed_newest_first(ports: &Ports) {
    let owner = format!("lister-{}", Uuid::new_v4().simple());
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(new_run(ports, &owner, 1, 0).await.0.id);
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    ids.reverse();
    let first = ports.runs.runs_of(&owner, None, 3).await.unwrap();
    assert_eq!(first.iter().map(|r| r.id).collect::<Vec<_>>(), ids[..3]);
    let last = first.last().unwrap();
    let key = RunKey { created_at: last.created_at, id: last.id };
    let rest = ports.runs.runs_of(&owner, Some(&key), 3).await.unwrap();
    assert_eq!(rest.iter().map(|r| r.id).collect::<Vec<_>>(), ids[3..]);
    assert!(ports.runs.runs_of("nobody-at-all", None, 3).await.unwrap().is_empty());
}

pub async fn inflight_slot_is_exclusive(ports: &Ports) {
    let identity = format!("SLOT{}", Uuid::new_v4().simple());
    let now = Utc::now();
    let call = |id: &str, expires_in: i64| InflightCall {
        call_id: id.into(),
        action: "Reset".into(),
        run: Uuid::new_v4(),
        charger: Uuid::new_v4(),
        seq: 0,
        expires_at: now + Duration::seconds(expires_in),
    };
    assert!(ports.inflight.acquire(&identity, &call("a", 30), now).await.unwrap());
    assert!(
        !ports.inflight.acquire(&identity, &call("b", 30), now).await.unwrap(),
        "second CALL while the first is in flight"
    );
    assert_eq!(ports.inflight.current(&identity).await.unwrap().unwrap().call_id, "a");
    ports.inflight.release(&identity, "b").await.unwrap();
    assert_eq!(ports.inflight.current(&identity).await.unwrap().unwrap().call_id, "a", "only the holder releases");
    ports.inflight.release(&identity, "a").await.unwrap();
    assert!(ports.inflight.current(&identity).await.unwrap().is_none());
    assert!(ports.inflight.acquire(&identity, &call("c", -1), now).await.unwrap());
    assert!(ports.inflight.acquire(&identity, &call("d", 30), now).await.unwrap(), "an expired slot is free");
    assert_eq!(ports.inflight.current(&identity).await.unwrap().unwrap().call_id, "d");
}

pub async fn waiting_messages_are_woken_by_the_release(ports: &Ports) {
    let identity = format!("WAIT{}", Uuid::new_v4().simple());
    let now = Utc::now();
    let held = InflightCall {
        call_id: "held".into(),
        action: "Reset".into(),
        run: Uuid::new_v4(),
        charger: Uuid::new_v4(),
        seq: 0,
        expires_at: now + Duration::seconds(30),
    };
    let waiting = |seq: u64| DispatchMessage::Dispatch {
        run: Uuid::new_v4(),
        seq,
        charger: Uuid::new_v4(),
        identity: identity.clone(),
        not_before: None,
    };
    let wait = |message: &DispatchMessage, on: &'static str| {
        let (ports, identity, message) = (ports.clone(), identity.clone(), message.clone());
        async move { ports.inflight.wait(&identity, on, &message).await.unwrap() }
    };
    let (one, two) = (waiting(1), waiting(2));
    assert_eq!(wait(&one, "held").await, Parking::NotHeld, "no slot, nothing to wait for");
    assert!(ports.inflight.acquire(&identity, &held, now).await.unwrap());
    // A park retried after its write was applied (a 500 after the write) finds itself parked already.
    assert!(matches!(wait(&one, "held").await, Parking::Parked | Parking::AlreadyParked));
    assert!(matches!(wait(&two, "held").await, Parking::Parked | Parking::AlreadyParked));
    assert_eq!(wait(&one, "held").await, Parking::AlreadyParked, "a copy of a parked message is not parked twice");
    assert_eq!(wait(&one, "other").await, Parking::NotHeld, "only on the CALL that holds the slot");
    assert!(ports.inflight.release(&identity, "other").await.unwrap().is_empty(), "only the holder releases");
    let mut woken = ports.inflight.release(&identity, "held").await.unwrap();
    woken.sort_by_key(|m| m.result_key().map(|(_, seq)| seq));
    assert_eq!(woken, vec![one, two], "each parked message woken once");
    assert!(ports.inflight.release(&identity, "held").await.unwrap().is_empty(), "woken once");
}

pub async fn an_undelivered_call_is_taken_back(ports: &Ports) {
    let (run, _) = new_run(ports, "alice", 1, 0).await;
    assert!(ports.runs.mark_called(run.id, 0, "m1", Utc::now()).await.unwrap());
    assert!(!ports.runs.unmark_called(run.id, 0, "m2").await.unwrap(), "only the CALL that was marked");
    assert!(ports.runs.unmark_called(run.id, 0, "m1").await.unwrap());
    let result = ports.runs.result(run.id, 0).await.unwrap().unwrap();
    assert_eq!((result.status, result.call_id), (ResultStatus::Pending, None));
    assert!(
        !ports.runs.finish(run.id, 0, &Expect::Call("m1".into()), Outcome::error("timeout")).await.unwrap(),
        "the taken-back CALL's timeout changes nothing"
    );
    assert!(ports.runs.mark_called(run.id, 0, "m3", Utc::now()).await.unwrap(), "dispatched again");
}

pub async fn connections_newest_wins(ports: &Ports) {
    let identity = format!("CONN{}", Uuid::new_v4().simple());
    let (one, two) = (format!("c1-{identity}"), format!("c2-{identity}"));
    let (then, now) = (Utc::now() - Duration::seconds(5), Utc::now());
    let since = |id: &str, at: DateTime<Utc>| Some(LiveConnection { id: id.to_owned(), since: at });
    assert_eq!(ports.connections.register(&identity, &one, then).await.unwrap(), None);
    assert_eq!(ports.connections.register(&identity, &two, now).await.unwrap(), Some(one.clone()));
    let live = ports.connections.connection_of(&identity).await.unwrap();
    assert_eq!(
        live.map(|l| (l.id, l.since.timestamp_millis())),
        since(&two, now).map(|l| (l.id, l.since.timestamp_millis()))
    );
    assert_eq!(ports.connections.identity_of(&two).await.unwrap(), Some(identity.clone()));
    ports.connections.unregister(&one).await.unwrap();
    assert_eq!(
        ports.connections.connection_of(&identity).await.unwrap().map(|l| l.id),
        Some(two.clone()),
        "the old one's disconnect keeps the new"
    );
    ports.connections.unregister(&two).await.unwrap();
    assert_eq!(ports.connections.connection_of(&identity).await.unwrap(), None);
    assert_eq!(ports.connections.identity_of(&two).await.unwrap(), None);
}

pub async fn idempotency_keys_claim_once(ports: &Ports) {
    let user = format!("idem-{}", Uuid::new_v4().simple());
    let (first, second) = (Uuid::new_v4(), Uuid::new_v4());
    let later = Utc::now() + Duration::hours(24);
    let claims = ports.idempotency.claim(&user, "k1", "print-a", first, later).await.unwrap();
    assert_eq!(claims, IdempotencyClaim::Claimed);
    let again = ports.idempotency.claim(&user, "k1", "print-b", second, later).await.unwrap();
    assert_eq!(again, IdempotencyClaim::Existing { run: first, fingerprint: "print-a".into() });
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

/// One `#[tokio::test]` per contract check, for ports built by `$ports` (an async expression).
#[macro_export]
macro_rules! contract_suite {
    ($ports:expr) => {
        $crate::contract_suite!(@tests $ports;
            tokens_and_chargers_resolve, runs_and_results_round_trip, mark_called_is_conditional,
            finish_counts_once_and_completes, racing_finishes_make_one_transition,
            racing_dispatches_mark_one_call, big_run_completes_exactly, runs_listed_newest_first,
            waiting_messages_are_woken_by_the_release, an_undelivered_call_is_taken_back,
            inflight_slot_is_exclusive, connections_newest_wins, idempotency_keys_claim_once,
            rate_limits_count_per_user_and_minute);
    };
    (@tests $ports:expr; $($check:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let ports = $ports;
                $crate::contract::$check(&ports).await;
            }
        )*
    };
}
