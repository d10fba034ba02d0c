//! `ocpp-bulk demo`: the whole flow on a generated fleet, in one process, so a newcomer sees every
//! status: 100 chargers of the caller's team (80 accept, 5 reject, 5 answer CALLERROR, 5 never
//! answer, 5 are offline), 5 chargers of another team and 2 unresolvable ids (skipped); then the
//! failures (offline and error) once more, as `send --retry RUN` does; then a report asked of the
//! whole fleet; then a firmware rollout in waves that aborts itself in its second wave, and a run
//! paused and resumed (`demo_rollout.rs`).

use std::time::Duration;

use serde_json::json;
use shared::domain::fleet::{Fleet, FleetCharger, FleetToken};
use shared::embedded::QueueOptions;
use shared::ocpp::OcppVersion;
use tokio::net::TcpListener;
use uuid::Uuid;

use crate::send::{send, SendOptions, Summary, What};
use crate::sim::{self, AnswerSizes, Behaviour, JobOutcome, SimCharger};
use crate::stack::Stack;

pub const DEMO_TOKEN: &str = "demo-token-0123456789";
/// The firmware half the demo fleet boots with, a version behind.
const OLD_FIRMWARE: &str = "1.8.1";
/// A silent charger's CALL fails after this long.
const DEMO_TIMEOUT_SECONDS: u32 = 5;

fn demo_uuid(name: &str) -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_URL, format!("ocpp-bulk-demo/{name}").as_bytes())
}

/// The demo fleet, and the behaviour of each simulated charger (offline ones are absent).
/// The demo chargers that speak OCPP 2.0.1 (all accept).
const V201: std::ops::RangeInclusive<u32> = 71..=80;

pub fn fleet() -> (Fleet, Vec<SimCharger>) {
    let mut fleet = Fleet {
        tokens: vec![FleetToken { token: DEMO_TOKEN.into(), user: "demo".into(), teams: vec!["demo".into()] }],
        chargers: Vec::new(),
    };
    let mut simulated = Vec::new();
    for i in 1..=100 {
        let identity = format!("DEMO{i:03}");
        let password = (i % 10 == 0).then(|| format!("pw-{identity}-secret"));
        fleet.chargers.push(FleetCharger {
            uuid: demo_uuid(&identity),
            identity: identity.clone(),
            reference: Some(format!("Demo site, bay {i}")),
            team: "demo".into(),
            password: password.clone(),
        });
        let behaviour = match i {
            1..=80 => Behaviour::Accept,
            81..=85 => Behaviour::Reject,
            86..=90 => Behaviour::Error,
            91..=95 => Behaviour::Silent,
            _ => continue,
        };
        // The first 50 boot a version behind: the firmware update targets them.
        let firmware = Some(if i <= 50 { OLD_FIRMWARE } else { "1.9.0" }.to_owned());
        let version = if V201.contains(&i) { OcppVersion::V201 } else { OcppVersion::V16 };
        // Installs fail on six chargers of the rollout's second wave (`demo_rollout.rs`).
        let job = if (15..=20).contains(&i) { JobOutcome::Fail } else { JobOutcome::Succeed };
        simulated.push(SimCharger {
            identity,
            password,
            behaviour,
            firmware,
            version,
            job,
            sizes: AnswerSizes::default(),
        });
    }
    for i in 1..=5 {
        let identity = format!("OTHER{i:03}");
        fleet.chargers.push(FleetCharger {
            uuid: demo_uuid(&identity),
            identity,
            reference: Some(format!("Someone else's bay {i}")),
            team: "elsewhere".into(),
            password: None,
        });
    }
    (fleet, simulated)
}

