//! Starts the embedded stack behind the real local server on 127.0.0.1:0 and talks to it the way
//! clients and chargers do: HTTP and WebSocket.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use ocpp_bulk::sim::{self, AnswerSizes, Behaviour, JobOutcome, SimCharger, SimFleet};
use ocpp_bulk::stack::{AwsOptions, Stack};
use serde_json::{json, Value};
use shared::domain::fleet::{Fleet, FleetCharger, FleetToken};
use shared::embedded::QueueOptions;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

pub const ALICE: &str = "token-alice-0001";
pub const BOB: &str = "token-bob-0002";

pub fn charger_uuid(identity: &str) -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_URL, format!("e2e/{identity}").as_bytes())
}

/// `count` chargers `CP00000…` of team `acme` (alice's), plus `FOREIGN1` of team `other` (bob's)
/// and `LOCKED1` of team `acme` with password `locked-secret`.
pub fn fleet(count: usize) -> Fleet {
    let mut chargers: Vec<FleetCharger> = (0..count)
        .map(|i| {
            let identity = format!("CP{i:05}");
            FleetCharger {
                uuid: charger_uuid(&identity),
                identity,
                reference: Some(format!("bay {i}")),
                team: "acme".into(),
                password: None,
            }
        })
        .collect();
    chargers.push(FleetCharger {
        uuid: charger_uuid("FOREIGN1"),
        identity: "FOREIGN1".into(),
        reference: None,
        team: "other".into(),
        password: None,
    });
    chargers.push(FleetCharger {
        uuid: charger_uuid("LOCKED1"),
        identity: "LOCKED1".into(),
        reference: None,
        team: "acme".into(),
        password: Some("locked-secret".into()),
    });
    Fleet {
        tokens: vec![
            FleetToken { token: ALICE.into(), user: "alice".into(), teams: vec!["acme".into()] },
            FleetToken { token: BOB.into(), user: "bob".into(), teams: vec!["other".into()] },
        ],
        chargers,
    }
}

/// Which adapter set the stack runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Embedded,
    /// DynamoDB and SQS on moto's server, frames through the management-API client.
    Aws,
}

pub struct TestStack {
    pub stack: Stack,
    pub backend: Backend,
    pub base: String,
    pub ws: String,
    http: reqwest::Client,
}

impl TestStack {
    pub async fn start(backend: Backend, fleet: &Fleet) -> TestStack {
        Self::start_with(backend, fleet, false, api::DEFAULT_RATE_LIMIT_PER_MINUTE).await
    }

    /// A stack changed by `customize` before it serves (a port swapped for a failing one, say).
    pub async fn start_customized(backend: Backend, fleet: &Fleet, customize: impl FnOnce(&mut Stack)) -> TestStack {
        Self::start_inner(backend, fleet, false, api::DEFAULT_RATE_LIMIT_PER_MINUTE, customize).await
    }

    /// A stack whose API allows each user `per_minute` requests a minute.
    pub async fn start_rate_limited(backend: Backend, fleet: &Fleet, per_minute: u32) -> TestStack {
        Self::start_with(backend, fleet, false, per_minute).await
    }

    /// A stack whose queue delivers every message twice.
    pub async fn start_duplicating(backend: Backend, fleet: &Fleet) -> TestStack {
        Self::start_with(backend, fleet, true, api::DEFAULT_RATE_LIMIT_PER_MINUTE).await
    }

    async fn start_with(backend: Backend, fleet: &Fleet, duplicate_deliveries: bool, per_minute: u32) -> TestStack {
        Self::start_inner(backend, fleet, duplicate_deliveries, per_minute, |_| {}).await
    }

