//! The charger side (`docs/charger-side.md`): handshakes, passwords, answers to charger CALLs.

use std::time::Duration;

use base64::Engine;
use ocpp_bulk_tests::harness::{cp, fleet, Backend, Handshake, RawCharger, TestStack};
use serde_json::json;

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

async fn handshakes_select_the_first_version_offered_and_refuse_strangers(backend: Backend) {
    let stack = TestStack::start(backend, &fleet(1)).await;
    let url = format!("{}/{}", stack.ws, cp(0));
    for (offer, selected) in
        [("ocpp2.0.1, ocpp1.6", "ocpp2.0.1"), ("ocpp1.6, ocpp2.0.1", "ocpp1.6"), ("ocpp2.1, ocpp2.0.1", "ocpp2.0.1")]
    {
        match RawCharger::handshake(&url, Some(offer), None).await {
            Handshake::Ok(_, protocol) => assert_eq!(protocol.as_deref(), Some(selected), "{offer}"),
            Handshake::Refused(status) => panic!("{offer} refused with {status}"),
        }
    }
    let query_url = format!("{}?identity={}", stack.ws, cp(0));
    assert!(matches!(RawCharger::handshake(&query_url, Some("ocpp1.6"), None).await, Handshake::Ok(..)));
    let refused = |h: Handshake| match h {
        Handshake::Refused(status) => status,
        Handshake::Ok(..) => 0,
    };
    assert_eq!(refused(RawCharger::handshake(&url, Some("ocpp2.0, ocpp1.5"), None).await), 400);
    assert_eq!(refused(RawCharger::handshake(&url, None, None).await), 400);
    assert_eq!(refused(RawCharger::handshake(&format!("{}/UNKNOWN", stack.ws), Some("ocpp1.6"), None).await), 404);

    let locked = format!("{}/LOCKED1", stack.ws);
    assert_eq!(refused(RawCharger::handshake(&locked, Some("ocpp1.6"), None).await), 401);
    assert_eq!(refused(RawCharger::handshake(&locked, Some("ocpp1.6"), Some(&basic("LOCKED1", "nope"))).await), 401);
    assert_eq!(
        refused(RawCharger::handshake(&locked, Some("ocpp1.6"), Some(&basic("CP00000", "locked-secret"))).await),
        401
    );
    assert_eq!(refused(RawCharger::handshake(&locked, Some("ocpp1.6"), Some("Basic %%%")).await), 401);
    assert!(matches!(
        RawCharger::handshake(&locked, Some("ocpp1.6"), Some(&basic("LOCKED1", "locked-secret"))).await,
        Handshake::Ok(..)
    ));
}

async fn a_deployment_can_refuse_chargers_without_a_password(backend: Backend) {
    let stack = TestStack::start_customized(backend, &fleet(1), |stack| stack.websocket.require_passwords = true).await;
    let refused = match RawCharger::handshake(&format!("{}/{}", stack.ws, cp(0)), Some("ocpp1.6"), None).await {
        Handshake::Refused(status) => status,
        Handshake::Ok(..) => 0,
    };
    assert_eq!(refused, 401, "a charger without a password is refused");
    let locked = format!("{}/LOCKED1", stack.ws);
    assert!(matches!(
        RawCharger::handshake(&locked, Some("ocpp1.6"), Some(&basic("LOCKED1", "locked-secret"))).await,
        Handshake::Ok(..)
    ));
}