/// The demo's runs, one after the other; with `keep`, the stack and its chargers stay up after them
/// (until Ctrl-C) for the console.
pub async fn run(listen: &str, keep: bool) -> Result<Summary, String> {
    let (fleet, simulated) = fleet();
    let provisioned = fleet.provision().map_err(|e| e.to_string())?;
    let stack = Stack::embedded(&provisioned, QueueOptions::default());
    let listener = TcpListener::bind(listen).await.map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    tokio::spawn(crate::server::serve(listener, stack));
    println!(
        "ocpp-bulk demo: embedded stack on http://{address} (API) and ws://{address}/ocpp/{{identity}} (chargers)\n\
         console: http://{address}/console (sign in with the token {DEMO_TOKEN}){}",
        if keep { "" } else { "; `demo --keep` keeps it up after the runs" }
    );

    let sims = sim::start(&format!("ws://{address}/ocpp"), simulated, 50).await?;
    println!(
        "connected {} simulated chargers (80 accept, 5 reject, 5 CALLERROR, 5 silent; 10 of the accepting ones \
         speak OCPP 2.0.1, the rest 1.6); 5 more stay offline",
        sims.stats.connected.load(std::sync::atomic::Ordering::Relaxed)
    );
    let mut chargers: Vec<String> = fleet.chargers.iter().map(|c| c.uuid.to_string()).collect();
    chargers.push("not-a-uuid".into());
    chargers.push(Uuid::new_v4().to_string());
    let versions = json!({"ocpp2.0.1": {"command": "Reset", "data": {"type": "Immediate"}}});
    println!(
        "sending Reset {{\"type\":\"Soft\"}} (to OCPP 2.0.1 chargers: {}) to {} ids (5 of another team, 2 \
         unresolvable), timeout {DEMO_TIMEOUT_SECONDS} s\n",
        versions["ocpp2.0.1"]["data"],
        chargers.len()
    );
    let options = |what| SendOptions {
        api: format!("http://{address}"),
        token: DEMO_TOKEN.into(),
        what,
        data: json!({"type": "Soft"}),
        versions: Some(versions.clone()),
        chargers: chargers.clone(),
        target: None,
        callback: None,
        timeout_seconds: Some(DEMO_TIMEOUT_SECONDS),
        max_per_second: None,
        outcome: None,
        rollout: None,
        poll_every: Duration::from_millis(200),
        progress: true,
    };
    let first = send(&options(What::Command("Reset".into()))).await;
    // The failures again, as an operator would: `send --retry RUN`.
    let retried = match &first {
        Ok(summary) => {
            print!("{}", summary.table());
            let id = summary.run["uuid"].as_str().unwrap_or_default().to_owned();
            println!("\nretrying the offline and error results of {id}\n");
            send(&options(What::RetryOf(id, Vec::new()))).await
        }
        Err(err) => Err(err.clone()),
    };
    // One run for a fleet of both versions: 2.0.1's report request, which 1.6 chargers lack.
    let reported = match &retried {
        Ok(summary) => {
            print!("{}", summary.table());
            println!(
                "\nasking every charger for its base report (an OCPP 2.0.1 command; 1.6 chargers are told why not)\n"
            );
            let report = SendOptions {
                data: json!({"requestId": 1, "reportBase": "SummaryInventory"}),
                versions: None,
                ..options(What::Command("GetBaseReport".into()))
            };
            send(&report).await
        }
        Err(err) => Err(err.clone()),
    };
    let behind: Vec<String> = fleet.chargers.iter().take(50).map(|c| c.uuid.to_string()).collect();
    let rolled_out = match &reported {
        Ok(summary) => {
            print!("{}", summary.table());
            crate::demo_rollout::firmware_rollout(&options(What::Command("UpdateFirmware".into())), behind).await
        }
        Err(err) => Err(err.clone()),
    };
    let last = match &rolled_out {
        Ok(summary) => {
            print!("{}", summary.table());
            crate::demo_rollout::pause_and_resume(&options(What::Command("ChangeConfiguration".into()))).await
        }
        Err(err) => Err(err.clone()),
    };
    if let Ok(summary) = &last {
        print!("{}", summary.table());
    }
    if keep && last.is_ok() {
        println!(
            "\nthe demo's runs are done; the console stays up at http://{address}/console (token {DEMO_TOKEN}) \
             with the chargers connected: Ctrl-C ends it"
        );
        tokio::signal::ctrl_c().await.map_err(|e| format!("cannot wait for Ctrl-C: {e}"))?;
    }
    sims.stop();
    last
}