    async fn start_inner(
        backend: Backend,
        fleet: &Fleet,
        duplicate_deliveries: bool,
        per_minute: u32,
        customize: impl FnOnce(&mut Stack),
    ) -> TestStack {
        let provisioned = fleet.provision().expect("test fleet is valid");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        // Customized before the worker's consumer or pollers start, so they run the customized worker.
        let customize = |stack: &mut Stack| {
            stack.api.rate_limit_per_minute = per_minute;
            customize(stack);
        };
        let stack = match backend {
            Backend::Embedded => Stack::embedded_customized(
                &provisioned,
                QueueOptions { duplicate_deliveries, ..QueueOptions::default() },
                customize,
            ),
            Backend::Aws => {
                let clients = crate::aws::clients().await;
                let resources = crate::aws::provision(&clients, "e2e", fleet).await;
                // The management API stand-in throttles a share of posts, as API Gateway does.
                let options =
                    AwsOptions { duplicate_deliveries, management_throttle_rate: 0.02, ..AwsOptions::default() };
                let (management, endpoint) = ocpp_bulk::server::management_listener().await.expect("bind");
                let stack = Stack::aws_customized(&clients, &resources, &endpoint, &options, customize);
                tokio::spawn(ocpp_bulk::server::serve_management(management, stack.clone()));
                stack
            }
        };
        tokio::spawn(ocpp_bulk::server::serve(listener, stack.clone()));
        TestStack {
            stack,
            backend,
            base: format!("http://{address}"),
            ws: format!("ws://{address}/ocpp"),
            http: reqwest::Client::new(),
        }
    }

    /// A short `timeout_seconds` for runs with silent chargers: moto's server answers a few
    /// hundred requests a second, so on the AWS backend an answer needs more time to be in time.
    pub fn short_timeout(&self) -> u32 {
        match self.backend {
            Backend::Embedded => 1,
            Backend::Aws => 5,
        }
    }

    /// Any request; returns status, headers and JSON body (Null when the body is not JSON).
    pub async fn request(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let content_type =
            response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let text = response.text().await.expect("body");
        assert!(content_type.starts_with("application/json"), "{status} answered {content_type:?}: {text}");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// POSTs a bulk command as alice and returns the run (asserting 202).
    pub async fn create(&self, command: &str, data: Value, ids: &[String], extra: Value) -> Value {
        let mut body = json!({"command": command, "data": data, "charger_ids": ids});
        if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
            body.extend(extra);
        }
        let (status, body) = self.request("POST", "/v3/chargers/commands/bulk", Some(ALICE), Some(body)).await;
        assert_eq!(status, 202, "{body}");
        body["data"].clone()
    }

    pub async fn run(&self, id: &str) -> Value {
        let (status, body) = self.request("GET", &format!("/v3/chargers/commands/bulk/{id}"), Some(ALICE), None).await;
        assert_eq!(status, 200, "{body}");
        body["data"].clone()
    }

    /// Polls until the run completes (at most `within`), then returns it.
    pub async fn completed(&self, id: &str, within: Duration) -> Value {
        let within = if self.backend == Backend::Aws { within * 4 } else { within };
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let run = self.run(id).await;
            if run["status"] == "completed" {
                return run;
            }
            assert!(tokio::time::Instant::now() < deadline, "run did not complete in {within:?}: {run}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn all_results(&self, id: &str) -> Vec<Value> {
        ocpp_bulk::send::ApiClient::new(&self.base, ALICE).all_results(id).await.expect("results")
    }

    pub async fn sims(&self, identities: impl IntoIterator<Item = (String, Behaviour)>) -> SimFleet {
        let chargers = identities
            .into_iter()
            .map(|(identity, behaviour)| SimCharger {
                identity,
                password: None,
                behaviour,
                firmware: None,
                version: Default::default(),
                job: JobOutcome::Succeed,
                sizes: AnswerSizes::default(),
            })
            .collect();
        sim::start(&self.ws, chargers, 100).await.expect("simulated chargers connect")
    }
}

pub fn ids(identities: &[&str]) -> Vec<String> {
    identities.iter().map(|i| charger_uuid(i).to_string()).collect()
}

pub fn cp(i: usize) -> String {
    format!("CP{i:05}")
}

/// Counters add up and match the results.
pub fn assert_consistent(run: &Value, results: &[Value]) {
    let count = |status: &str| results.iter().filter(|r| r["status"] == status).count() as u64;
    assert_eq!(run["status"], "completed");
    assert_eq!(results.len() as u64, run["total_count"].as_u64().unwrap());
    assert_eq!(count("sent"), run["sent_count"].as_u64().unwrap(), "{run}");
    assert_eq!(count("offline"), run["offline_count"].as_u64().unwrap(), "{run}");
    assert_eq!(count("error"), run["error_count"].as_u64().unwrap(), "{run}");
    assert_eq!(count("skipped_forbidden"), run["skipped_count"].as_u64().unwrap(), "{run}");
    assert_eq!(count("pending"), 0);
}

/// A charger driven by hand: raw OCPP-J frames over a real WebSocket.
pub struct RawCharger {
    socket: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
}

pub enum Handshake {
    Ok(Box<RawCharger>, Option<String>),
    Refused(u16),
}

impl RawCharger {
    /// Connects with the given subprotocol offer and `Authorization` header.
    pub async fn handshake(url: &str, protocols: Option<&str>, authorization: Option<&str>) -> Handshake {
        let mut request = url.into_client_request().expect("url");
        if let Some(protocols) = protocols {
            request.headers_mut().insert("sec-websocket-protocol", HeaderValue::from_str(protocols).expect("header"));
        }
        if let Some(authorization) = authorization {
            request.headers_mut().insert("authorization", HeaderValue::from_str(authorization).expect("header"));
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((socket, response)) => {
                let protocol =
                    response.headers().get("sec-websocket-protocol").and_then(|v| v.to_str().ok()).map(str::to_owned);
                Handshake::Ok(Box::new(RawCharger { socket }), protocol)
            }
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                Handshake::Refused(response.status().as_u16())
            }
            Err(err) => panic!("handshake failed unexpectedly: {err}"),
        }
    }

