//! Runs bigger than a POST creates inline (`api::chunks`), on both backends: the POST answers with
//! the run as soon as it exists (running, `total_count`, no results yet); the worker resolves,
//! writes, skips and dispatches its chunks; counters end exact even when every queue message is
//! delivered twice; a chunk whose run was never stored waits, then dies, and no run appears.

use std::time::Duration;

use ocpp_bulk::sim::Behaviour;
use ocpp_bulk_tests::harness::{assert_consistent, charger_uuid, cp, fleet, ids, Backend, TestStack};
use serde_json::json;
use shared::domain::{ChargerRef, ResultRecord, Run};
use shared::ports::Outgoing;
use shared::queue_message::DispatchMessage;
use uuid::Uuid;

/// 20 chargers (10 connected and accepting), then `junk` ids that name none: more than a POST
/// creates inline.
fn big_request(junk: usize) -> Vec<String> {
    let known: Vec<String> = (0..20).map(cp).collect();
    let mut all = ids(&known.iter().map(String::as_str).collect::<Vec<_>>());
    all.extend((0..junk).map(|i| if i % 2 == 0 { Uuid::new_v4().to_string() } else { format!("no-such-charger-{i}") }));
    all
}

async fn a_big_run_exists_at_once_and_completes_exactly(backend: Backend, duplicating: bool) {
    let fleet = fleet(20);
    let stack = if duplicating {
        TestStack::start_duplicating(backend, &fleet).await
    } else {
        TestStack::start(backend, &fleet).await
    };
    let sims = stack.sims((0..10).map(|i| (cp(i), Behaviour::Accept))).await;
    let request = big_request(1_480);
    let created =
        stack.create("ClearCache", json!({}), &request, json!({"timeout_seconds": stack.short_timeout()})).await;
    assert_eq!(created["total_count"], 1_500);
    assert_eq!(created["status"], "running", "{created}");
    assert_eq!(created["results"], json!([]), "results follow in chunks");
    let id = created["uuid"].as_str().expect("uuid").to_owned();
    let run = stack.completed(&id, Duration::from_secs(60)).await;
    assert_eq!(
        (
            run["sent_count"].as_u64(),
            run["offline_count"].as_u64(),
            run["skipped_count"].as_u64(),
            run["error_count"].as_u64()
        ),
        (Some(10), Some(10), Some(1_480), Some(0)),
        "{run}"
    );
    let results = stack.all_results(&id).await;
    assert_eq!(results.len(), 1_500);
    assert!(results.iter().enumerate().all(|(i, r)| r["charger_uuid"] == request[i].as_str()), "in request order");
    assert_consistent(&run, &results);
    sims.stop();
}

/// (Every message twice is the harder case of the same run; the test suite's time goes to it alone.)
async fn big_runs_complete_exactly_when_every_message_comes_twice(backend: Backend) {
    a_big_run_exists_at_once_and_completes_exactly(backend, true).await;
}

/// The creation cut short after its chunks were queued and before the run was stored (a crash):
/// the chunk waits for the run, and no run ever appears.
async fn a_chunk_without_its_run_creates_nothing(backend: Backend) {
    let stack = TestStack::start(backend, &fleet(1)).await;
    let run = Uuid::new_v4();
    let chunk = DispatchMessage::CreateChunk {
        run,
        chunk: 0,
        first_seq: 0,
        ids: ids(&["CP00000"]),
        teams: vec!["acme".into()],
    };
    stack.stack.api.queue.send(vec![Outgoing { message: chunk, delay_seconds: 0 }]).await.expect("queued");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (status, _) = stack
        .request("GET", &format!("/v3/chargers/commands/bulk/{run}"), Some(ocpp_bulk_tests::harness::ALICE), None)
        .await;
    assert_eq!(status, 404);
    assert!(stack.stack.api.runs.results(run, None, None, 10).await.expect("results").is_empty());
}

/// A POST that died after queueing its chunks and before storing its run (a crash): its retry with
/// the same Idempotency-Key gets 409 while the first could still be running, then creates the run
/// under the claimed id; the dead request's chunk, still queued, and the retry's own complete it
/// exactly once.
async fn a_creation_cut_short_is_created_by_its_retry(backend: Backend) {
    let stack = TestStack::start(backend, &fleet(20)).await;
    let request = big_request(1_480);
    let body =
        json!({"command": "ClearCache", "data": {}, "charger_ids": request, "timeout_seconds": stack.short_timeout()});
    let (user, key, fingerprint) = ("alice", "cut-short-1", api::request::fingerprint(&body));
    let dead = Uuid::new_v4();
    let claimed = chrono::Utc::now() - chrono::Duration::seconds(61);
    let expires = claimed + chrono::Duration::hours(api::create::IDEMPOTENCY_HOURS);
    stack.stack.api.idempotency.claim(user, key, &fingerprint, dead, expires).await.expect("claim");
    let left_over = DispatchMessage::CreateChunk {
        run: dead,
        chunk: 0,
        first_seq: 0,
        ids: request[..1_000].to_vec(),
        teams: vec!["acme".into()],
    };
    stack.stack.api.queue.send(vec![Outgoing { message: left_over, delay_seconds: 0 }]).await.expect("queued");

    let post = |key: &'static str, body: serde_json::Value| {
        let url = format!("{}/v3/chargers/commands/bulk", stack.base);
        async move {
            let response = reqwest::Client::new()
                .post(url)
                .bearer_auth(ocpp_bulk_tests::harness::ALICE)
                .header("idempotency-key", key)
                .json(&body)
                .send()
                .await
                .expect("POST");
            (response.status().as_u16(), response.json::<serde_json::Value>().await.expect("JSON"))
        }
    };
    let fresh = Uuid::new_v4();
    let young = chrono::Utc::now() + chrono::Duration::hours(api::create::IDEMPOTENCY_HOURS);
    stack.stack.api.idempotency.claim(user, "still-running", &fingerprint, fresh, young).await.expect("claim");
    assert_eq!(post("still-running", body.clone()).await.0, 409, "its first request may still be running");

    let (status, created) = post(key, body.clone()).await;
    assert_eq!(status, 202, "{created}");
    assert_eq!(created["data"]["uuid"], dead.to_string(), "created under the claimed id");
    let run = stack.completed(&dead.to_string(), Duration::from_secs(60)).await;
    assert_eq!((run["skipped_count"].as_u64(), run["offline_count"].as_u64()), (Some(1_480), Some(20)), "{run}");
    assert_consistent(&run, &stack.all_results(&dead.to_string()).await);
    let (status, again) = post(key, body).await;
    assert_eq!((status, &again["data"]["uuid"]), (202, &json!(dead.to_string())), "and it is that run from now on");
}

