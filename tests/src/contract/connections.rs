//! Connections and a charger's in-flight slot: one CALL at a time, parking and waking, newest wins.

use chrono::{Duration, Utc};
use shared::domain::{Expect, OcppVersion, Outcome, ResultStatus};
use shared::ocpp::call_id;
use shared::ports::{CallClaim, Called, InflightCall, LiveConnection, Parking};
use shared::queue_message::DispatchMessage;
use uuid::Uuid;

use super::{called, new_run, Ports};

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
    let later = InflightCall { expires_at: now + Duration::seconds(90), ..held.clone() };
    assert!(ports.inflight.acquire(&identity, &later, now).await.unwrap(), "taken again by its own CALL");
    let expiry = ports.inflight.current(&identity).await.unwrap().map(|c| c.expires_at.timestamp_millis());
    assert_eq!(expiry, Some(later.expires_at.timestamp_millis()), "its expiry moves on, its waiters stay");
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
    assert!(ports.runs.mark_called(run.id, 0, &called("m1"), Utc::now()).await.unwrap());
    assert!(!ports.runs.unmark_called(run.id, 0, "m2").await.unwrap(), "only the CALL that was marked");
    assert!(ports.runs.unmark_called(run.id, 0, "m1").await.unwrap());
    let result = ports.runs.result(run.id, 0).await.unwrap().unwrap();
    assert_eq!((result.status, result.call_id), (ResultStatus::Pending, None));
    assert!(
        !ports.runs.finish(run.id, 0, &Expect::Call("m1".into()), Outcome::error("timeout")).await.unwrap(),
        "the taken-back CALL's timeout changes nothing"
    );
    assert!(ports.runs.mark_called(run.id, 0, &called("m3"), Utc::now()).await.unwrap(), "dispatched again");
}

pub async fn connections_newest_wins(ports: &Ports) {
    let identity = format!("CONN{}", Uuid::new_v4().simple());
    let (one, two) = (format!("c1-{identity}"), format!("c2-{identity}"));
    let (then, now) = (Utc::now() - Duration::seconds(5), Utc::now());
    let (old, new) = (OcppVersion::V16, OcppVersion::V201);
    let live = |id: &str, since, version| LiveConnection { id: id.to_owned(), since, version };
    assert_eq!(ports.connections.register(&identity, &live(&one, then, old)).await.unwrap(), None);
    assert_eq!(ports.connections.register(&identity, &live(&two, now, new)).await.unwrap(), Some(one.clone()));
    let live = ports.connections.connection_of(&identity).await.unwrap();
    assert_eq!(
        live.map(|l| (l.id, l.since.timestamp_millis(), l.version)),
        Some((two.clone(), now.timestamp_millis(), new)),
        "the newest connection, with the version it speaks"
    );
    assert_eq!(ports.connections.identity_of(&two).await.unwrap(), Some((identity.clone(), new)));
    assert_eq!(ports.connections.identity_of(&one).await.unwrap(), Some((identity.clone(), old)));
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

/// A CALL goes out with the charger's slot and its result's mark taken together (where the store
/// can), and its answer counts once, only from its charger and only in time, freeing the slot.
pub async fn an_answer_counts_once_from_its_charger_in_time(ports: &Ports) {
    let (run, results) = new_run(ports, "alice", 2, 0).await;
    let charger = results[0].charger.clone().expect("a charger");
    let identity = charger.identity.clone();
    let now = Utc::now();
    let call = |seq: u64| InflightCall {
        call_id: call_id::encode(run.id, seq),
        action: "Reset".into(),
        run: run.id,
        charger: charger.uuid,
        seq,
        expires_at: now + Duration::minutes(1),
    };
    let first = call(0);
    match ports.runs.claim_call(&identity, &first, now, now).await.unwrap() {
        Some(claim) => {
            assert_eq!(claim, CallClaim::Taken);
            let busy = ports.runs.claim_call(&identity, &call(1), now, now).await.unwrap();
            let held = match busy {
                Some(CallClaim::Held(Some(held))) => held.call_id,
                other => panic!("one CALL per charger at a time, got {other:?}"),
            };
            assert_eq!(held, first.call_id);
            let again = ports.runs.claim_call(&identity, &call(0), now, now).await.unwrap();
            assert_eq!(again, Some(CallClaim::Ended), "a second CALL for one result");
            let holder = ports.inflight.current(&identity).await.unwrap().map(|c| c.call_id);
            assert_eq!(holder, Some(first.call_id.clone()), "nothing moved");
        }
        None => {
            assert!(ports.inflight.acquire(&identity, &first, now).await.unwrap());
            let due = Called::new(&first.call_id, first.expires_at);
            assert!(ports.runs.mark_called(run.id, 0, &due, now).await.unwrap());
        }
    }
    let answer =
        |from: &str, at| Expect::Answer { call_id: first.call_id.clone(), identity: from.into(), received_at: at };
    let accepted = || Outcome::sent(serde_json::json!({"status": "Accepted"}));
    let finish = |expect: Expect, from: String| {
        let runs = ports.runs.clone();
        async move { runs.finish_answered(run.id, 0, &expect, accepted(), &from).await.unwrap() }
    };
    let other = format!("{identity}-other");
    assert!(!finish(answer(&other, now), other.clone()).await.0, "another charger's answer");
    assert!(!finish(answer(&identity, now + Duration::minutes(2)), identity.clone()).await.0, "a late answer");
    let (counted, freed) = finish(answer(&identity, now), identity.clone()).await;
    assert!(counted, "its charger's answer, in time");
    if !freed {
        ports.inflight.release(&identity, &first.call_id).await.unwrap();
    }
    assert_eq!(ports.inflight.current(&identity).await.unwrap(), None, "the slot is free again");
    assert!(!finish(answer(&identity, now), identity.clone()).await.0, "counted once");
    let stored = ports.runs.run(run.id).await.unwrap().unwrap();
    assert_eq!((stored.counters.sent, stored.completed_at), (1, None), "one of two answered: {stored:?}");
}
