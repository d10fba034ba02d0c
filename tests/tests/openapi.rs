//! `docs/openapi.yaml` and the code say the same: the request envelope's rules, written by hand in
//! `BulkRequest::parse` (it keeps memory proportional to the body, which a schema validator that
//! gathers every error of a huge array does not), are checked here against the OpenAPI component,
//! and the command list against the catalogue of official schemas.

use std::path::PathBuf;

use api::bulk_request::{MAX_DATA_BYTES, MAX_TIMEOUT_SECONDS};
use serde_json::{json, Value};
use shared::ocpp::catalogue::COMMANDS;

fn component(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.yaml");
    let spec: Value = serde_yaml::from_str(&std::fs::read_to_string(path).expect("docs/openapi.yaml")).expect("YAML");
    spec["components"]["schemas"][name].clone()
}

#[test]
fn the_bulk_request_component_is_what_the_parser_enforces() {
    let request = component("BulkRequest");
    // charger_ids or target, never both: a rule of the parser's the description states.
    assert_eq!(request["required"], json!(["command"]));
    let described = request["description"].as_str().unwrap_or_default();
    assert!(described.contains("`charger_ids`") && described.contains("`target`"), "{described}");
    let properties = &request["properties"];
    assert_eq!(properties["target"]["$ref"], "#/components/schemas/Target");
    let target = component("Target");
    assert_eq!(target["additionalProperties"], false);
    let mut fields: Vec<&str> = target["properties"].as_object().expect("Target").keys().map(String::as_str).collect();
    fields.sort();
    assert_eq!(fields, ["connected", "firmware", "firmware_below", "model", "team", "vendor"], "FleetFilter's fields");
    assert_eq!(properties["callback_url"]["type"], "string");
    assert_eq!(properties["callback_url"]["maxLength"], shared::webhook::address::MAX_URL_BYTES);
    assert_eq!(properties["callback_progress"]["type"], "boolean");
    let mut commands: Vec<&str> = Vec::new();
    for command in &COMMANDS {
        if !commands.contains(&command.action) {
            commands.push(command.action);
        }
    }
    assert_eq!(properties["command"]["enum"], json!(commands), "the catalogue's actions, each once, in its order");
    assert_eq!(properties["data"]["type"], "object");
    assert_eq!(properties["charger_ids"]["minItems"], 1);
    assert_eq!(properties["charger_ids"]["items"]["type"], "string");
    assert_eq!(
        (&properties["timeout_seconds"]["minimum"], &properties["timeout_seconds"]["maximum"]),
        (&json!(1), &json!(MAX_TIMEOUT_SECONDS))
    );
    assert_eq!(
        (&properties["max_per_second"]["minimum"], &properties["max_per_second"]["maximum"]),
        (&json!(1), &json!(u32::MAX))
    );
    let data = properties["data"]["description"].as_str().unwrap_or_default();
    assert!(data.contains(&MAX_DATA_BYTES.to_string()), "the description states the size limit: {data}");
}

#[test]
fn every_parser_rule_is_exercised_against_the_component() {
    // What the component allows, the parser accepts; each bound it states, the parser refuses.
    let ok = json!({"command": "ClearCache", "charger_ids": ["x"], "timeout_seconds": MAX_TIMEOUT_SECONDS, "max_per_second": u32::MAX});
    assert!(api::bulk_request::BulkRequest::parse(ok).is_ok());
    for (field, bad) in [
        ("timeout_seconds", json!(MAX_TIMEOUT_SECONDS + 1)),
        ("timeout_seconds", json!(0)),
        ("max_per_second", json!(0)),
        ("charger_ids", json!([])),
        ("command", json!("BootNotification")),
        ("target", json!({"colour": "red"})),
        ("target", json!([])),
        ("callback_url", json!(7)),
        ("callback_progress", json!("yes")),
    ] {
        let mut body = json!({"command": "ClearCache", "charger_ids": ["x"]});
        body[field] = bad;
        assert!(api::bulk_request::BulkRequest::parse(body).is_err(), "{field}");
    }
    let target = json!({"command": "ClearCache", "target": {"model": "Terra AC", "connected": true}});
    assert!(api::bulk_request::BulkRequest::parse(target).is_ok());
    let both = json!({"command": "ClearCache", "target": {}, "charger_ids": ["x"]});
    assert!(api::bulk_request::BulkRequest::parse(both).is_err(), "charger_ids and target together");
    assert!(api::bulk_request::BulkRequest::parse(json!({"command": "ClearCache"})).is_err(), "neither");
    let progress_alone = json!({"command": "ClearCache", "charger_ids": ["x"], "callback_progress": true});
    assert!(api::bulk_request::BulkRequest::parse(progress_alone).is_err(), "progress needs a url");
}
