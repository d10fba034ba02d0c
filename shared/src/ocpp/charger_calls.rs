//! Answers to the CALLs a charger sends to the central system (`docs/charger-side.md`). A CALL
//! ocpp-bulk answers is first checked against its official request schema (`shared/schemas/v16`):
//! a payload that breaks it gets the CALLERROR OCPP-J names for the kind of breach, with the field.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use jsonschema::error::ValidationErrorKind;
use jsonschema::Validator;
use serde_json::{json, Value};

use super::catalogue::COMMANDS;
use super::frame::ErrorCode;
use super::schema::{compile, field_path};
use crate::clock::rfc3339;
use crate::domain::charger_state::HEARTBEAT_INTERVAL_SECONDS;
use crate::domain::result::truncated;

/// The longest CALLERROR description sent back for a payload that breaks its schema.
const MAX_DESCRIPTION_BYTES: usize = 300;

/// Actions a charge point initiates in OCPP 1.6 that ocpp-bulk does not handle.
const OTHER_CHARGER_ACTIONS: [&str; 3] = ["Authorize", "StartTransaction", "StopTransaction"];

macro_rules! answered {
    ($($action:literal),* $(,)?) => {
        [$(($action, include_str!(concat!("../../schemas/v16/", $action, ".json")))),*]
    };
}

/// The charger CALLs ocpp-bulk answers with a CALLRESULT, and their request schemas.
const ANSWERED: [(&str, &str); 11] = answered![
    "BootNotification",
    "Heartbeat",
    "StatusNotification",
    "MeterValues",
    "DiagnosticsStatusNotification",
    "FirmwareStatusNotification",
    "DataTransfer",
    "SecurityEventNotification",
    "LogStatusNotification",
    "SignedFirmwareStatusNotification",
    "SignCertificate",
];

static VALIDATORS: LazyLock<Vec<Option<Validator>>> =
    LazyLock::new(|| ANSWERED.iter().map(|(_, schema)| compile(schema)).collect());

/// The payload of the CALLRESULT for a charger's CALL, or the CALLERROR code and text.
pub fn answer(action: &str, payload: &Value, now: DateTime<Utc>) -> Result<Value, (ErrorCode, String)> {
    if let Some(index) = ANSWERED.iter().position(|(name, _)| *name == action) {
        let Some(Some(validator)) = VALIDATORS.get(index) else {
            return Err((ErrorCode::InternalError, format!("the {action} schema is unavailable")));
        };
        check(validator, payload)?;
    }
    match action {
        "BootNotification" => Ok(json!({
            "status": "Accepted", "currentTime": rfc3339(now), "interval": HEARTBEAT_INTERVAL_SECONDS,
        })),
        "Heartbeat" => Ok(json!({ "currentTime": rfc3339(now) })),
        "StatusNotification"
        | "MeterValues"
        | "DiagnosticsStatusNotification"
        | "FirmwareStatusNotification"
        | "SecurityEventNotification"
        | "LogStatusNotification"
        | "SignedFirmwareStatusNotification" => Ok(json!({})),
        "DataTransfer" => Ok(json!({ "status": "UnknownVendorId" })),
        // ocpp-bulk is no certificate authority: it will never send the CertificateSigned a charger
        // would wait for, so it says so. Certificates reach chargers as InstallCertificate or
        // CertificateSigned bulk commands.
        "SignCertificate" => Ok(json!({ "status": "Rejected" })),
        known if OTHER_CHARGER_ACTIONS.contains(&known) || COMMANDS.iter().any(|c| c.action == known) => {
            Err((ErrorCode::NotSupported, format!("{known} is not supported by this central system")))
        }
        _ => Err((ErrorCode::NotImplemented, "unknown action".to_owned())),
    }
}