/// A run created inline whose request died after storing it and before queueing its messages: the
/// `Recover` message the request queued first dispatches it, and it completes.
async fn a_run_whose_messages_were_lost_is_recovered(backend: Backend) {
    let stack = TestStack::start(backend, &fleet(3)).await;
    let sims = stack.sims((0..3).map(|i| (cp(i), Behaviour::Accept))).await;
    let results: Vec<ResultRecord> = (0..3)
        .map(|i| {
            let charger = ChargerRef { uuid: charger_uuid(&cp(i)), identity: cp(i), reference: None };
            ResultRecord::pending(i as u64, charger)
        })
        .collect();
    let run = Run::new(
        Uuid::new_v4(),
        "alice".into(),
        "ClearCache".into(),
        json!({}),
        3,
        chrono::Utc::now(),
        stack.short_timeout(),
    );
    stack.stack.api.runs.create_run(&run, results).await.expect("stored, its messages lost");
    let recover = DispatchMessage::Recover { run: run.id };
    stack.stack.api.queue.send(vec![Outgoing { message: recover, delay_seconds: 0 }]).await.expect("queued");
    let done = stack.completed(&run.id.to_string(), Duration::from_secs(30)).await;
    assert_eq!(done["sent_count"], 3, "{done}");
    sims.stop();
}

ocpp_bulk_tests::on_both_backends!(
    a_run_whose_messages_were_lost_is_recovered,
    a_creation_cut_short_is_created_by_its_retry,
    big_runs_complete_exactly_when_every_message_comes_twice,
    a_chunk_without_its_run_creates_nothing,
    a_chunk_without_time_left_goes_back_to_the_queue
);

/// What a worker sends, kept instead of queued.
#[derive(Default, Clone)]
struct Recorded(std::sync::Arc<std::sync::Mutex<Vec<DispatchMessage>>>);

#[async_trait::async_trait]
impl shared::ports::DispatchQueue for Recorded {
    async fn send(&self, messages: Vec<Outgoing<DispatchMessage>>) -> shared::Result<()> {
        self.0.lock().expect("lock").extend(messages.into_iter().map(|m| m.message));
        Ok(())
    }
}

/// A chunk whose invocation has less than `CHUNK_BUDGET` left is not started: it goes back to the
/// queue as a new message and its delivery succeeds, so a batch of chunks never runs past the
/// function's timeout and no chunk is received again until it dead-letters. With time left, the same
/// chunk is created (here again, harmlessly: its results exist) and dispatched.
async fn a_chunk_without_time_left_goes_back_to_the_queue(backend: Backend) {
    use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
    use tokio::time::Instant;
    use worker::chunks::CHUNK_BUDGET;
    let stack = TestStack::start(backend, &fleet(20)).await;
    let request = big_request(1_480);
    let created =
        stack.create("ClearCache", json!({}), &request, json!({"timeout_seconds": stack.short_timeout()})).await;
    let id = created["uuid"].as_str().expect("uuid").to_owned();
    stack.completed(&id, Duration::from_secs(60)).await;
    let chunk = DispatchMessage::CreateChunk {
        run: Uuid::parse_str(&id).expect("uuid"),
        chunk: 0,
        first_seq: 0,
        ids: request[..1_000].to_vec(),
        teams: vec!["acme".into()],
    };
    let mut record = SqsMessage::default();
    record.message_id = Some("chunk-0".into());
    record.body = Some(serde_json::to_string(&chunk).expect("JSON"));
    let mut event = SqsEvent::default();
    event.records = vec![record.clone(), record];
    let sent = Recorded::default();
    let worker = worker::WorkerContext { queue: std::sync::Arc::new(sent.clone()), ..stack.stack.worker.clone() };

    let late = Instant::now() + CHUNK_BUDGET + worker::chunks::AFTER_CHUNKS - Duration::from_secs(1);
    let answer = worker::handle_within(&worker, event.clone(), Some(late)).await;
    assert!(answer.batch_item_failures.is_empty(), "a late chunk is no failed delivery");
    assert_eq!(*sent.0.lock().expect("lock"), vec![chunk.clone(), chunk.clone()], "each queued again, as it was");

    sent.0.lock().expect("lock").clear();
    let answer = worker::handle_within(&worker, event, Some(Instant::now() + Duration::from_secs(30))).await;
    assert!(answer.batch_item_failures.is_empty());
    let sent = sent.0.lock().expect("lock").clone();
    assert!(!sent.contains(&chunk), "created, not queued again");
    assert!(sent.iter().any(|m| matches!(m, DispatchMessage::Dispatch { .. })), "and dispatched");
    let run = stack.completed(&id, Duration::from_secs(10)).await;
    assert_consistent(&run, &stack.all_results(&id).await);
}
