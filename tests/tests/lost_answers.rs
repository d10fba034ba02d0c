//! Writes that DynamoDB applied but whose answer was lost (a 500 after the write, armed on the
//! strict stand-in): the SDK sends the same request again, and the retry must find its own write
//! instead of applying it a second time; and a chunk whose writer died, taken over. AWS only: the
//! embedded backend cannot lose an answer.

use chrono::Utc;
use ocpp_bulk_tests::aws::{lose_answers, ports_on};
use ocpp_bulk_tests::contract::{called, new_run};
use ocpp_bulk_tests::harness::fleet;
use shared::domain::{Counters, Expect, Outcome, ResultStatus};
use shared::ports::{InflightCall, Parking};
use shared::queue_message::DispatchMessage;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_hit_whose_answer_was_lost_counts_once() {
    let (ports, tables) = ports_on("lost-rate", &fleet(3)).await;
    let now = Utc::now();
    lose_answers("UpdateItem", &tables.runs, 2).await;
    let first = ports.limiter.hit("alice", 3, now).await.unwrap();
    let second = ports.limiter.hit("alice", 3, now).await.unwrap();
    assert_eq!((first.remaining, second.remaining), (2, 1), "each request counted once");
    assert_eq!(ports.limiter.hit("alice", 3, now).await.unwrap().remaining, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_marked_whose_answer_was_lost_is_still_ours() {
    let (ports, tables) = ports_on("lost-call", &fleet(3)).await;
    let (run, results) = new_run(&ports, "alice", 1, 0).await;
    let seq = results[0].seq;
    lose_answers("UpdateItem", &tables.runs, 1).await;
    assert!(ports.runs.mark_called(run.id, seq, &called("call-1"), Utc::now()).await.unwrap(), "its own write");
    assert!(
        !ports.runs.mark_called(run.id, seq, &called("call-2"), Utc::now()).await.unwrap(),
        "another CALL is refused"
    );
    let stored = ports.runs.result(run.id, seq).await.unwrap().unwrap();
    assert_eq!(stored.call_id.as_deref(), Some("call-1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finish_whose_answer_was_lost_counts_once() {
    let (ports, tables) = ports_on("lost-finish", &fleet(3)).await;
    let (run, results) = new_run(&ports, "alice", 2, 0).await;
    let now = Utc::now();
    lose_answers("TransactWriteItems", &tables.runs, 2).await;
    for result in &results {
        let offline = Outcome::offline("no live connection", now);
        assert!(ports.runs.finish(run.id, result.seq, &Expect::Uncalled, offline).await.unwrap());
    }
    let done = ports.runs.run(run.id).await.unwrap().unwrap();
    assert_eq!(done.counters, Counters { offline: 2, ..Counters::default() }, "each answer counted once");
    assert!(done.completed_at.is_some());
    let stored = ports.runs.results(run.id, Some(ResultStatus::Offline), None, 10).await.unwrap();
    assert_eq!(stored.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_whose_answer_was_lost_still_names_the_connection_it_replaces() {
    use shared::domain::OcppVersion;
    use shared::ports::LiveConnection;
    let (ports, tables) = ports_on("lost-register", &fleet(1)).await;
    let live = |id: &str| LiveConnection { id: id.to_owned(), since: Utc::now(), version: OcppVersion::V16 };
    assert_eq!(ports.connections.register("CPLOST", &live("c1")).await.unwrap(), None);
    lose_answers("UpdateItem", &tables.connections, 1).await;
    let replaced = ports.connections.register("CPLOST", &live("c2")).await.unwrap();
    assert_eq!(replaced.as_deref(), Some("c1"), "the old connection is closed all the same");
    assert_eq!(ports.connections.connection_of("CPLOST").await.unwrap().map(|c| c.id).as_deref(), Some("c2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_whose_answer_was_lost_is_still_ours_and_a_second_is_not() {
    let (ports, tables) = ports_on("lost-cancel", &fleet(3)).await;
    let (run, _) = new_run(&ports, "alice", 1, 0).await;
    let at = Utc::now();
    lose_answers("UpdateItem", &tables.runs, 1).await;
    assert!(ports.runs.cancel(run.id, at, None).await.unwrap(), "its own mark");
    assert!(!ports.runs.cancel(run.id, at + chrono::Duration::seconds(5), None).await.unwrap(), "a second cancel");
    let stored = ports.runs.run(run.id).await.unwrap().unwrap().cancelled_at.map(|t| t.timestamp_millis());
    let read = ports.runs.cancelled_at(run.id).await.unwrap().map(|t| t.timestamp_millis());
    assert_eq!((stored, read), (Some(at.timestamp_millis()), Some(at.timestamp_millis())), "one time, in both");
}

/// A CALL holding CPWAIT's slot, and a dispatch that waits for it.
fn held_and_parked(now: chrono::DateTime<Utc>) -> (InflightCall, DispatchMessage) {
    let held = InflightCall {
        call_id: "held".into(),
        action: "Reset".into(),
        run: uuid::Uuid::new_v4(),
        charger: uuid::Uuid::new_v4(),
        seq: 0,
        expires_at: now + chrono::Duration::seconds(30),
    };
    let parked = DispatchMessage::Dispatch {
        run: uuid::Uuid::new_v4(),
        seq: 1,
        charger: uuid::Uuid::new_v4(),
        identity: "CPWAIT".into(),
        not_before: None,
    };
    (held, parked)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_whose_answer_was_lost_still_wakes_its_waiters() {
    let (ports, tables) = ports_on("lost-release", &fleet(1)).await;
    let now = Utc::now();
    let (held, parked) = held_and_parked(now);
    assert!(ports.inflight.acquire("CPWAIT", &held, now).await.unwrap());
    assert_eq!(ports.inflight.wait("CPWAIT", "held", &parked).await.unwrap(), Parking::Parked);
    lose_answers("DeleteItem", &tables.connections, 1).await;
    let woken = ports.inflight.release("CPWAIT", "held").await.unwrap();
    assert_eq!(woken, vec![parked], "the parked message is woken though the delete's answer was lost");
    assert!(ports.inflight.release("CPWAIT", "held").await.unwrap().is_empty(), "and only once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_taken_again_by_its_own_call_keeps_its_waiters() {
    let (ports, tables) = ports_on("lost-acquire", &fleet(1)).await;
    let now = Utc::now();
    let (held, parked) = held_and_parked(now);
    lose_answers("PutItem", &tables.connections, 1).await;
    assert!(ports.inflight.acquire("CPWAIT", &held, now).await.unwrap(), "taken, though the answer was lost");
    assert_eq!(ports.inflight.wait("CPWAIT", "held", &parked).await.unwrap(), Parking::Parked);
    // The SDK's retry of a take whose answer was lost, coming after a message parked.
    assert!(ports.inflight.acquire("CPWAIT", &held, now).await.unwrap(), "still this CALL's");
    assert_eq!(ports.inflight.release("CPWAIT", "held").await.unwrap(), vec![parked], "the waiter is kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoke_or_removal_whose_answer_was_lost_still_says_done_and_leaves_nothing() {
    use ocpp_bulk_tests::harness::ALICE;
    use shared::aws::DynamoDirectory;
    let clients = ocpp_bulk_tests::aws::clients().await;
    let (ports, tables) = ports_on("lost-admin", &fleet(2)).await;
    let directory = DynamoDirectory::new(clients.dynamodb.clone(), &tables.directory);
    lose_answers("DeleteItem", &tables.directory, 1).await;
    assert!(directory.revoke_token(ALICE).await.unwrap(), "revoked, though the delete's answer was lost");
    assert!(!directory.revoke_token(ALICE).await.unwrap(), "and gone");

    lose_answers("DeleteItem", &tables.directory, 3).await;
    assert!(directory.remove_charger("CP00000").await.unwrap(), "removed, though every answer was lost");
    assert!(ports.chargers.charger_by_identity("CP00000").await.unwrap().is_none());
    let listed = directory.list_chargers().await.unwrap();
    assert!(listed.iter().all(|c| c.identity != "CP00000"), "no item of it is left: {listed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trigger_claimed_whose_answer_was_lost_is_still_ours_and_a_second_is_not() {
    use ocpp_bulk_tests::contract::new_run_with;
    use shared::domain::{FollowKind, FollowUp, OutcomePolicy};
    let (ports, tables) = ports_on("lost-follow", &fleet(1)).await;
    let (run, _) = new_run_with(&ports, "alice", 1, 0, |run| {
        run.command = "UpdateFirmware".into();
        run.outcome = Some(OutcomePolicy { timeout_seconds: 60, firmware_version: None });
    })
    .await;
    let now = Utc::now();
    let accepted = serde_json::json!({"status": "Accepted"});
    assert!(ports.runs.mark_called(run.id, 0, &called("c0"), now).await.unwrap());
    let open = FollowUp::after_answer(FollowKind::Firmware, "UpdateFirmware", &accepted, now);
    let outcome = Outcome { follow_up: Some(open.clone()), ..Outcome::sent(accepted) };
    assert!(ports.runs.finish(run.id, 0, &Expect::Call("c0".into()), outcome).await.unwrap());

    let triggered = open.triggered(now, "TriggerMessage").expect("a trigger to claim");
    lose_answers("UpdateItem", &tables.runs, 1).await;
    assert!(ports.runs.advance_follow_up(run.id, 0, &triggered).await.unwrap(), "claimed: the trigger is sent");
    let duplicate = open.triggered(now, "TriggerMessage").expect("the same claim");
    assert!(!ports.runs.advance_follow_up(run.id, 0, &duplicate).await.unwrap(), "a duplicate does not send it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_progress_tenth_whose_answer_was_lost_is_still_posted_once() {
    use ocpp_bulk_tests::contract::new_run_with;
    use shared::webhook::Webhook;
    let (ports, tables) = ports_on("lost-progress", &fleet(1)).await;
    let (run, _) =
        new_run_with(&ports, "alice", 1, 0, |run| run.webhook = Some(Webhook::new("https://h.example/".into(), true)))
            .await;
    lose_answers("UpdateItem", &tables.runs, 1).await;
    assert!(ports.webhooks.progress_sent(run.id, 3).await.unwrap(), "the tenth is this watch's to post");
    assert!(!ports.webhooks.progress_sent(run.id, 3).await.unwrap(), "and no other's");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_in_doubt_puts_its_new_items_and_keeps_one_that_moved_on() {
    use ocpp_bulk_tests::aws::{clients, fail_before};
    use shared::aws::batch::put_all_once;
    use shared::aws::item::{get_item, opt_s, string, Item};
    let clients = clients().await;
    let (_, tables) = ports_on("lost-batch", &fleet(1)).await;
    let item = |n: u32, state: &str| {
        let key = [("pk".to_owned(), string(format!("RUN#batch#{n}"))), ("sk".to_owned(), string("R"))];
        Item::from_iter(key.into_iter().chain([("state".to_owned(), string(state))]))
    };
    let state = |n: u32| {
        let key = Item::from_iter(item(n, "").into_iter().filter(|(name, _)| name != "state"));
        let (client, table) = (clients.dynamodb.clone(), tables.runs.clone());
        async move {
            get_item(&client, &table, key, true).await.unwrap().and_then(|i| opt_s(&i, "state").map(str::to_owned))
        }
    };
    // A first attempt was applied and the item moved on (a result dispatched) before the batch is
    // sent again: a 500 the client cannot tell from a lost answer.
    clients.dynamodb.put_item().table_name(&tables.runs).set_item(Some(item(0, "called"))).send().await.unwrap();
    fail_before("BatchWriteItem", &tables.runs, 1).await;
    put_all_once(&clients.dynamodb, &tables.runs, (0..3).map(|n| item(n, "pending")).collect()).await.unwrap();
    assert_eq!(state(0).await.as_deref(), Some("called"), "the item that moved on is kept");
    assert_eq!((state(1).await, state(2).await), (Some("pending".into()), Some("pending".into())), "the new ones put");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunk_taken_over_from_a_dead_writer_keeps_the_results_released_since() {
    use shared::aws::item::{number, string, Item};
    let clients = ocpp_bulk_tests::aws::clients().await;
    let (ports, tables) = ports_on("taken-over", &fleet(2)).await;
    let (run, results) = new_run(&ports, "alice", 2, 0).await;
    // A writer claimed chunk 0, put its results and died; a rollout released one of them since.
    let dead = Item::from([
        ("pk".to_owned(), string(format!("RUN#{}", run.id))),
        ("sk".to_owned(), string("CHUNK#000000")),
        ("writing_until".to_owned(), number(Utc::now().timestamp_millis() - 1_000)),
        ("writer".to_owned(), number(1)),
    ]);
    clients.dynamodb.put_item().table_name(&tables.runs).set_item(Some(dead)).send().await.unwrap();
    assert!(ports.runs.mark_called(run.id, 0, &called("c0"), Utc::now()).await.unwrap());
    assert!(ports.runs.write_results(run.id, 0, results).await.unwrap(), "the chunk is taken over");
    let kept = ports.runs.result(run.id, 0).await.unwrap().and_then(|r| r.call_id);
    assert_eq!(kept.as_deref(), Some("c0"), "the released result keeps its CALL");
    assert!(ports.runs.result(run.id, 1).await.unwrap().is_some_and(|r| r.status == ResultStatus::Pending));
}