async fn charger_calls_get_valid_answers(backend: Backend) {
    let stack = TestStack::start(backend, &fleet(1)).await;
    let mut charger = RawCharger::connect(&stack.ws, &cp(0)).await;
    let boot = charger.ask(r#"[2,"1","BootNotification",{"chargePointVendor":"V","chargePointModel":"M"}]"#).await;
    assert_eq!(
        (boot[0].clone(), boot[1].clone(), boot[2]["status"].clone(), boot[2]["interval"].clone()),
        (json!(3), json!("1"), json!("Accepted"), json!(300))
    );
    assert!(boot[2]["currentTime"].as_str().unwrap().parse::<chrono::DateTime<chrono::Utc>>().is_ok());
    assert!(charger.ask(r#"[2,"2","Heartbeat",{}]"#).await[2]["currentTime"].is_string());
    let notifications = [
        ("StatusNotification", json!({"connectorId": 1, "errorCode": "NoError", "status": "Available"})),
        (
            "MeterValues",
            json!({"connectorId": 1, "meterValue": [
            {"timestamp": "2026-11-26T10:00:00Z", "sampledValue": [{"value": "1200"}]}]}),
        ),
        ("DiagnosticsStatusNotification", json!({"status": "Idle"})),
        ("FirmwareStatusNotification", json!({"status": "Installed"})),
    ];
    for (action, payload) in notifications {
        assert_eq!(charger.ask(&json!([2, "3", action, payload]).to_string()).await, json!([3, "3", {}]));
    }
    // Payloads are checked against the official request schemas; the CALLERROR names the field.
    let breaches = [
        (r#"{"chargePointVendor":"V","chargePointModel":"M","bogus":1}"#, "FormationViolation", "payload.bogus"),
        (r#"{"chargePointVendor":"V"}"#, "OccurenceConstraintViolation", "payload.chargePointModel"),
        (r#"{"chargePointVendor":5,"chargePointModel":"M"}"#, "TypeConstraintViolation", "payload.chargePointVendor"),
        (
            r#"{"chargePointVendor":"V","chargePointModel":"M","meterType":"xxxxxxxxxxxxxxxxxxxxxxxxxx"}"#,
            "PropertyConstraintViolation",
            "payload.meterType",
        ),
    ];
    for (payload, code, field) in breaches {
        let error = charger.ask(&format!(r#"[2,"b","BootNotification",{payload}]"#)).await;
        assert_eq!((error[0].clone(), error[2].clone()), (json!(4), json!(code)), "{payload}");
        assert!(error[3].as_str().unwrap().starts_with(&format!("{field}: ")), "{error}");
    }
    assert_eq!(charger.ask(r#"[2,"4","DataTransfer",{"vendorId":"x"}]"#).await[2]["status"], "UnknownVendorId");
    assert_eq!(charger.ask(r#"[2,"5","Authorize",{"idTag":"x"}]"#).await[2], "NotSupported");
    assert_eq!(charger.ask(r#"[2,"6","Teleport",{}]"#).await[2], "NotImplemented");
    assert_eq!(
        charger.ask(r#"[2,"7","Heartbeat"]"#).await,
        json!([4, "7", "FormationViolation", "wrong number of elements (3) for its message type", {}])
    );
    assert_eq!(charger.ask(r#"[2,"8","Heartbeat",[]]"#).await[2], "FormationViolation");
    // Unreadable frames are dropped; the connection lives on.
    charger.send("not json").await;
    charger.send("[]").await;
    charger.send(&"[".repeat(10_000)).await;
    assert!(charger.ask(r#"[2,"9","Heartbeat",{}]"#).await[2]["currentTime"].is_string());
}

async fn the_newest_connection_wins(backend: Backend) {
    let stack = TestStack::start(backend, &fleet(1)).await;
    let mut old = RawCharger::connect(&stack.ws, &cp(0)).await;
    let mut new = RawCharger::connect(&stack.ws, &cp(0)).await;
    assert!(old.next(Duration::from_secs(2)).await.is_none(), "the old connection is closed");
    let run = stack.create("ClearCache", json!({}), &ocpp_bulk_tests::harness::ids(&[&cp(0)]), json!({})).await;
    let call = new.next(Duration::from_secs(5)).await.expect("the CALL reaches the new connection");
    new.send(&json!([3, call[1], {"status": "Accepted"}]).to_string()).await;
    let run = stack.completed(run["uuid"].as_str().unwrap(), Duration::from_secs(5)).await;
    assert_eq!(run["sent_count"], 1);
    drop(new);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let run = stack.create("ClearCache", json!({}), &ocpp_bulk_tests::harness::ids(&[&cp(0)]), json!({})).await;
    let run = stack.completed(run["uuid"].as_str().unwrap(), Duration::from_secs(5)).await;
    assert_eq!(run["offline_count"], 1, "a closed connection means offline");
}

/// A 2.0.1 charger is answered from the 2.0.1 schemas, its CALLERRORs spelled as OCPP-J 2.0.1 spells
/// them, and a run's CALL reaches it only when the run fits 2.0.1 (its answer checked in 2.0.1 too).
async fn a_201_charger_is_answered_and_called_in_its_version(backend: Backend) {
    let stack = TestStack::start(backend, &fleet(1)).await;
    let url = format!("{}/{}", stack.ws, cp(0));
    let Handshake::Ok(mut charger, Some(protocol)) = RawCharger::handshake(&url, Some("ocpp2.0.1"), None).await else {
        panic!("a 2.0.1 offer is taken");
    };
    assert_eq!(protocol, "ocpp2.0.1");
    let boot = r#"[2,"1","BootNotification",{"reason":"PowerUp","chargingStation":{"model":"M","vendorName":"V"}}]"#;
    assert_eq!(charger.ask(boot).await[2]["status"], "Accepted");
    let old_boot = charger.ask(r#"[2,"2","BootNotification",{"chargePointVendor":"V","chargePointModel":"M"}]"#).await;
    assert_eq!((old_boot[0].clone(), old_boot[2].clone()), (json!(4), json!("OccurrenceConstraintViolation")));
    let extra = charger.ask(r#"[2,"3","Heartbeat",{"extra":1}]"#).await;
    assert_eq!(extra[2], "FormatViolation", "{extra}");
    assert_eq!(charger.ask(r#"[2,"4","TransactionEvent",{}]"#).await[2], "NotSupported");

    // Reset Soft is 1.6's: no CALL, an error saying why. Reset Immediate goes, and 2.0.1's Scheduled counts.
    let target = ocpp_bulk_tests::harness::ids(&[&cp(0)]);
    let run = stack.create("Reset", json!({"type": "Soft"}), &target, json!({})).await;
    let run = stack.completed(run["uuid"].as_str().unwrap(), Duration::from_secs(5)).await;
    assert_eq!(run["error_count"], 1);
    let message = run["results"][0]["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("not sent: the charger speaks OCPP 2.0.1"), "{message}");
    let run = stack.create("Reset", json!({"type": "Immediate"}), &target, json!({})).await;
    let call = charger.next(Duration::from_secs(5)).await.expect("the 2.0.1 Reset reaches the charger");
    assert_eq!((call[2].clone(), call[3].clone()), (json!("Reset"), json!({"type": "Immediate"})));
    charger.send(&json!([3, call[1], {"status": "Scheduled"}]).to_string()).await;
    let run = stack.completed(run["uuid"].as_str().unwrap(), Duration::from_secs(5)).await;
    assert_eq!((run["sent_count"].clone(), run["results"][0]["message"].clone()), (json!(1), json!("Scheduled")));

    // One run for a mixed fleet: the 2.0.1 charger is sent what its version is given instead.
    let versions = json!({"ocpp2.0.1": {"command": "Reset", "data": {"type": "OnIdle", "evseId": 1}}});
    let run = stack.create("Reset", json!({"type": "Soft"}), &target, json!({"versions": versions})).await;
    assert_eq!(run["versions"], versions, "the run shows what each version is sent");
    let call = charger.next(Duration::from_secs(5)).await.expect("the 2.0.1 variant reaches the charger");
    assert_eq!(call[3], json!({"type": "OnIdle", "evseId": 1}));
    charger.send(&json!([3, call[1], {"status": "Accepted"}]).to_string()).await;
    let run = stack.completed(run["uuid"].as_str().unwrap(), Duration::from_secs(5)).await;
    assert_eq!(run["sent_count"], 1, "{run}");
}

ocpp_bulk_tests::on_both_backends!(
    handshakes_select_the_first_version_offered_and_refuse_strangers,
    a_201_charger_is_answered_and_called_in_its_version,
    a_deployment_can_refuse_chargers_without_a_password,
    charger_calls_get_valid_answers,
    the_newest_connection_wins
);
