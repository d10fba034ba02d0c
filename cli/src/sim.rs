//! Simulated OCPP-J chargers, 1.6 or 2.0.1, many per process: each connects, boots, then answers
//! every CALL the way its behaviour says (a 2.0.1 one follows an accepted report request with its
//! report, in two NotifyReport parts), and reconnects (as a real charger does) when its connection
//! closes. Used by `ocpp-bulk sim`, the demo and the end-to-end tests.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use shared::ocpp::{Command, ErrorCode, Frame, OcppVersion};
use tokio::sync::{oneshot, Semaphore};
use tokio::task::JoinHandle;

pub use crate::sim_answers::{answer_payload, long_configuration};
pub use crate::sim_jobs::JobOutcome;
use crate::sim_jobs::{Jobs, Step, JOB_NOTE};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

/// How a simulated charger answers the central system's CALLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Behaviour {
    /// CALLRESULT with the positive answer (`Accepted`, `Unlocked`, …).
    Accept,
    /// CALLRESULT with the negative answer (`Rejected`, `UnlockFailed`, …).
    Reject,
    /// CALLERROR `InternalError`.
    Error,
    /// Never answers (the run's timeout ends it).
    Silent,
}

/// Weights of each behaviour (or job outcome) across a fleet, e.g. `accept=90,reject=4,error=3,silent=3`.
#[derive(Debug, Clone)]
pub struct Mix<T = Behaviour>(pub Vec<(T, u32)>);

impl<T: clap::ValueEnum> FromStr for Mix<T> {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let mut weights = Vec::new();
        for part in text.split(',').filter(|p| !p.trim().is_empty()) {
            let (name, weight) = part.split_once('=').ok_or_else(|| format!("{part:?} is not name=weight"))?;
            let weight: u32 = weight.trim().parse().map_err(|_| format!("{weight:?} is not a whole number"))?;
            weights.push((T::from_str(name.trim(), true)?, weight));
        }
        if weights.iter().map(|(_, w)| w).sum::<u32>() == 0 {
            return Err("the weights add up to zero".into());
        }
        Ok(Mix(weights))
    }
}

impl<T: Copy> Mix<T> {
    /// The pick for the `index`th charger: deterministic, spread in proportion to the weights.
    pub fn pick(&self, index: usize) -> Option<T> {
        let total: u32 = self.0.iter().map(|(_, w)| w).sum();
        let mut slot = (index as u64 % u64::from(total.max(1))) as u32;
        for (pick, weight) in &self.0 {
            if slot < *weight {
                return Some(*pick);
            }
            slot -= weight;
        }
        None
    }
}

impl Mix<Behaviour> {
    /// The behaviour of the `index`th charger.
    pub fn behaviour(&self, index: usize) -> Behaviour {
        self.pick(index).unwrap_or(Behaviour::Accept)
    }
}

#[derive(Debug, Clone)]
pub struct SimCharger {
    pub identity: String,
    pub password: Option<String>,
    pub behaviour: Behaviour,
    /// The firmware version it boots with (none: the BootNotification leaves it out).
    pub firmware: Option<String>,
    /// The version it offers, and speaks.
    pub version: OcppVersion,
    /// How the jobs it accepts end (a firmware update, an upload: `sim_jobs`).
    pub job: JobOutcome,
    /// How long its answers and reports are.
    pub sizes: AnswerSizes,
}

/// How long a simulated charger's answers and reports are.
#[derive(Debug, Clone, Copy)]
pub struct AnswerSizes {
    /// About how many bytes of keys a 1.6 GetConfiguration of every key answers (0: one key).
    pub configuration_bytes: u64,
    /// The NotifyReport parts of a 2.0.1 report (at least 2).
    pub report_parts: u32,
}

impl Default for AnswerSizes {
    fn default() -> Self {
        AnswerSizes { configuration_bytes: 0, report_parts: 2 }
    }
}

/// Counters shared by a simulated fleet.
#[derive(Debug, Default)]
pub struct SimStats {
    pub connected: AtomicU64,
    /// CALLs received from the central system.
    pub calls: AtomicU64,
    /// Frames the central system sent that were not valid OCPP-J, or answers that were wrong.
    pub protocol_errors: AtomicU64,
    /// Connections made again after one closed.
    pub reconnects: AtomicU64,
    /// Chargers that received more than one CALL of the same action.
    pub called_twice: AtomicU64,
}