    pub async fn connect(base: &str, identity: &str) -> RawCharger {
        match Self::handshake(&format!("{base}/{identity}"), Some("ocpp1.6"), None).await {
            Handshake::Ok(charger, _) => *charger,
            Handshake::Refused(status) => panic!("{identity} refused with {status}"),
        }
    }

    pub async fn send(&mut self, text: &str) {
        self.socket.send(Message::Text(text.into())).await.expect("send");
    }

    /// Sends `text` as one message in frames of at most `frame_bytes` (a continuation each).
    pub async fn send_fragmented(&mut self, text: &str, frame_bytes: usize) {
        use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
        use tokio_tungstenite::tungstenite::protocol::frame::Frame;
        let chunks: Vec<&[u8]> = text.as_bytes().chunks(frame_bytes).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            let opcode = OpCode::Data(if i == 0 { Data::Text } else { Data::Continue });
            let frame = Frame::message(chunk.to_vec(), opcode, i + 1 == chunks.len());
            if self.socket.send(Message::Frame(frame)).await.is_err() {
                return; // the server may close before the last frame
            }
        }
    }

    /// The next text frame, or None when the connection closes or nothing comes within `wait`.
    pub async fn next(&mut self, wait: Duration) -> Option<Value> {
        loop {
            match tokio::time::timeout(wait, self.socket.next()).await {
                Ok(Some(Ok(Message::Text(text)))) => {
                    return Some(serde_json::from_str(&text).expect("server frames are JSON"))
                }
                Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) | Err(_) => return None,
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    /// Whether the server closes the connection within `wait` (silence is not a close).
    pub async fn closed_within(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.socket.next()).await {
                Err(_) => return false,
                Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => return true,
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    /// The code of the Close frame the server sends within `wait`, if it sends one.
    pub async fn close_code(&mut self, wait: Duration) -> Option<u16> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.socket.next()).await {
                Ok(Some(Ok(Message::Close(frame)))) => return frame.map(|f| u16::from(f.code)),
                Ok(Some(Ok(_))) => continue,
                _ => return None,
            }
        }
    }

    /// Sends a frame and returns the server's answer.
    pub async fn ask(&mut self, text: &str) -> Value {
        self.send(text).await;
        self.next(Duration::from_secs(5)).await.expect("an answer")
    }
}

/// One `#[tokio::test]` per backend for each scenario `async fn name(backend: Backend)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario($crate::harness::Backend::Embedded).await
                }
            )*
        }
        mod aws {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario($crate::harness::Backend::Aws).await
                }
            )*
        }
    };
}
