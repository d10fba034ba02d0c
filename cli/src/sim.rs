//! Simulated OCPP 1.6-J chargers, many per process: each connects, boots, then answers every CALL
//! the way its behaviour says, and reconnects (as a real charger does) when its connection closes.
//! Used by `ocpp-bulk sim`, the demo and the end-to-end tests.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use shared::ocpp::{ErrorCode, Frame, SUBPROTOCOL};
use tokio::sync::{oneshot, Semaphore};
use tokio::task::JoinHandle;
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

impl FromStr for Behaviour {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        <Behaviour as clap::ValueEnum>::from_str(text, true)
    }
}

/// Weights of each behaviour across a fleet, e.g. `accept=90,reject=4,error=3,silent=3`.
#[derive(Debug, Clone)]
pub struct Mix(pub Vec<(Behaviour, u32)>);

impl FromStr for Mix {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let mut weights = Vec::new();
        for part in text.split(',').filter(|p| !p.trim().is_empty()) {
            let (name, weight) = part.split_once('=').ok_or_else(|| format!("{part:?} is not behaviour=weight"))?;
            let weight: u32 = weight.trim().parse().map_err(|_| format!("{weight:?} is not a whole number"))?;
            weights.push((name.trim().parse()?, weight));
        }
        if weights.iter().map(|(_, w)| w).sum::<u32>() == 0 {
            return Err("the weights add up to zero".into());
        }
        Ok(Mix(weights))
    }
}

impl Mix {
    /// The behaviour of the `index`th charger: deterministic, spread in proportion to the weights.
    pub fn behaviour(&self, index: usize) -> Behaviour {
        let total: u32 = self.0.iter().map(|(_, w)| w).sum();
        let mut slot = (index as u64 % u64::from(total.max(1))) as u32;
        for (behaviour, weight) in &self.0 {
            if slot < *weight {
                return *behaviour;
            }
            slot -= weight;
        }
        Behaviour::Accept
    }
}

