//! The data path under the failures AWS produces, on both backends: an answer whose write keeps
//! failing, a dead-lettered message, a connection whose handshake is still completing, a frame
//! from a connection the registry lost. (The AWS backend runs all of this against the strict
//! stand-in besides, which injects conflicts, throttles and 5xx at random.)

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use chrono::Utc;
use ocpp_bulk::sim::Behaviour;
use ocpp_bulk_tests::failing::FailingFinish;
use ocpp_bulk_tests::harness::{assert_consistent, charger_uuid, cp, fleet, ids, Backend, RawCharger, TestStack};
use serde_json::json;
use shared::embedded::Outbound;
use shared::queue_message::DispatchMessage;

async fn an_answer_whose_write_keeps_failing_is_handed_off_and_counted(backend: Backend) {
    // The WebSocket handler's writes never succeed; the worker's do.
    let stack = TestStack::start_customized(backend, &fleet(1), |stack| {
        stack.websocket.runs = Arc::new(FailingFinish::new(stack.websocket.runs.clone(), u64::MAX));
    })
    .await;
    let before = shared::retry::absorbed().handoffs;
    let mut charger = RawCharger::connect(&stack.ws, &cp(0)).await;
    let run = stack.create("Reset", json!({"type": "Soft"}), &ids(&[&cp(0)]), json!({})).await;
    let call = charger.next(Duration::from_secs(5)).await.expect("a CALL");
    charger.send(&json!([3, call[1], {"status": "Accepted"}]).to_string()).await;
    let id = run["uuid"].as_str().unwrap();
    let run = stack.completed(id, Duration::from_secs(10)).await;
    assert_eq!(run["sent_count"], 1, "the handed-off answer is counted: {run}");
    let results = stack.all_results(id).await;
    assert_eq!(results[0]["message"], "Accepted");
    assert_consistent(&run, &results);
    assert!(shared::retry::absorbed().handoffs > before, "the answer went through the queue");
}

fn sqs_record(message: &DispatchMessage, source_arn: &str) -> SqsMessage {
    let mut record = SqsMessage::default();
    record.message_id = Some(uuid::Uuid::new_v4().to_string());
    record.body = Some(serde_json::to_string(message).expect("message"));
    record.event_source_arn = Some(source_arn.to_owned());
    record.attributes.insert("ApproximateReceiveCount".into(), "6".into());
    record
}

async fn a_handed_off_answer_that_fails_is_tried_again_within_seconds(backend: Backend) {
    // The WebSocket handler hands every answer off; the worker's first two attempts fail too. Its
    // quick retries (1 s, then 2 s) record it long before the queue's visibility timeout would
    // (30 s on this stack, 180 s on AWS), and before the CALL's own timeout could end it.
    let stack = TestStack::start_customized(backend, &fleet(1), |stack| {
        stack.websocket.runs = Arc::new(FailingFinish::new(stack.websocket.runs.clone(), u64::MAX));
        stack.worker.runs = Arc::new(FailingFinish::new(stack.worker.runs.clone(), 2));
    })
    .await;
    let mut charger = RawCharger::connect(&stack.ws, &cp(0)).await;
    let run = stack.create("Reset", json!({"type": "Soft"}), &ids(&[&cp(0)]), json!({"timeout_seconds": 20})).await;
    let call = charger.next(Duration::from_secs(5)).await.expect("a CALL");
    let answered = std::time::Instant::now();
    charger.send(&json!([3, call[1], {"status": "Accepted"}]).to_string()).await;
    let id = run["uuid"].as_str().unwrap();
    let run = stack.completed(id, Duration::from_secs(15)).await;
    assert_eq!(run["sent_count"], 1, "the answer is recorded, not timed out: {run}");
    assert!(answered.elapsed() < Duration::from_secs(20), "recorded in {:?}", answered.elapsed());
}

