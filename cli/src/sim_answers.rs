//! What a simulated charger answers to each command of OCPP 1.6 and 2.0.1, positive or negative:
//! every answer passes its official response schema (`sim::tests`).

use serde_json::{json, Value};
use shared::ocpp::{Command, OcppVersion};

/// A schema-valid answer to each command of `version`, positive or negative; the 2.0.1 answers
/// that list results take them from the `request`.
pub fn answer_payload(version: OcppVersion, action: &str, request: &Value, positive: bool) -> Option<Value> {
    match version {
        OcppVersion::V16 => answer_payload_v16(action, positive),
        OcppVersion::V201 => answer_payload_v201(action, request, positive),
    }
}

/// A schema-valid answer to each of the 26 OCPP 1.6 commands, positive or negative.
fn answer_payload_v16(action: &str, positive: bool) -> Option<Value> {
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

/// A schema-valid answer to each of the 40 OCPP 2.0.1 commands, positive or negative.
fn answer_payload_v201(action: &str, request: &Value, positive: bool) -> Option<Value> {
    let status = |yes: &str, no: &str| Some(json!({"status": if positive { yes } else { no }}));
    let verdict = if positive { "Accepted" } else { "Rejected" };
    // One result per item the request lists, each naming what it answers.
    let each = |list: &str, answer: &dyn Fn(&Value) -> Value| -> Vec<Value> {
        request.get(list).and_then(Value::as_array).map(|items| items.iter().map(answer).collect()).unwrap_or_default()
    };
    let named = |item: &Value| json!({"attributeStatus": verdict, "component": item["component"], "variable": item["variable"]});
    match action {
        "GetVariables" => Some(json!({"getVariableResult": each("getVariableData", &|item| {
            let mut result = named(item);
            if positive {
                result["attributeValue"] = json!("0");
            }
            result
        })})),
        "SetVariables" => Some(json!({"setVariableResult": each("setVariableData", &named)})),
        "SetVariableMonitoring" => Some(json!({"setMonitoringResult": each("setMonitoringData", &|item| json!({
            "status": verdict, "type": item["type"], "severity": item["severity"],
            "component": item["component"], "variable": item["variable"],
        }))})),
        "ClearVariableMonitoring" => Some(json!({"clearMonitoringResult": each("id", &|id| json!({
            "status": verdict, "id": id,
        }))})),
        "GetLocalListVersion" => Some(json!({"versionNumber": if positive { 1 } else { 0 }})),
        "GetTransactionStatus" => Some(json!({"messagesInQueue": false})),
        "CostUpdated" => Some(json!({})),
        "UnlockConnector" => status("Unlocked", "UnlockFailed"),
        "UnpublishFirmware" => status("Unpublished", "NoFirmware"),
        "ClearChargingProfile" | "ClearDisplayMessage" | "GetDisplayMessages" => status("Accepted", "Unknown"),
        "GetChargingProfiles" => status("Accepted", "NoProfiles"),
        "DeleteCertificate" | "GetInstalledCertificateIds" => status("Accepted", "NotFound"),
        "SendLocalList" | "SetNetworkProfile" | "InstallCertificate" => status("Accepted", "Failed"),
        "CustomerInformation" => status("Accepted", "Invalid"),
        "GetBaseReport" | "GetReport" | "GetMonitoringReport" | "SetMonitoringBase" => {
            status("Accepted", "EmptyResultSet")
        }
        known if Command::find(OcppVersion::V201, known).is_some() => status("Accepted", "Rejected"),
        _ => None,
    }
}

/// A 1.6 GetConfiguration of every key (no `key` in the request) answered with about `bytes` of
/// keys, 480-character values each (the schema allows 500), when `bytes` is not 0; any other answer
/// as it is.
pub fn long_configuration(version: OcppVersion, action: &str, request: &Value, answer: Value, bytes: u64) -> Value {
    let every_key = request.get("key").and_then(Value::as_array).is_none_or(Vec::is_empty);
    if bytes == 0 || version != OcppVersion::V16 || action != "GetConfiguration" || !every_key {
        return answer;
    }
    let value = "v".repeat(480);
    let entries = bytes.div_ceil(530).max(1);
    let keys: Vec<Value> =
        (0..entries).map(|i| json!({"key": format!("Sim.Setting{i:03}"), "readonly": false, "value": value})).collect();
    json!({"configurationKey": keys})
}
