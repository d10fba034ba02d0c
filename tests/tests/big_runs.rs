//! Runs bigger than a POST creates inline (`api::chunks`), on both backends: the POST answers with
//! the run as soon as it exists (running, `total_count`, no results yet); the worker resolves,
//! writes, skips and dispatches its chunks; counters end exact even when every queue message is
//! delivered twice; a chunk whose run was never stored waits, then dies, and no run appears.

use std::time::Duration;

use ocpp_bulk::sim::Behaviour;
use ocpp_bulk_tests::harness::{assert_consistent, cp, fleet, ids, Backend, TestStack};
use serde_json::json;
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

async fn big_runs_complete_exactly(backend: Backend) {
    a_big_run_exists_at_once_and_completes_exactly(backend, false).await;
}

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

ocpp_bulk_tests::on_both_backends!(
    big_runs_complete_exactly,
    big_runs_complete_exactly_when_every_message_comes_twice,
    a_chunk_without_its_run_creates_nothing
);
