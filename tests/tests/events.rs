//! Every sample event in `events/` (for `cargo lambda invoke --data-file`) parses as the event its
//! function takes, and its handler answers it as expected on the embedded adapters, with the
//! fleet of `fleet.example.json`. A new event file without an expectation here fails the test.

use std::path::PathBuf;
use std::sync::Arc;

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use aws_lambda_events::encodings::Body;
use aws_lambda_events::event::sqs::SqsEvent;
use ocpp_bulk::stack::Stack;
use shared::domain::fleet::Fleet;
use shared::embedded::{MemoryGateway, QueueOptions};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(name: &str) -> String {
    std::fs::read_to_string(root().join("events").join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn websocket_event(name: &str) -> ApiGatewayWebsocketProxyRequest {
    serde_json::from_str(&read(name)).unwrap_or_else(|e| panic!("{name} is not a WebSocket event: {e}"))
}

async fn api_status(stack: &Stack, name: &str) -> u16 {
    let request =
        lambda_http::request::from_str(&read(name)).unwrap_or_else(|e| panic!("{name} is not an HTTP API event: {e}"));
    api::handle(&stack.api, request).await.status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sample_event_is_handled() {
    let fleet = Fleet::load(&root().join("fleet.example.json")).expect("fleet.example.json");
    let stack = Stack::embedded(&fleet.provision().expect("valid fleet"), QueueOptions::default());
    let mut checked = Vec::new();

    assert_eq!(api_status(&stack, "api-post-bulk.json").await, 202);
    assert_eq!(api_status(&stack, "api-post-bulk-invalid.json").await, 422);
    assert_eq!(api_status(&stack, "api-get-run.json").await, 404, "an unknown run");
    assert_eq!(api_status(&stack, "api-list-runs.json").await, 200);
    checked.extend(["api-post-bulk.json", "api-post-bulk-invalid.json", "api-get-run.json", "api-list-runs.json"]);
    // A console file, asked for without a token as a browser does.
    let request = lambda_http::request::from_str(&read("api-get-console-file.json")).expect("an HTTP API event");
    let file = api::handle(&stack.api, request).await;
    assert_eq!(file.status().as_u16(), 200);
    assert_eq!(file.headers()["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(file.headers()["content-security-policy"], api::console::CONTENT_SECURITY_POLICY);
    checked.push("api-get-console-file.json");

    let batch: SqsEvent = serde_json::from_str(&read("worker-sqs-batch.json")).expect("an SQS event");
    assert_eq!(batch.records.len(), 3);
    let answer = worker::handle(&stack.worker, batch).await;
    assert!(answer.batch_item_failures.is_empty(), "unknown runs and unreadable bodies are dropped, not retried");
    checked.push("worker-sqs-batch.json");

    // The WebSocket events share one connection id, as one charger's session would.
    let gateway = MemoryGateway::new();
    let websocket = websocket::WebsocketContext { gateway: Arc::new(gateway.clone()), ..stack.websocket.clone() };
    let connect = websocket::handle(&websocket, websocket_event("websocket-connect.json")).await;
    assert_eq!(connect.status_code, 200);
    assert_eq!(connect.headers.get("sec-websocket-protocol").and_then(|v| v.to_str().ok()), Some("ocpp1.6"));
    let mut mismatched = websocket_event("websocket-connect.json");
    mismatched.request_context.authorizer.fields.insert("identity".into(), serde_json::json!("EVENTS01"));
    let refused = websocket::handle(&websocket, mismatched).await.status_code;
    assert_eq!(refused, 404, "the authorizer named another charger than the one whose password is checked");
    let with_password = websocket::handle(&websocket, websocket_event("websocket-connect-basic-auth.json")).await;
    assert_eq!(with_password.status_code, 200, "EVENTS01 with its password");
    let mut no_password = websocket_event("websocket-connect-basic-auth.json");
    no_password.headers.remove("authorization");
    assert_eq!(websocket::handle(&websocket, no_password).await.status_code, 401);
    let boot = websocket::handle(&websocket, websocket_event("websocket-default-boot-notification.json")).await;
    let Some(Body::Text(frame)) = boot.body else { panic!("a BootNotification gets an answer") };
    let frame: serde_json::Value = serde_json::from_str(&frame).expect("JSON frame");
    assert_eq!((frame[0].clone(), frame[2]["status"].clone()), (serde_json::json!(3), serde_json::json!("Accepted")));
    for name in ["websocket-default-callresult.json", "websocket-default-callerror.json"] {
        let answer = websocket::handle(&websocket, websocket_event(name)).await;
        assert_eq!(
            (answer.status_code, answer.body.is_none()),
            (200, true),
            "{name}: an unknown CALL's answer changes nothing"
        );
    }
    assert_eq!(websocket::handle(&websocket, websocket_event("websocket-disconnect.json")).await.status_code, 200);
    let request = serde_json::from_str(&read("websocket-authorizer.json")).expect("an authorizer request");
    assert!(websocket::authorizer::is_authorizer_request(&request));
    let request = serde_json::from_value(request).expect("a REQUEST authorizer event");
    let allowed = serde_json::to_value(websocket::authorizer::authorize(&request)).expect("JSON");
    assert_eq!(allowed["context"]["identity"], "EVENTS01", "the identity every later event carries");
    assert_eq!(allowed["policyDocument"]["Statement"][0]["Effect"], "Allow");
    checked.extend([
        "websocket-authorizer.json",
        "websocket-connect.json",
        "websocket-connect-basic-auth.json",
        "websocket-default-boot-notification.json",
        "websocket-default-callresult.json",
        "websocket-default-callerror.json",
        "websocket-disconnect.json",
    ]);

    let mut files: Vec<String> = std::fs::read_dir(root().join("events"))
        .expect("events/")
        .map(|entry| entry.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    checked.sort();
    assert_eq!(files, checked, "every file in events/ has an expectation here");
}