#[derive(Debug, Clone)]
pub struct SimCharger {
    pub identity: String,
    pub password: Option<String>,
    pub behaviour: Behaviour,
    /// The firmware version it boots with (none: the BootNotification leaves it out).
    pub firmware: Option<String>,
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
            let permit = permits.clone().acquire_owned().await;
            let socket = match boot(&url, &charger).await {
                Ok(socket) => socket,
                Err(err) => {
                    let _ = tx.send(Err(format!("{}: {err}", charger.identity)));
                    return;
                }
            };
            drop(permit);
            stats.connected.fetch_add(1, Ordering::Relaxed);
            let _ = tx.send(Ok(()));
            let mut seen = HashMap::new();
            answer_calls(socket, charger.behaviour, &stats, &mut seen).await;
            loop {
                tokio::time::sleep(Duration::from_millis(fastrand::u64(500..1500))).await;
                let permit = permits.acquire().await;
                let Ok(socket) = boot(&url, &charger).await else {
                    continue;
                };
                drop(permit);
                stats.reconnects.fetch_add(1, Ordering::Relaxed);
                answer_calls(socket, charger.behaviour, &stats, &mut seen).await;
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

async fn boot(url: &str, charger: &SimCharger) -> Result<Socket, String> {
    let mut request = url.into_client_request().map_err(|e| e.to_string())?;
    request.headers_mut().insert("sec-websocket-protocol", HeaderValue::from_static(SUBPROTOCOL));
    if let Some(password) = &charger.password {
        let credentials = STANDARD.encode(format!("{}:{password}", charger.identity));
        let value = HeaderValue::from_str(&format!("Basic {credentials}")).map_err(|e| e.to_string())?;
        request.headers_mut().insert("authorization", value);
    }
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.map_err(|e| e.to_string())?;
    let mut payload = json!({"chargePointVendor": "ocpp-bulk", "chargePointModel": "sim"});
    if let Some(firmware) = &charger.firmware {
        payload["firmwareVersion"] = json!(firmware);
    }
    let boot = Frame::Call { id: "boot".into(), action: "BootNotification".into(), payload };
    socket.send(Message::Text(boot.to_text().into())).await.map_err(|e| e.to_string())?;
    while let Some(message) = socket.next().await {
        let message = message.map_err(|e| e.to_string())?;
        let Message::Text(text) = message else {
            continue;
        };
        match Frame::parse(&text) {
            Ok(Frame::CallResult { id, payload }) if id == "boot" && payload["status"] == "Accepted" => {
                return Ok(socket)
            }
            Ok(Frame::CallResult { id, .. } | Frame::CallError { id, .. }) if id == "boot" => {
                return Err(format!("boot refused: {text}"));
            }
            _ => continue,
        }
    }
    Err("connection closed before the boot answer".into())
}

/// Answers CALLs until the connection closes. `seen` counts this charger's CALLs by action, across
/// its connections.
async fn answer_calls(mut socket: Socket, behaviour: Behaviour, stats: &SimStats, seen: &mut HashMap<String, u32>) {
    while let Some(Ok(message)) = socket.next().await {
        let Message::Text(text) = message else {
            continue;
        };
        let Ok(Frame::Call { id, action, .. }) = Frame::parse(&text) else {
            stats.protocol_errors.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        stats.calls.fetch_add(1, Ordering::Relaxed);
        let count = seen.entry(action.clone()).or_default();
        *count += 1;
        if *count == 2 {
            stats.called_twice.fetch_add(1, Ordering::Relaxed);
        }
        let reply = match behaviour {
            Behaviour::Silent => continue,
            Behaviour::Error => Frame::call_error(&id, ErrorCode::InternalError, "simulated failure"),
            Behaviour::Accept | Behaviour::Reject => match answer_payload(&action, behaviour == Behaviour::Accept) {
                Some(payload) => Frame::CallResult { id, payload },
                None => Frame::call_error(&id, ErrorCode::NotImplemented, "unknown action"),
            },
        };
        if socket.send(Message::Text(reply.to_text().into())).await.is_err() {
            break;
        }
    }
}

/// A schema-valid answer to each of the 26 commands, positive or negative.
pub fn answer_payload(action: &str, positive: bool) -> Option<Value> {
    let status = |yes: &str, no: &str| Some(json!({"status": if positive { yes } else { no }}));
    match action {
        "GetConfiguration" => {
            Some(json!({"configurationKey": [{"key": "HeartbeatInterval", "readonly": false, "value": "300"}]}))
        }
        "GetLocalListVersion" => Some(json!({"listVersion": if positive { 1 } else { -1 }})),
        "GetDiagnostics" => Some(if positive { json!({"fileName": "diagnostics.log"}) } else { json!({}) }),
        "UpdateFirmware" => Some(json!({})),
        "UnlockConnector" => status("Unlocked", "UnlockFailed"),
        "ClearChargingProfile" => status("Accepted", "Unknown"),
        "ChangeAvailability" => status("Accepted", "Rejected"),
        "ChangeConfiguration" => status("Accepted", "Rejected"),
        "SendLocalList" => status("Accepted", "Failed"),
        "TriggerMessage" => status("Accepted", "Rejected"),
        "ReserveNow" => status("Accepted", "Rejected"),
        "DataTransfer" => status("Accepted", "Rejected"),
        "GetLog" => Some(if positive {
            json!({"status": "Accepted", "filename": "diagnostics.log"})
        } else {
            json!({"status": "Rejected"})
        }),
        "GetInstalledCertificateIds" => status("Accepted", "NotFound"),
        "DeleteCertificate" => status("Accepted", "NotFound"),
        "InstallCertificate" | "SignedUpdateFirmware" => status("Accepted", "Rejected"),
        "CertificateSigned" | "ExtendedTriggerMessage" => status("Accepted", "Rejected"),
        "CancelReservation"
        | "ClearCache"
        | "GetCompositeSchedule"
        | "RemoteStartTransaction"
        | "RemoteStopTransaction"
        | "Reset"
        | "SetChargingProfile" => status("Accepted", "Rejected"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::ocpp::catalogue::COMMANDS;

    #[test]
    fn every_answer_passes_its_official_response_schema() {
        for command in &COMMANDS {
            for positive in [true, false] {
                let payload = answer_payload(command.action, positive).expect(command.action);
                assert!(command.check_response(&payload).is_ok(), "{} {positive}: {payload}", command.action);
            }
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
