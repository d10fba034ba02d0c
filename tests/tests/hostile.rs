//! Hostile input at the public port, on both backends: requests hyper cannot parse, slow and idle
//! connections, a flood of connections, charger connections that never close, oversized frames,
//! unbounded charger text, and unauthenticated requests, each answered within bounds and in the
//! API's JSON error shape.

use std::time::Duration;

use ocpp_bulk_tests::harness::{cp, fleet, ids, Backend, RawCharger, TestStack};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BULK: &str = "/v3/chargers/commands/bulk";

fn address(stack: &TestStack) -> String {
    stack.base.trim_start_matches("http://").to_owned()
}

/// Sends `request` on a fresh connection and reads until the server closes it (or 5 s pass).
async fn raw(stack: &TestStack, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(address(stack)).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// (status, JSON body) of a raw HTTP answer.
fn parse(answer: &str) -> (u16, Value) {
    let status = answer.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((answer, ""));
    assert!(head.to_ascii_lowercase().contains("content-type: application/json"), "not JSON: {answer:?}");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

async fn requests_that_cannot_be_parsed_get_json_errors(backend: Backend) {
    let stack = TestStack::start(backend, &fleet(1)).await;
    let (status, body) = parse(&raw(&stack, b"NOT A REQUEST LINE\r\n\r\n").await);
    assert_eq!((status, body["message"].is_string()), (400, true));
    let long_uri = format!("GET /{} HTTP/1.1\r\nhost: x\r\n\r\n", "a".repeat(70_000));
    let (status, body) = parse(&raw(&stack, long_uri.as_bytes()).await);
    assert_eq!((status, body), (414, json!({"message": "The request URI is too long."})));
    let many_headers: String = (0..120).map(|i| format!("x-h{i}: v\r\n")).collect();
    let (status, _) =
        parse(&raw(&stack, format!("GET {BULK} HTTP/1.1\r\nhost: x\r\n{many_headers}\r\n").as_bytes()).await);
    assert_eq!(status, 431);
    // A charger route with an unreadable identity, and one without a WebSocket handshake.
    let (status, body) = parse(&raw(&stack, b"GET /ocpp/%FF HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").await);
    assert_eq!((status, body["message"].is_string()), (400, true), "{body}");
    let (status, _) = parse(&raw(&stack, b"GET /ocpp/CP0 HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").await);
    assert!((400..500).contains(&status));
}

async fn every_answer_carries_the_rate_limit_and_failed_logins_are_limited(backend: Backend) {
    let stack = TestStack::start(backend, &fleet(1)).await;
    let client = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", stack.base);
    // Stay inside one minute window.
    let second = chrono::Timelike::second(&chrono::Utc::now());
    if second >= 50 {
        tokio::time::sleep(Duration::from_secs(u64::from(61 - second))).await;
    }
    for (request, status) in [
        (client.get(url("/v3/elsewhere")).bearer_auth(ocpp_bulk_tests::harness::ALICE), 404),
        (client.delete(url(BULK)).bearer_auth(ocpp_bulk_tests::harness::ALICE), 405),
        (client.get(url(BULK)), 401),
    ] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), status);
        assert!(response.headers().contains_key("x-ratelimit-limit"), "{status}");
        assert!(response.headers().contains_key("x-ratelimit-remaining"), "{status}");
    }
    let limit = api::UNAUTHENTICATED_PER_MINUTE;
    let mut statuses = Vec::new();
    for _ in 1..limit + 2 {
        let response = client.get(url(BULK)).bearer_auth("guessed-token").send().await.unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses.iter().filter(|s| **s == 401).count(), limit as usize - 1, "one 401 was spent above");
    assert_eq!(statuses.last(), Some(&429), "guessing tokens is limited per source address");
    let (status, _) = stack.request("GET", BULK, Some(ocpp_bulk_tests::harness::ALICE), None).await;
    assert_eq!(status, 429, "past the limit, not even a right token is looked at this minute");
}

async fn idle_slow_and_surplus_connections_are_closed(backend: Backend) {
    let stack = TestStack::start_customized(backend, &fleet(1), |stack| {
        stack.limits.max_connections = 3;
        stack.limits.header_read_timeout = Duration::from_secs(1);
        stack.limits.body_read_timeout = Duration::from_secs(1);
    })
    .await;
    // A connection that never sends a request, one that stops halfway through its headers, and one
    // whose body stops halfway.
    let opened = tokio::time::Instant::now();
    let mut silent = TcpStream::connect(address(&stack)).await.unwrap();
    let mut slow = TcpStream::connect(address(&stack)).await.unwrap();
    slow.write_all(b"GET /v3/chargers HTTP/1.1\r\nhost: x\r\n").await.unwrap();
    let mut slow_body = TcpStream::connect(address(&stack)).await.unwrap();
    let head = format!("POST {BULK} HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{{\"command\":");
    slow_body.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The cap is reached: one more is refused in the API's error shape.
    let (status, body) = parse(&raw(&stack, b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").await);
    assert_eq!(status, 503);
    assert!(body["message"].as_str().unwrap().contains("at most 3"));
    for stream in [&mut silent, &mut slow] {
        let mut rest = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(4), stream.read_to_end(&mut rest)).await;
        assert!(read.is_ok(), "closed after the header-read timeout");
        assert!(opened.elapsed() >= Duration::from_millis(900), "not before it");
    }
    let mut late = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(4), slow_body.read_to_end(&mut late)).await;
    let (status, body) = parse(&String::from_utf8_lossy(&late));
    assert_eq!((status, body["message"].is_string()), (408, true), "a body that stops halfway");
    // Their slots are free again; a kept-alive connection is closed once idle as long.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut kept = TcpStream::connect(address(&stack)).await.unwrap();
    kept.write_all(b"GET /v3/elsewhere HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    let mut buffer = vec![0; 4096];
    let n = kept.read(&mut buffer).await.unwrap();
    assert!(String::from_utf8_lossy(&buffer[..n]).starts_with("HTTP/1.1 401"));
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(4), kept.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "an idle keep-alive connection is closed");
}

