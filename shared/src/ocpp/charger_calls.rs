//! Answers to the CALLs a charger sends to the central system (`docs/charger-side.md`), in either
//! version. A CALL ocpp-bulk answers is first checked against its official request schema
//! (`shared/schemas/v16`, `shared/schemas/v201`):
//! a payload that breaks it gets the CALLERROR OCPP-J names for the kind of breach, with the field.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use jsonschema::error::ValidationErrorKind;
use jsonschema::Validator;
use serde_json::{json, Value};

use super::catalogue::Command;
use super::frame::ErrorCode;
use super::schema::{compile, field_path};
use crate::clock::rfc3339;
use crate::domain::charger_state::HEARTBEAT_INTERVAL_SECONDS;
use crate::domain::result::truncated;
use crate::domain::OcppVersion;

/// The longest CALLERROR description sent back for a payload that breaks its schema.
const MAX_DESCRIPTION_BYTES: usize = 300;

/// Actions a charger initiates that ocpp-bulk does not handle (transactions, authorisation, ISO
/// 15118): `NotSupported`.
const NOT_HANDLED: [&str; 9] = [
    "Authorize",
    "StartTransaction",
    "StopTransaction",
    "TransactionEvent",
    "Get15118EVCertificate",
    "GetCertificateStatus",
    "NotifyEVChargingNeeds",
    "NotifyEVChargingSchedule",
    "ReportChargingProfiles",
];

/// What a charger's CALL is answered with, by kind.
#[derive(Clone, Copy)]
enum Reply {
    Boot,
    Heartbeat,
    /// DataTransfer: ocpp-bulk knows no vendor's extension.
    UnknownVendor,
    /// SignCertificate: ocpp-bulk is no certificate authority, so it will never send the
    /// CertificateSigned a charger would wait for, and says so. Certificates reach chargers as
    /// InstallCertificate or CertificateSigned bulk commands.
    Rejected,
    /// A notification, acknowledged with an empty payload.
    Empty,
}

macro_rules! answered {
    ($dir:literal, $suffix:literal: $($action:literal => $reply:ident),* $(,)?) => {
        [$(($action, Reply::$reply, include_str!(concat!("../../schemas/", $dir, "/", $action, $suffix, ".json")))),*]
    };
}

/// The OCPP 1.6 charger CALLs ocpp-bulk answers with a CALLRESULT, and their request schemas.
const ANSWERED_V16: [(&str, Reply, &str); 11] = answered!["v16", "":
    "BootNotification" => Boot,
    "Heartbeat" => Heartbeat,
    "StatusNotification" => Empty,
    "MeterValues" => Empty,
    "DiagnosticsStatusNotification" => Empty,
    "FirmwareStatusNotification" => Empty,
    "DataTransfer" => UnknownVendor,
    "SecurityEventNotification" => Empty,
    "LogStatusNotification" => Empty,
    "SignedFirmwareStatusNotification" => Empty,
    "SignCertificate" => Rejected,
];

/// The OCPP 2.0.1 charger CALLs ocpp-bulk answers with a CALLRESULT, and their request schemas.
const ANSWERED_V201: [(&str, Reply, &str); 18] = answered!["v201", "Request":
    "BootNotification" => Boot,
    "Heartbeat" => Heartbeat,
    "StatusNotification" => Empty,
    "MeterValues" => Empty,
    "NotifyEvent" => Empty,
    "NotifyReport" => Empty,
    "NotifyMonitoringReport" => Empty,
    "NotifyCustomerInformation" => Empty,
    "NotifyDisplayMessages" => Empty,
    "NotifyChargingLimit" => Empty,
    "ClearedChargingLimit" => Empty,
    "FirmwareStatusNotification" => Empty,
    "PublishFirmwareStatusNotification" => Empty,
    "LogStatusNotification" => Empty,
    "SecurityEventNotification" => Empty,
    "ReservationStatusUpdate" => Empty,
    "DataTransfer" => UnknownVendor,
    "SignCertificate" => Rejected,
];

type Answered = [(&'static str, Reply, &'static str)];

/// Each version's table, and its request schemas compiled once, in the table's order.
fn answered(version: OcppVersion) -> (&'static Answered, &'static [Option<Validator>]) {
    static V16: LazyLock<Vec<Option<Validator>>> = LazyLock::new(|| compiled(&ANSWERED_V16));
    static V201: LazyLock<Vec<Option<Validator>>> = LazyLock::new(|| compiled(&ANSWERED_V201));
    match version {
        OcppVersion::V16 => (&ANSWERED_V16, &V16),
        OcppVersion::V201 => (&ANSWERED_V201, &V201),
    }
}

fn compiled(table: &Answered) -> Vec<Option<Validator>> {
    table.iter().map(|(_, _, schema)| compile(schema)).collect()
}