/// The dead letter of run `run`'s dispatch at `seq`, handed to `worker` as the dead-letter queue's
/// event source hands it: `true` when it was resolved (not left on the dead-letter queue).
async fn handle_dead_dispatch(worker: &worker::WorkerContext, run: &str, seq: usize) -> bool {
    let dead = DispatchMessage::Dispatch {
        run: run.parse().unwrap(),
        seq: seq as u64,
        charger: charger_uuid(&cp(seq)),
        identity: cp(seq),
        not_before: None,
    };
    let mut worker = worker.clone();
    let dlq = "arn:aws:sqs:us-east-1:123456789012:test-dispatch-dlq";
    worker.dead_letter_arn = Some(dlq.to_owned());
    let mut event = SqsEvent::default();
    event.records.push(sqs_record(&dead, dlq));
    worker::handle(&worker, event).await.batch_item_failures.is_empty()
}

async fn a_dead_lettered_dispatch_is_attempted_once_more(backend: Backend) {
    // Throttled invocations use up a message's receives too: a dispatch may dead-letter never tried.
    let stack = TestStack::start(backend, &fleet(4)).await;
    let sims = stack.sims((0..4).map(|i| (cp(i), Behaviour::Accept))).await;
    let targets: Vec<String> = (0..4).map(|i| charger_uuid(&cp(i)).to_string()).collect();
    // At one CALL a second, the last charger's message waits about three seconds on the queue;
    // its copy on the dead-letter queue arrives first.
    let run = stack.create("ClearCache", json!({}), &targets, json!({"max_per_second": 1})).await;
    let id = run["uuid"].as_str().unwrap();
    assert!(handle_dead_dispatch(&stack.stack.worker, id, 3).await, "resolved, not left on the dead-letter queue");

    let run = stack.completed(id, Duration::from_secs(15)).await;
    let results = stack.all_results(id).await;
    assert_consistent(&run, &results);
    assert_eq!((run["sent_count"].as_u64(), run["error_count"].as_u64()), (Some(4), Some(0)), "{run}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sims.stats.calls.load(Ordering::Relaxed), 4, "one CALL each: the live copy found its result called");
    sims.stop();
}

async fn a_dead_letter_that_fails_again_ends_its_result_and_the_run_completes(backend: Backend) {
    // No charger is connected: the dead dispatch's attempt ends its result `offline`, and that write
    // fails once (the worker's finish, as a contended item fails it); the dead letter then ends it `error`.
    let stack = TestStack::start(backend, &fleet(2)).await;
    let targets: Vec<String> = (0..2).map(|i| charger_uuid(&cp(i)).to_string()).collect();
    let run = stack.create("ClearCache", json!({}), &targets, json!({"max_per_second": 1})).await;
    let id = run["uuid"].as_str().unwrap();
    let mut worker = stack.stack.worker.clone();
    worker.runs = Arc::new(FailingFinish::new(worker.runs.clone(), 1));
    assert!(handle_dead_dispatch(&worker, id, 1).await, "resolved, not left on the dead-letter queue");

    let run = stack.completed(id, Duration::from_secs(15)).await;
    let results = stack.all_results(id).await;
    assert_consistent(&run, &results);
    assert_eq!((run["offline_count"].as_u64(), run["error_count"].as_u64()), (Some(1), Some(1)), "{run}");
    assert_eq!(results[1]["message"], "dispatch failed: the message dead-lettered");
}

fn frame_event(connection_id: &str, body: &str) -> ApiGatewayWebsocketProxyRequest {
    let mut event = ApiGatewayWebsocketProxyRequest::default();
    event.request_context.connection_id = Some(connection_id.to_owned());
    event.request_context.event_type = Some("MESSAGE".to_owned());
    event.request_context.route_key = Some("$default".to_owned());
    event.body = Some(body.to_owned());
    event
}

async fn a_connection_still_opening_keeps_its_call(backend: Backend) {
    let stack = TestStack::start(backend, &fleet(1)).await;
    // `$connect` accepted the charger, but its handshake has not completed: posts answer Gone.
    let connection = format!("opening-{}", uuid::Uuid::new_v4().simple());
    let opening =
        shared::ports::LiveConnection { id: connection.clone(), since: Utc::now(), version: Default::default() };
    stack.stack.websocket.connections.register(&cp(0), &opening).await.expect("register");
    let mut outbound = stack.stack.connections.attach(&connection);
    let run = stack.create("Reset", json!({"type": "Soft"}), &ids(&[&cp(0)]), json!({})).await;
    let id = run["uuid"].as_str().unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let results = stack.all_results(id).await;
    assert_eq!(results[0]["status"], "pending", "not offline: the charger is connecting ({})", results[0]);

    stack.stack.connections.open(&connection);
    let frame = tokio::time::timeout(Duration::from_secs(10), outbound.recv()).await.expect("the CALL comes");
    let Some(Outbound::Frame(text)) = frame else { panic!("a CALL frame, got {frame:?}") };
    let call: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(call[2], "Reset");
    let answer = json!([3, call[1], {"status": "Accepted"}]).to_string();
    websocket::handle(&stack.stack.websocket, frame_event(&connection, &answer)).await;
    let run = stack.completed(id, Duration::from_secs(5)).await;
    assert_eq!(run["sent_count"], 1, "{run}");
}

async fn a_frame_from_a_forgotten_connection_closes_it(backend: Backend) {
    let stack = TestStack::start(backend, &fleet(1)).await;
    let mut charger = RawCharger::connect(&stack.ws, &cp(0)).await;
    let registry = &stack.stack.websocket.connections;
    let live = registry.connection_of(&cp(0)).await.expect("registry").expect("registered");
    registry.unregister(&live.id).await.expect("unregister");
    charger.send(&json!([2, "h1", "Heartbeat", {}]).to_string()).await;
    assert!(charger.closed_within(Duration::from_secs(5)).await, "closed, so the charger reconnects");
    let mut again = RawCharger::connect(&stack.ws, &cp(0)).await;
    let answer = again.ask(&json!([2, "h2", "Heartbeat", {}]).to_string()).await;
    assert_eq!(answer[0], 3, "the reconnected charger is served: {answer}");
}

/// A firmware update of one charger, followed to its outcome (60 s), accepted by the charger: the
/// run's id once the answer is recorded, the outcome open.
async fn an_accepted_firmware_update(stack: &TestStack, charger: &mut RawCharger) -> String {
    let data = json!({"location": "https://fw.example/fw-2.bin", "retrieveDate": "2026-01-01T00:00:00Z"});
    let extra = json!({"outcome": {"timeout_seconds": 60}});
    let run = stack.create("UpdateFirmware", data, &ids(&[&cp(0)]), extra).await;
    let id = run["uuid"].as_str().expect("uuid").to_owned();
    let call = charger.next(Duration::from_secs(5)).await.expect("a CALL");
    charger.send(&json!([3, call[1], {}]).to_string()).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while stack.all_results(&id).await[0]["status"] != "sent" {
        assert!(tokio::time::Instant::now() < deadline, "the answer is recorded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    id
}

const INSTALLED: &str = r#"[2, "n1", "FirmwareStatusNotification", {"status": "Installed"}]"#;

async fn a_status_read_after_its_connection_was_disconnected_is_still_followed(backend: Backend) {
    // API Gateway invokes a connection's `$default` and `$disconnect` concurrently: a charger that
    // sends its last status and reboots at once may have it read after its connection is gone.
    let stack = TestStack::start(backend, &fleet(1)).await;
    let mut charger = RawCharger::connect(&stack.ws, &cp(0)).await;
    let id = an_accepted_firmware_update(&stack, &mut charger).await;
    let registry = &stack.stack.websocket.connections;
    let live = registry.connection_of(&cp(0)).await.expect("registry").expect("registered");
    registry.unregister(&live.id).await.expect("its $disconnect came first");
    let mut frame = frame_event(&live.id, INSTALLED);
    let context = &mut frame.request_context.authorizer.fields;
    context.insert(websocket::authorizer::IDENTITY.into(), json!(cp(0)));
    context.insert(websocket::authorizer::VERSION.into(), json!("ocpp1.6"));
    websocket::handle(&stack.stack.websocket, frame).await;
    let run = stack.completed(&id, Duration::from_secs(10)).await;
    assert_eq!(run["outcome"]["succeeded_count"], 1, "the status was followed: {run}");
    assert!(charger.closed_within(Duration::from_secs(5)).await, "and the forgotten connection closed");
}

async fn a_status_sent_as_the_charger_closes_is_followed(backend: Backend) {
    // The same through the server: its `$disconnect` may run before the status is handled.
    let stack = TestStack::start(backend, &fleet(1)).await;
    let mut charger = RawCharger::connect(&stack.ws, &cp(0)).await;
    let id = an_accepted_firmware_update(&stack, &mut charger).await;
    charger.send(INSTALLED).await;
    drop(charger);
    let run = stack.completed(&id, Duration::from_secs(10)).await;
    assert_eq!(run["outcome"]["succeeded_count"], 1, "the status was followed: {run}");
}

async fn the_management_api_is_not_on_the_public_port(backend: Backend) {
    let stack = TestStack::start(backend, &fleet(1)).await;
    let mut charger = RawCharger::connect(&stack.ws, &cp(0)).await;
    let live = stack.stack.websocket.connections.connection_of(&cp(0)).await.expect("registry").expect("registered");
    let client = reqwest::Client::new();
    let url = format!("{}/@connections/{}", stack.base, live.id);
    let posted = client.post(&url).body(r#"[2,"evil","Reset",{"type":"Hard"}]"#).send().await.expect("answered");
    assert_ne!(posted.status().as_u16(), 200, "no frame is posted through the public port");
    let deleted = client.delete(&url).send().await.expect("answered");
    assert_ne!(deleted.status().as_u16(), 204);
    assert!(charger.next(Duration::from_millis(800)).await.is_none(), "the charger received nothing");
    let answer = charger.ask(&json!([2, "h1", "Heartbeat", {}]).to_string()).await;
    assert_eq!(answer[0], 3, "and its connection is still open");
}

ocpp_bulk_tests::on_both_backends!(
    the_management_api_is_not_on_the_public_port,
    an_answer_whose_write_keeps_failing_is_handed_off_and_counted,
    a_handed_off_answer_that_fails_is_tried_again_within_seconds,
    a_dead_lettered_dispatch_is_attempted_once_more,
    a_dead_letter_that_fails_again_ends_its_result_and_the_run_completes,
    a_connection_still_opening_keeps_its_call,
    a_frame_from_a_forgotten_connection_closes_it,
    a_status_read_after_its_connection_was_disconnected_is_still_followed,
    a_status_sent_as_the_charger_closes_is_followed,
);

/// How many invocations a chain of messages a function sends to its own queue gets from the local
/// poller, each invocation sending the next message (as the worker's quick retries, pacing and
/// sweeps do), given the function's recursive-loop setting: what Lambda allows (AWS only).
async fn invocations_of_a_chain(recursion: ocpp_bulk::lambda_like::RecursiveLoop, hops: u32) -> u32 {
    use aws_lambda_events::event::sqs::SqsBatchResponse;
    use std::sync::atomic::AtomicU32;
    let clients = ocpp_bulk_tests::aws::clients().await;
    let name = format!("ocpp-bulk-recursion-{}", uuid::Uuid::new_v4().simple());
    let created = clients.sqs.create_queue().queue_name(&name).send().await.expect("queue");
    let url = created.queue_url.expect("its url");
    let traced = ocpp_bulk::lambda_like::with_trace_header(&clients.sqs);
    let invoked = Arc::new(AtomicU32::new(0));
    let handler = {
        let (invoked, traced, url) = (invoked.clone(), traced.clone(), url.clone());
        move |_event, _deadline| {
            let (invoked, traced, url) = (invoked.clone(), traced.clone(), url.clone());
            async move {
                if invoked.fetch_add(1, Ordering::SeqCst) + 1 < hops {
                    traced.send_message().queue_url(&url).message_body("next").send().await.expect("sent");
                }
                SqsBatchResponse::default()
            }
        }
    };
    let timeout = ocpp_bulk::lambda_like::WORKER_TIMEOUT;
    let poller =
        tokio::spawn(ocpp_bulk::lambda_like::poll(clients.sqs.clone(), url.clone(), None, recursion, timeout, handler));
    // The chain's first message comes from outside any invocation (an API request).
    clients.sqs.send_message().queue_url(&url).message_body("first").send().await.expect("sent");
    // Until the chain is whole, or has not grown for 3 s (a hop takes a receive and a send).
    let (mut seen, mut still) = (0, 0);
    for _ in 0..120 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = invoked.load(Ordering::SeqCst);
        still = if now == seen && now > 0 { still + 1 } else { 0 };
        if now == hops || still == 6 {
            break;
        }
        seen = now;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    poller.abort();
    invoked.load(Ordering::SeqCst)
}

/// Lambda drops the invocation after 16 of one chain unless the function allows recursion: a chain
/// of 20 is cut at 16 with `Terminate`, and runs whole with `Allow`, the worker's setting in
/// template.yaml (tests/tests/template.rs checks it).
#[tokio::test]
async fn a_chain_through_its_own_queue_is_cut_at_16_unless_the_function_allows_it() {
    use ocpp_bulk::lambda_like::{recursive_invocations_dropped, RecursiveLoop, RECURSION_LIMIT};
    let dropped = recursive_invocations_dropped();
    assert_eq!(invocations_of_a_chain(RecursiveLoop::Terminate, 20).await, RECURSION_LIMIT);
    assert!(recursive_invocations_dropped() > dropped, "the drop is counted");
    assert_eq!(invocations_of_a_chain(RecursiveLoop::Allow, 20).await, 20);
}

/// An invocation that runs past the function's timeout is stopped, as Lambda stops it, and its batch
/// is received again after the visibility timeout, not deleted (AWS only).
#[tokio::test]
async fn an_invocation_past_its_timeout_is_stopped_and_its_batch_comes_back() {
    use aws_lambda_events::event::sqs::SqsBatchResponse;
    use aws_sdk_sqs::types::QueueAttributeName;
    use std::sync::atomic::AtomicU32;
    let clients = ocpp_bulk_tests::aws::clients().await;
    let name = format!("ocpp-bulk-timeout-{}", uuid::Uuid::new_v4().simple());
    let created = clients
        .sqs
        .create_queue()
        .queue_name(&name)
        .attributes(QueueAttributeName::VisibilityTimeout, "2")
        .send()
        .await
        .expect("queue");
    let url = created.queue_url.expect("its url");
    let invoked = Arc::new(AtomicU32::new(0));
    let handler = {
        let invoked = invoked.clone();
        move |_event, deadline: tokio::time::Instant| {
            let invoked = invoked.clone();
            async move {
                // The first invocation overruns its deadline; the next is quick.
                if invoked.fetch_add(1, Ordering::SeqCst) == 0 {
                    tokio::time::sleep_until(deadline + Duration::from_secs(2)).await;
                }
                SqsBatchResponse::default()
            }
        }
    };
    let stopped = ocpp_bulk::lambda_like::invocations_timed_out();
    let recursion = ocpp_bulk::lambda_like::RecursiveLoop::Allow;
    let poller = tokio::spawn(ocpp_bulk::lambda_like::poll(
        clients.sqs.clone(),
        url.clone(),
        None,
        recursion,
        Duration::from_secs(1),
        handler,
    ));
    clients.sqs.send_message().queue_url(&url).message_body("slow").send().await.expect("sent");
    for _ in 0..40 {
        if invoked.load(Ordering::SeqCst) >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    poller.abort();
    clients.sqs.delete_queue().queue_url(&url).send().await.expect("deleted");
    assert_eq!(invoked.load(Ordering::SeqCst), 2, "received again after the stopped invocation");
    assert!(ocpp_bulk::lambda_like::invocations_timed_out() > stopped, "the stop is counted");
}