async fn charger_connections_keep_api_gateways_limits(backend: Backend) {
    let stack = TestStack::start_customized(backend, &fleet(2), |stack| {
        stack.limits.idle = Duration::from_secs(1);
        stack.limits.close_timeout = Duration::from_secs(1);
    })
    .await;
    // A frame over 32 KB, or a message over 128 KB in frames under it, closes the connection, as
    // API Gateway does (1009).
    let big = json!([2, "1", "DataTransfer", {"vendorId": "x", "data": "d".repeat(150_000)}]).to_string();
    let mut one_frame = RawCharger::connect(&stack.ws, &cp(0)).await;
    one_frame.send(&big[..40_000]).await;
    assert_eq!(one_frame.close_code(Duration::from_secs(3)).await, Some(1009), "a 40 KB frame");
    let mut fragments = RawCharger::connect(&stack.ws, &cp(0)).await;
    fragments.send_fragmented(&big, 30_000).await;
    assert_eq!(fragments.close_code(Duration::from_secs(3)).await, Some(1009), "a 150 KB message in 30 KB frames");
    let mut fine = RawCharger::connect(&stack.ws, &cp(0)).await;
    let under = json!([2, "2", "DataTransfer", {"vendorId": "x", "data": "d".repeat(100_000)}]).to_string();
    fine.send_fragmented(&under, 30_000).await;
    assert_eq!(fine.next(Duration::from_secs(3)).await.expect("an answer")[2]["status"], "UnknownVendorId");
    // A silent charger is closed once idle; one that does not answer our Close is dropped anyway.
    let mut silent = TcpStream::connect(address(&stack)).await.unwrap();
    let handshake = format!(
        "GET /ocpp/{} HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\
         sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\nsec-websocket-protocol: ocpp1.6\r\n\r\n",
        cp(1)
    );
    silent.write_all(handshake.as_bytes()).await.unwrap();
    let started = tokio::time::Instant::now();
    let mut everything = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(6), silent.read_to_end(&mut everything)).await;
    assert!(read.is_ok(), "dropped after idle + close timeout");
    assert!(started.elapsed() >= Duration::from_secs(1));
    let text = String::from_utf8_lossy(&everything);
    assert!(text.starts_with("HTTP/1.1 101"), "{text}");
    let head = text.find("\r\n\r\n").unwrap() + 4;
    assert_eq!(everything.get(head), Some(&0x88), "a Close frame came before the drop");
}

async fn charger_text_is_kept_bounded(backend: Backend) {
    let stack = TestStack::start(backend, &fleet(2)).await;
    let mut a = RawCharger::connect(&stack.ws, &cp(0)).await;
    let mut b = RawCharger::connect(&stack.ws, &cp(1)).await;
    let run = stack.create("GetConfiguration", json!({}), &ids(&[&cp(0), &cp(1)]), json!({})).await;
    let id = run["uuid"].as_str().unwrap();
    let call = a.next(Duration::from_secs(5)).await.expect("a CALL");
    // Each frame under API Gateway's 32 KB, which the local server keeps too.
    a.send(&json!([4, call[1], "GenericError", "e".repeat(30_000), {}]).to_string()).await;
    let call = b.next(Duration::from_secs(5)).await.expect("a CALL");
    let keys: Vec<Value> =
        (0..150).map(|i| json!({"key": format!("Key{i}"), "readonly": true, "value": "v".repeat(100)})).collect();
    b.send(&json!([3, call[1], {"configurationKey": keys}]).to_string()).await;
    stack.completed(id, Duration::from_secs(10)).await;
    let results = stack.all_results(id).await;
    let error = results.iter().find(|r| r["status"] == "error").expect("the CALLERROR");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.len() <= shared::domain::result::MAX_KEPT_MESSAGE_BYTES && message.contains("truncated"),
        "{message}"
    );
    let sent = results.iter().find(|r| r["status"] == "sent").expect("the big CALLRESULT");
    assert_eq!(sent["response"], Value::Null);
    assert!(sent["message"].as_str().unwrap().contains("is not kept"), "{sent}");
    // The run, with both results, is a small answer.
    let (_, body) = stack.request("GET", &format!("{BULK}/{id}"), Some(ocpp_bulk_tests::harness::ALICE), None).await;
    assert!(body.to_string().len() < 16 * 1024);
}

ocpp_bulk_tests::on_both_backends!(
    requests_that_cannot_be_parsed_get_json_errors,
    every_answer_carries_the_rate_limit_and_failed_logins_are_limited,
    idle_slow_and_surplus_connections_are_closed,
    charger_connections_keep_api_gateways_limits,
    charger_text_is_kept_bounded
);