/// The payload of the CALLRESULT for a charger's CALL of `version`, or the CALLERROR code and text.
pub fn answer(
    version: OcppVersion,
    action: &str,
    payload: &Value,
    now: DateTime<Utc>,
) -> Result<Value, (ErrorCode, String)> {
    let (table, validators) = answered(version);
    let Some(index) = table.iter().position(|(name, _, _)| *name == action) else {
        return Err(if NOT_HANDLED.contains(&action) || Command::find(version, action).is_some() {
            (ErrorCode::NotSupported, format!("{action} is not supported by this central system"))
        } else {
            (ErrorCode::NotImplemented, "unknown action".to_owned())
        });
    };
    let Some(Some(validator)) = validators.get(index) else {
        return Err((ErrorCode::InternalError, format!("the {action} schema is unavailable")));
    };
    check(validator, payload)?;
    Ok(reply(table[index].1, now))
}

fn reply(kind: Reply, now: DateTime<Utc>) -> Value {
    match kind {
        Reply::Boot => json!({
            "status": "Accepted", "currentTime": rfc3339(now), "interval": HEARTBEAT_INTERVAL_SECONDS,
        }),
        Reply::Heartbeat => json!({ "currentTime": rfc3339(now) }),
        Reply::UnknownVendor => json!({ "status": "UnknownVendorId" }),
        Reply::Rejected => json!({ "status": "Rejected" }),
        Reply::Empty => json!({}),
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
        let boot = answer(OcppVersion::V16, "BootNotification", &boot(), now).unwrap();
        assert_eq!(boot["status"], "Accepted");
        assert_eq!(boot["interval"], 300);
        assert!(boot["currentTime"].as_str().unwrap().ends_with('Z'));
        assert!(answer(OcppVersion::V16, "Heartbeat", &json!({}), now).unwrap()["currentTime"].is_string());
        assert_eq!(answer(OcppVersion::V16, "MeterValues", &meter(), now).unwrap(), json!({}));
        let vendor = json!({"vendorId": "acme"});
        assert_eq!(answer(OcppVersion::V16, "DataTransfer", &vendor, now).unwrap()["status"], "UnknownVendorId");
        assert_eq!(
            answer(OcppVersion::V16, "StartTransaction", &json!({}), now).unwrap_err().0,
            ErrorCode::NotSupported
        );
        assert_eq!(answer(OcppVersion::V16, "Reset", &json!({}), now).unwrap_err().0, ErrorCode::NotSupported);
        assert_eq!(answer(OcppVersion::V16, "Teleport", &json!({}), now).unwrap_err().0, ErrorCode::NotImplemented);
    }

    #[test]
    fn every_request_schema_compiles() {
        for version in OcppVersion::ALL {
            let (table, validators) = answered(version);
            assert_eq!(validators.len(), table.len());
            assert!(validators.iter().all(Option::is_some), "{version:?}");
        }
    }

    #[test]
    fn a_201_charger_is_answered_from_the_201_schemas() {
        let now = Utc::now();
        let boot = json!({"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V"}});
        let answer201 = |action: &str, payload: &Value| answer(OcppVersion::V201, action, payload, now);
        assert_eq!(answer201("BootNotification", &boot).unwrap()["interval"], 300);
        // A 1.6 boot is not a 2.0.1 one, and the breach is named as OCPP-J 2.0.1 names it.
        let (code, description) = answer201("BootNotification", &self::boot()).unwrap_err();
        assert_eq!(code.spelled(OcppVersion::V201), "OccurrenceConstraintViolation", "{description}");
        let report = json!({"requestId": 1, "generatedAt": "2026-12-03T10:00:00Z", "seqNo": 0, "tbc": false});
        assert_eq!(answer201("NotifyReport", &report).unwrap(), json!({}));
        assert_eq!(answer201("TransactionEvent", &json!({})).unwrap_err().0, ErrorCode::NotSupported);
        assert_eq!(answer201("GetVariables", &json!({})).unwrap_err().0, ErrorCode::NotSupported);
        assert_eq!(answer201("DiagnosticsStatusNotification", &json!({})).unwrap_err().0, ErrorCode::NotImplemented);
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
            let (got, description) = answer(OcppVersion::V16, action, &payload, now).unwrap_err();
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
            let sent = answer(OcppVersion::V16, action, &payload, now).unwrap();
            let schema =
                std::fs::read_to_string(format!("{}/schemas/v16/{action}Response.json", env!("CARGO_MANIFEST_DIR")))
                    .unwrap();
            let validator = compile(&schema).unwrap();
            assert!(validator.is_valid(&sent), "{action}: {sent}");
        }
    }

    #[test]
    fn every_answer_keeps_its_response_schema_in_both_versions() {
        for (version, dir) in [(OcppVersion::V16, "v16"), (OcppVersion::V201, "v201")] {
            for (action, kind, _) in answered(version).0 {
                let path = format!("{}/schemas/{dir}/{action}Response.json", env!("CARGO_MANIFEST_DIR"));
                let validator = compile(&std::fs::read_to_string(path).unwrap()).unwrap();
                let sent = reply(*kind, Utc::now());
                assert!(validator.is_valid(&sent), "{version:?} {action}: {sent}");
            }
        }
    }
}
