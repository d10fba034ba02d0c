//! Outcomes after the answer: which result a charger's status notifications go to, the follow-up
//! an answer opens, each change made only over the revision it replaces, the ending counted once,
//! and a run that follows outcomes complete only when every outcome ended.

use chrono::Utc;
use serde_json::json;
use shared::domain::{Expect, FollowKind, FollowState, FollowUp, Outcome, OutcomePolicy};
use shared::messages::FollowExpected;
use uuid::Uuid;

use super::{called, new_run_with, Ports};

pub async fn outcomes_move_once_per_revision_and_complete_the_run(ports: &Ports) {
    let policy = OutcomePolicy { timeout_seconds: 60, firmware_version: None };
    let (run, results) = new_run_with(ports, "follower", 2, 0, |run| {
        run.command = "UpdateFirmware".into();
        run.outcome = Some(policy.clone());
    })
    .await;
    let identity = results[0].charger.as_ref().expect("charger").identity.clone();
    let now = Utc::now();

    // Which result a charger's notifications of a kind go to: the latest job of that kind.
    assert_eq!(ports.inflight.follow_up_expected(&identity, FollowKind::Firmware).await.unwrap(), None);
    let older = FollowExpected {
        run: Uuid::new_v4(),
        seq: 3,
        kind: FollowKind::Firmware,
        request_id: None,
        firmware_version: None,
    };
    ports.inflight.expect_follow_up(&identity, &older, now).await.unwrap();
    let expected = FollowExpected {
        run: run.id,
        seq: 0,
        kind: FollowKind::Firmware,
        request_id: Some(4),
        firmware_version: Some("2".into()),
    };
    ports.inflight.expect_follow_up(&identity, &expected, now).await.unwrap();
    let found = ports.inflight.follow_up_expected(&identity, FollowKind::Firmware).await.unwrap();
    assert_eq!(found, Some(expected));
    assert_eq!(ports.inflight.follow_up_expected(&identity, FollowKind::Log).await.unwrap(), None);

    // Both answered: one accepted (open), one refused (failed at once, counted with its answer).
    for (seq, response) in [(0, json!({"status": "Accepted"})), (1, json!({"status": "Rejected"}))] {
        assert!(ports.runs.mark_called(run.id, seq, &called(&format!("c{seq}")), now).await.unwrap());
        let follow_up = FollowUp::after_answer(FollowKind::Firmware, "UpdateFirmware", &response, now);
        let outcome = Outcome { follow_up: Some(follow_up), ..Outcome::sent(response) };
        assert!(ports.runs.finish(run.id, seq, &Expect::Call(format!("c{seq}")), outcome).await.unwrap());
    }
    let read = ports.runs.run(run.id).await.unwrap().expect("run");
    assert_eq!((read.counters.sent, read.counters.failed, read.completed_at), (2, 1, None), "one outcome open");
    let open = ports.runs.result(run.id, 0).await.unwrap().and_then(|r| r.follow_up).expect("a follow-up");
    assert_eq!((open.state, open.rev), (FollowState::Open, 1));

    // A step moves it; the same change again (a duplicate, a race lost) is refused by revision.
    let downloading = open.notified("Downloading", false, now).expect("a change");
    assert!(ports.runs.advance_follow_up(run.id, 0, &downloading).await.unwrap());
    assert!(!ports.runs.advance_follow_up(run.id, 0, &downloading).await.unwrap(), "the same revision twice");
    let stale = open.notified("Installing", false, now).expect("a change");
    assert!(!ports.runs.advance_follow_up(run.id, 0, &stale).await.unwrap(), "made over an older revision");
    assert!(ports.runs.run(run.id).await.unwrap().expect("run").completed_at.is_none());

    // The ending: counted once, and the run completes with it.
    let installed = downloading.notified("Installed", false, now).expect("a change");
    assert!(ports.runs.advance_follow_up(run.id, 0, &installed).await.unwrap());
    assert!(!ports.runs.advance_follow_up(run.id, 0, &installed).await.unwrap());
    let done = ports.runs.run(run.id).await.unwrap().expect("run");
    assert_eq!((done.counters.succeeded, done.counters.failed, done.counters.stalled), (1, 1, 0));
    assert!(done.completed_at.is_some(), "every outcome ended: {done:?}");
    assert_eq!(done.outcome, Some(policy));
    let kept = ports.runs.result(run.id, 0).await.unwrap().and_then(|r| r.follow_up).expect("a follow-up");
    assert_eq!(kept, installed);
    assert!(ports.runs.advance_follow_up(Uuid::new_v4(), 0, &installed).await.is_ok_and(|moved| !moved));
}