pub struct SimFleet {
    pub stats: Arc<SimStats>,
    tasks: Vec<JoinHandle<()>>,
}

impl SimFleet {
    pub fn stop(self) {
        for task in self.tasks {
            task.abort();
        }
    }
}

/// Connects and boots every charger (`concurrency` handshakes at a time) and returns once all
/// are up, or the first error.
pub async fn start(url: &str, chargers: Vec<SimCharger>, concurrency: usize) -> Result<SimFleet, String> {
    let stats = Arc::new(SimStats::default());
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = Vec::with_capacity(chargers.len());
    let mut ready = Vec::with_capacity(chargers.len());
    for charger in chargers {
        let (tx, rx) = oneshot::channel();
        ready.push(rx);
        let url = format!("{}/{}", url.trim_end_matches('/'), charger.identity);
        let stats = stats.clone();
        let permits = permits.clone();
        tasks.push(tokio::spawn(async move {
            let mut charger = charger;
            let permit = permits.clone().acquire_owned().await;
            let booted = match boot(&url, &charger).await {
                Ok(booted) => booted,
                Err(err) => {
                    let _ = tx.send(Err(format!("{}: {err}", charger.identity)));
                    return;
                }
            };
            drop(permit);
            stats.connected.fetch_add(1, Ordering::Relaxed);
            let _ = tx.send(Ok(()));
            let mut seen = HashMap::new();
            // Its jobs go on across connections, as a charger's do: a notification due while it
            // was disconnected is sent on the next, and a trigger finds where each job stands.
            let mut jobs = Jobs::default();
            let mut rebooted = answer_calls(booted, &charger, &stats, &mut seen, &mut jobs).await;
            loop {
                match rebooted.take() {
                    // Into the firmware a job installed: at once, as a charger restarts.
                    Some(firmware) => charger.firmware = Some(firmware),
                    None => tokio::time::sleep(Duration::from_millis(fastrand::u64(500..1500))).await,
                }
                let permit = permits.acquire().await;
                let Ok(booted) = boot(&url, &charger).await else {
                    continue;
                };
                drop(permit);
                stats.reconnects.fetch_add(1, Ordering::Relaxed);
                rebooted = answer_calls(booted, &charger, &stats, &mut seen, &mut jobs).await;
            }
        }));
    }
    let fleet = SimFleet { stats, tasks };
    for rx in ready {
        if let Err(err) = rx.await.unwrap_or_else(|_| Err("charger task ended".into())) {
            fleet.stop();
            return Err(err);
        }
    }
    Ok(fleet)
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A connection whose BootNotification was accepted, and the frames the central system sent
/// before its answer: a CALL may come as soon as the connection is registered, and is answered
/// once the charger has booted, never dropped.
struct Booted {
    socket: Socket,
    early: Vec<String>,
}

async fn boot(url: &str, charger: &SimCharger) -> Result<Booted, String> {
    let mut request = url.into_client_request().map_err(|e| e.to_string())?;
    let offer = HeaderValue::from_static(charger.version.subprotocol());
    request.headers_mut().insert("sec-websocket-protocol", offer);
    if let Some(password) = &charger.password {
        let credentials = STANDARD.encode(format!("{}:{password}", charger.identity));
        let value = HeaderValue::from_str(&format!("Basic {credentials}")).map_err(|e| e.to_string())?;
        request.headers_mut().insert("authorization", value);
    }
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.map_err(|e| e.to_string())?;
    // The same charger in either version's words; `firmwareVersion` is named alike in both.
    let mut described = match charger.version {
        OcppVersion::V16 => json!({"chargePointVendor": "ocpp-bulk", "chargePointModel": "sim"}),
        OcppVersion::V201 => json!({"vendorName": "ocpp-bulk", "model": "sim"}),
    };
    if let Some(firmware) = &charger.firmware {
        described["firmwareVersion"] = json!(firmware);
    }
    let payload = match charger.version {
        OcppVersion::V16 => described,
        OcppVersion::V201 => json!({"reason": "PowerUp", "chargingStation": described}),
    };
    let boot = Frame::Call { id: "boot".into(), action: "BootNotification".into(), payload };
    socket.send(Message::Text(boot.to_text().into())).await.map_err(|e| e.to_string())?;
    let mut early = Vec::new();
    while let Some(message) = socket.next().await {
        let message = message.map_err(|e| e.to_string())?;
        let Message::Text(text) = message else {
            continue;
        };
        match Frame::parse(&text) {
            Ok(Frame::CallResult { id, payload }) if id == "boot" && payload["status"] == "Accepted" => {
                return Ok(Booted { socket, early })
            }
            Ok(Frame::CallResult { id, .. } | Frame::CallError { id, .. }) if id == "boot" => {
                return Err(format!("boot refused: {text}"));
            }
            _ => early.push(text.to_string()),
        }
    }
    Err("connection closed before the boot answer".into())
}

/// Answers CALLs, and plays the jobs it accepts, until the connection closes (`None`) or a job
/// reboots the charger into a new firmware (`Some`: closed, to boot again with it). `seen` counts this
/// charger's CALLs by action, across its connections.
async fn answer_calls(
    booted: Booted,
    charger: &SimCharger,
    stats: &SimStats,
    seen: &mut HashMap<String, u32>,
    jobs: &mut Jobs,
) -> Option<String> {
    let (behaviour, version) = (charger.behaviour, charger.version);
    let Booted { mut socket, early } = booted;
    let mut early = early.into_iter();
    loop {
        let next_step = jobs.next_due();
        let message = match early.next() {
            Some(text) => Some(Ok(Message::Text(text.into()))),
            None => tokio::select! {
                message = socket.next() => message,
                () = sleep_until(next_step), if next_step.is_some() => {
                    if let Err(ended) = send_due(&mut socket, jobs).await {
                        return ended;
                    }
                    continue;
                }
            },
        };
        let Some(Ok(message)) = message else {
            return None;
        };
        let Message::Text(text) = message else {
            continue;
        };
        let (id, action, request) = match Frame::parse(&text) {
            Ok(Frame::Call { id, action, payload }) => (id, action, payload),
            // The answers to its own report parts and job notifications.
            Ok(Frame::CallResult { id, .. }) if id.starts_with(REPORT_PART) || id.starts_with(JOB_NOTE) => continue,
            _ => {
                stats.protocol_errors.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        };
        stats.calls.fetch_add(1, Ordering::Relaxed);
        let count = seen.entry(action.clone()).or_default();
        *count += 1;
        if *count == 2 {
            stats.called_twice.fetch_add(1, Ordering::Relaxed);
        }
        let positive = behaviour == Behaviour::Accept;
        let reply = match behaviour {
            Behaviour::Silent => continue,
            Behaviour::Error => Frame::call_error(&id, version, ErrorCode::InternalError, "simulated failure"),
            Behaviour::Accept | Behaviour::Reject => {
                match answer_payload(version, &action, &request, positive).map(|payload| {
                    long_configuration(version, &action, &request, payload, charger.sizes.configuration_bytes)
                }) {
                    Some(payload) => Frame::CallResult { id, payload },
                    None => Frame::call_error(&id, version, ErrorCode::NotImplemented, "unknown action"),
                }
            }
        };
        let accepted = matches!(&reply, Frame::CallResult { payload, .. } if payload.get("status").is_none_or(|s| s == "Accepted"));
        if socket.send(Message::Text(reply.to_text().into())).await.is_err() {
            return None;
        }
        let mut follow = Vec::new();
        if positive && Command::find(version, &action).is_some_and(Command::reports) {
            follow = report_parts(&request, charger.sizes.report_parts);
        }
        if positive && accepted {
            jobs.started(version, &action, &request, charger.job);
            if action.ends_with("TriggerMessage") {
                follow.extend(jobs.triggered(&request));
            }
        }
        for frame in follow {
            if socket.send(Message::Text(frame.to_text().into())).await.is_err() {
                return None;
            }
        }
    }
}

/// Sends what the charger's jobs have due. `Err`: the connection ended, `Some` with the firmware
/// it reboots into.
async fn send_due(socket: &mut Socket, jobs: &mut Jobs) -> Result<(), Option<String>> {
    for step in jobs.take_due() {
        match step {
            Step::Send(frame) => socket.send(Message::Text(frame.to_text().into())).await.map_err(|_| None)?,
            Step::Reboot(firmware) => {
                let _ = socket.close(None).await;
                return Err(Some(firmware));
            }
        }
    }
    Ok(())
}

/// Sleeps until `at` (for ever without one: the `select!` guard keeps that branch off then).
async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The message ids of a simulated charger's NotifyReport parts start with this.
const REPORT_PART: &str = "report-";

/// A report in `parts` parts (at least two), as a 2.0.1 charger sends one after accepting a report
/// request: what it is first, then its settings, ten to a part.
fn report_parts(request: &Value, parts: u32) -> Vec<Frame> {
    let request_id = request.get("requestId").cloned().unwrap_or(json!(0));
    let entry = |component: &str, variable: &str, value: &str| {
        json!({"component": {"name": component}, "variable": {"name": variable},
               "variableAttribute": [{"type": "Actual", "value": value}]})
    };
    let last = parts.max(2) - 1;
    let data = |seq_no: u32| match seq_no {
        0 => vec![entry("ChargingStation", "Model", "sim"), entry("ChargingStation", "VendorName", "ocpp-bulk")],
        _ if seq_no == last => vec![entry("OCPPCommCtrlr", "HeartbeatInterval", "300")],
        _ => (0..10).map(|i| entry("SimCtrlr", &format!("Setting{seq_no:03}x{i}"), "42")).collect(),
    };
    let generated_at = shared::clock::rfc3339(chrono::Utc::now());
    (0..=last)
        .map(|seq_no| (seq_no, seq_no < last, data(seq_no)))
        .map(|(seq_no, tbc, data)| Frame::Call {
            id: format!("{REPORT_PART}{seq_no}"),
            action: "NotifyReport".into(),
            payload: json!({"requestId": request_id, "generatedAt": generated_at, "seqNo": seq_no, "tbc": tbc,
                            "reportData": data}),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::ocpp::catalogue::COMMANDS;

    /// A request for each 2.0.1 command whose answer lists results, one item each.
    fn request(action: &str) -> Value {
        let named = json!({"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}});
        match action {
            "GetVariables" => json!({"getVariableData": [named]}),
            "SetVariables" => json!({"setVariableData": [{"attributeValue": "300",
                "component": named["component"], "variable": named["variable"]}]}),
            "SetVariableMonitoring" => json!({"setMonitoringData": [{"value": 1.0, "type": "Delta", "severity": 5,
                "component": named["component"], "variable": named["variable"]}]}),
            "ClearVariableMonitoring" => json!({"id": [3]}),
            _ => json!({}),
        }
    }

    #[test]
    fn every_answer_passes_its_official_response_schema() {
        for command in &COMMANDS {
            for positive in [true, false] {
                let payload = answer_payload(command.version, command.action, &request(command.action), positive)
                    .expect(command.action);
                assert!(command.check_response(&payload).is_ok(), "{} {positive}: {payload}", command.action);
            }
        }
    }

    #[test]
    fn a_long_configuration_passes_its_schema_and_has_the_size_asked_for() {
        let command = COMMANDS.iter().find(|c| c.version == OcppVersion::V16 && c.action == "GetConfiguration");
        let command = command.expect("GetConfiguration");
        let short = answer_payload(command.version, command.action, &json!({}), true).expect("answer");
        let long = long_configuration(command.version, command.action, &json!({}), short.clone(), 15_000);
        assert!(command.check_response(&long).is_ok(), "{long}");
        let bytes = long.to_string().len();
        assert!((15_000..16_000).contains(&bytes), "{bytes} bytes");
        let asked = json!({"key": ["HeartbeatInterval"]});
        assert_eq!(long_configuration(command.version, command.action, &asked, short.clone(), 15_000), short);
    }

    #[test]
    fn a_201_report_comes_in_parts_that_pass_their_schema() {
        let now = chrono::Utc::now();
        let parts = report_parts(&json!({"requestId": 9, "reportBase": "FullInventory"}), 20);
        assert_eq!(parts.len(), 20);
        for part in parts {
            let Frame::Call { action, payload, .. } = part else { panic!("not a CALL") };
            let answer = shared::ocpp::charger_calls::answer(OcppVersion::V201, &action, &payload, now);
            assert!(answer.is_ok(), "{payload}: {answer:?}");
        }
    }

    #[test]
    fn mixes_spread_behaviours_by_weight() {
        let mix: Mix = "accept=2,silent=1".parse().unwrap();
        let got: Vec<_> = (0..6).map(|i| mix.behaviour(i)).collect();
        assert_eq!(got.iter().filter(|b| **b == Behaviour::Silent).count(), 2);
        assert!("accept=0".parse::<Mix>().is_err());
        assert!("dance=1".parse::<Mix>().is_err());
    }
}