/// The first breach of the schema, as OCPP-J 1.6 (section 4.2.3) classes it: the PDU's structure
/// (an unknown field, a payload that is not an object) is a FormationViolation, a missing field or
/// an array of the wrong length an OccurenceConstraintViolation (the specification's spelling), a
/// value of the wrong JSON type a TypeConstraintViolation, anything else about a value (enum,
/// length, range, format) a PropertyConstraintViolation.
fn check(validator: &Validator, payload: &Value) -> Result<(), (ErrorCode, String)> {
    let Some(error) = validator.iter_errors(payload).next() else {
        return Ok(());
    };
    let path = field_path(&error, "payload");
    let (code, field) = match error.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            (ErrorCode::FormationViolation, format!("{path}.{}", unexpected.first().map_or("", String::as_str)))
        }
        ValidationErrorKind::Type { .. } if path == "payload" => (ErrorCode::FormationViolation, path),
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().map_or_else(|| property.to_string(), str::to_owned);
            (ErrorCode::OccurenceConstraintViolation, format!("{path}.{name}"))
        }
        ValidationErrorKind::MinItems { .. } | ValidationErrorKind::MaxItems { .. } => {
            (ErrorCode::OccurenceConstraintViolation, path)
        }
        ValidationErrorKind::Type { .. } => (ErrorCode::TypeConstraintViolation, path),
        _ => (ErrorCode::PropertyConstraintViolation, path),
    };
    // The field's name and the reason may both repeat what the charger sent: bounded together.
    Err((code, truncated(format!("{field}: {error}"), MAX_DESCRIPTION_BYTES)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boot() -> Value {
        json!({"chargePointVendor": "ABB", "chargePointModel": "Terra AC"})
    }

    fn meter() -> Value {
        json!({"connectorId": 1, "meterValue": [
            {"timestamp": "2026-11-26T10:00:00Z", "sampledValue": [{"value": "1200", "unit": "Wh"}]}]})
    }

    #[test]
    fn answers_follow_the_spec() {
        let now = Utc::now();
        let boot = answer("BootNotification", &boot(), now).unwrap();
        assert_eq!(boot["status"], "Accepted");
        assert_eq!(boot["interval"], 300);
        assert!(boot["currentTime"].as_str().unwrap().ends_with('Z'));
        assert!(answer("Heartbeat", &json!({}), now).unwrap()["currentTime"].is_string());
        assert_eq!(answer("MeterValues", &meter(), now).unwrap(), json!({}));
        let vendor = json!({"vendorId": "acme"});
        assert_eq!(answer("DataTransfer", &vendor, now).unwrap()["status"], "UnknownVendorId");
        assert_eq!(answer("StartTransaction", &json!({}), now).unwrap_err().0, ErrorCode::NotSupported);
        assert_eq!(answer("Reset", &json!({}), now).unwrap_err().0, ErrorCode::NotSupported);
        assert_eq!(answer("Teleport", &json!({}), now).unwrap_err().0, ErrorCode::NotImplemented);
    }

    #[test]
    fn every_request_schema_compiles() {
        assert!(VALIDATORS.iter().all(Option::is_some));
    }

    #[test]
    fn payloads_that_break_the_schema_get_the_ocpp_j_error_for_the_breach() {
        let now = Utc::now();
        let cases = [
            (
                "BootNotification",
                json!({"chargePointVendor": "ABB", "chargePointModel": "X", "bogus": 1}),
                ErrorCode::FormationViolation,
                "payload.bogus",
            ),
            ("BootNotification", json!([1, 2]), ErrorCode::FormationViolation, "payload"),
            (
                "Heartbeat",
                Value::Object([("p".repeat(100_000), json!(1))].into_iter().collect()),
                ErrorCode::FormationViolation,
                "payload.ppp",
            ),
            (
                "BootNotification",
                json!({"chargePointVendor": "ABB"}),
                ErrorCode::OccurenceConstraintViolation,
                "payload.chargePointModel",
            ),
            (
                "BootNotification",
                json!({"chargePointVendor": 7, "chargePointModel": "X"}),
                ErrorCode::TypeConstraintViolation,
                "payload.chargePointVendor",
            ),
            (
                "BootNotification",
                json!({"chargePointVendor": "v".repeat(21), "chargePointModel": "X"}),
                ErrorCode::PropertyConstraintViolation,
                "payload.chargePointVendor",
            ),
            (
                "StatusNotification",
                json!({"connectorId": 1, "errorCode": "Melted", "status": "Available"}),
                ErrorCode::PropertyConstraintViolation,
                "payload.errorCode",
            ),
            (
                "StatusNotification",
                json!({"connectorId": 1e19, "errorCode": "NoError", "status": "Available"}),
                ErrorCode::PropertyConstraintViolation,
                "payload.connectorId",
            ),
        ];
        for (action, payload, code, field) in cases {
            let (got, description) = answer(action, &payload, now).unwrap_err();
            assert_eq!(got, code, "{action} {payload}: {description}");
            assert!(description.starts_with(field), "{description}");
            assert!(description.len() <= MAX_DESCRIPTION_BYTES);
        }
    }

    #[test]
    fn our_answers_keep_the_response_schemas() {
        let now = Utc::now();
        let payloads = [
            ("BootNotification", boot()),
            ("Heartbeat", json!({})),
            ("StatusNotification", json!({"connectorId": 0, "errorCode": "NoError", "status": "Available"})),
            ("MeterValues", meter()),
            ("DiagnosticsStatusNotification", json!({"status": "Idle"})),
            ("FirmwareStatusNotification", json!({"status": "Installed"})),
            ("DataTransfer", json!({"vendorId": "acme"})),
            ("SecurityEventNotification", json!({"type": "FirmwareUpdated", "timestamp": "2026-11-26T10:00:00Z"})),
            ("LogStatusNotification", json!({"status": "Uploaded", "requestId": 1})),
            ("SignedFirmwareStatusNotification", json!({"status": "SignatureVerified", "requestId": 1})),
            ("SignCertificate", json!({"csr": "-----BEGIN CERTIFICATE REQUEST-----"})),
        ];
        for (action, payload) in payloads {
            let sent = answer(action, &payload, now).unwrap();
            let schema =
                std::fs::read_to_string(format!("{}/schemas/v16/{action}Response.json", env!("CARGO_MANIFEST_DIR")))
                    .unwrap();
            let validator = compile(&schema).unwrap();
            assert!(validator.is_valid(&sent), "{action}: {sent}");
        }
    }
}
