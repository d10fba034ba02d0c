//! The demo's last two runs: a firmware rollout to the chargers a version behind, in three waves,
//! each install followed to the charger's boot into the new firmware, that aborts itself in its
//! second wave when installs fail there; then a run paused as it goes and resumed.

use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use shared::clock::rfc3339;

use crate::send::{follow, send, summarise, ApiClient, SendOptions, Summary, What};

/// The firmware the rollout installs: the simulated chargers boot into the file's name.
pub const NEW_FIRMWARE: &str = "demo-1.9.0";

/// UpdateFirmware to `chargers` (the 50 a version behind, in order) in waves of 10, 20 and the rest,
/// stopped when more than 10 % of at least 15 finished installs failed.
pub async fn firmware_rollout(base: &SendOptions, chargers: Vec<String>) -> Result<Summary, String> {
    let location = format!("https://firmware.example/{NEW_FIRMWARE}.bin");
    let at = rfc3339(Utc::now());
    let v201 = json!({"requestId": 7, "firmware": {"location": location, "retrieveDateTime": at}});
    let rollout = json!({"waves": [10, 20, "rest"], "abort": {"on": ["failed", "stalled", "error"],
        "threshold_percent": 10, "min_finished": 15}});
    let outcome = json!({"timeout_seconds": 60, "firmware_version": NEW_FIRMWARE});
    println!(
        "\nrolling out firmware {NEW_FIRMWARE} to the 50 chargers a version behind: waves of 10, 20 and the rest, \
         each install followed to the boot into it; --rollout '{rollout}' --outcome '{outcome}'\n"
    );
    let update = SendOptions {
        data: json!({"location": location, "retrieveDate": at}),
        versions: Some(json!({"ocpp2.0.1": {"command": "UpdateFirmware", "data": v201}})),
        chargers,
        target: None,
        outcome: Some(outcome),
        rollout: Some(rollout),
        ..base.with(What::Command("UpdateFirmware".into()))
    };
    send(&update).await
}

/// ChangeConfiguration of every connected charger (`--target`), 10 a second, paused after a
/// second and resumed three seconds later: nothing new starts in between.
pub async fn pause_and_resume(base: &SendOptions) -> Result<Summary, String> {
    let client = ApiClient::new(&base.api, &base.token);
    let target = json!({"connected": true});
    println!("\nsetting HeartbeatInterval on every connected charger (--target '{target}'), 10 a second; paused after a second\n");
    let body = json!({"command": "ChangeConfiguration", "data": {"key": "HeartbeatInterval", "value": "300"},
        "target": target, "max_per_second": 10,
        "versions": {"ocpp2.0.1": {"command": "SetVariables", "data": {"setVariableData": [{"attributeValue": "300",
            "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]}}}});
    let mut body = body;
    if let Some(timeout) = base.timeout_seconds {
        body["timeout_seconds"] = json!(timeout);
    }
    let run = client.create(&body).await?;
    let id = run["uuid"].as_str().unwrap_or_default().to_owned();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let paused = client.act(&id, "pause").await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = client.run(&id).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = client.run(&id).await?;
    println!(
        "paused at {}: {} answered a second later, {} three seconds after that (a CALL already out ends as it \
         does; nothing new starts); resuming",
        paused["paused_at"].as_str().unwrap_or("?"),
        before["sent_count"],
        after["sent_count"]
    );
    client.act(&id, "resume").await?;
    let run = follow(&client, after, base.progress, base.poll_every).await?;
    summarise(&client, run).await
}
