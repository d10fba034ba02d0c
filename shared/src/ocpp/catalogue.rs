//! The 26 OCPP 1.6 actions a central system sends to a charge point (the 19 of OCPP 1.6 and the 7
//! of its security extension), each with the Open Charge
//! Alliance's request and response schemas (`shared/schemas/v16`, see ORIGIN.md there). The schemas
//! are the only statement of what a payload may hold: nothing here restates a field or an enum.

use std::sync::LazyLock;

use jsonschema::Validator;
use serde_json::Value;

use super::schema::{collect, compile};
use crate::error::ErrorCollector;

/// One command of the catalogue.
pub struct Command {
    pub action: &'static str,
    request_schema: &'static str,
    response_schema: &'static str,
}

macro_rules! catalogue {
    ($($action:literal),* $(,)?) => {
        [$(Command {
            action: $action,
            request_schema: include_str!(concat!("../../schemas/v16/", $action, ".json")),
            response_schema: include_str!(concat!("../../schemas/v16/", $action, "Response.json")),
        }),*]
    };
}

pub static COMMANDS: [Command; 26] = catalogue![
    "CancelReservation",
    "ChangeAvailability",
    "ChangeConfiguration",
    "ClearCache",
    "ClearChargingProfile",
    "DataTransfer",
    "GetCompositeSchedule",
    "GetConfiguration",
    "GetDiagnostics",
    "GetLocalListVersion",
    "RemoteStartTransaction",
    "RemoteStopTransaction",
    "ReserveNow",
    "Reset",
    "SendLocalList",
    "SetChargingProfile",
    "TriggerMessage",
    "UnlockConnector",
    "UpdateFirmware",
    // The OCPP 1.6 security extension (the Open Charge Alliance's "Improved security for OCPP 1.6-J").
    "CertificateSigned",
    "DeleteCertificate",
    "ExtendedTriggerMessage",
    "GetInstalledCertificateIds",
    "GetLog",
    "InstallCertificate",
    "SignedUpdateFirmware",
];

struct Compiled {
    request: Validator,
    response: Validator,
}

/// Compiled once, on first use; the schema files are checked by a test, so compiling cannot fail
/// at run time. A schema that would not compile is reported as a validation failure, not a panic.
static VALIDATORS: LazyLock<Vec<Option<Compiled>>> = LazyLock::new(|| {
    COMMANDS
        .iter()
        .map(|c| Some(Compiled { request: compile(c.request_schema)?, response: compile(c.response_schema)? }))
        .collect()
});

impl Command {
    pub fn find(action: &str) -> Option<&'static Command> {
        COMMANDS.iter().find(|c| c.action == action)
    }

    fn compiled(&self) -> Option<&'static Compiled> {
        let index = COMMANDS.iter().position(|c| c.action == self.action)?;
        VALIDATORS.get(index)?.as_ref()
    }

    /// Checks a request payload; errors are keyed by `prefix.path.to.field` (prefix: `data`).
    pub fn check_request(&self, payload: &Value, prefix: &str) -> Result<(), ErrorCollector> {
        let Some(compiled) = self.compiled() else {
            return Err(schema_unavailable(prefix));
        };
        collect(&compiled.request, payload, prefix)
    }

    /// Checks a charger's CALLRESULT payload against the response schema.
    pub fn check_response(&self, payload: &Value) -> Result<(), ErrorCollector> {
        let Some(compiled) = self.compiled() else {
            return Err(schema_unavailable("response"));
        };
        collect(&compiled.response, payload, "response")
    }
}

fn schema_unavailable(prefix: &str) -> ErrorCollector {
    let mut errors = ErrorCollector::default();
    errors.add(prefix, "The schema for this command is unavailable.".to_owned());
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::MAX_REPORTED_ERRORS;
    use serde_json::json;

    #[test]
    fn every_schema_compiles() {
        assert_eq!(VALIDATORS.len(), 26);
        for (command, compiled) in COMMANDS.iter().zip(VALIDATORS.iter()) {
            assert!(compiled.is_some(), "{} schemas do not compile", command.action);
        }
    }

    #[test]
    fn unknown_actions_are_not_in_the_catalogue() {
        assert!(Command::find("Reset").is_some());
        assert!(Command::find("BootNotification").is_none());
        assert!(Command::find("reset").is_none());
    }

    #[test]
    fn request_errors_name_the_field_path() {
        let reset = Command::find("Reset").unwrap();
        assert!(reset.check_request(&json!({"type": "Soft"}), "data").is_ok());
        let errors = reset.check_request(&json!({}), "data").unwrap_err().fields().clone();
        assert_eq!(errors["data.type"], vec!["The data.type field is required."]);
        let errors = reset.check_request(&json!({"type": "Warm", "extra": 1}), "data").unwrap_err().fields().clone();
        assert!(errors["data.type"][0].starts_with("The data.type field is invalid"), "{errors:?}");
        assert_eq!(errors["data.extra"], vec!["The data.extra field is not allowed."]);

        let profile = Command::find("SetChargingProfile").unwrap();
        let payload = json!({"connectorId": 1, "csChargingProfiles": {
            "chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {"duration": "long", "chargingRateUnit": "W",
                                 "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11000.0}]}}});
        let errors = profile.check_request(&payload, "data").unwrap_err().fields().clone();
        assert!(errors.contains_key("data.csChargingProfiles.chargingSchedule.duration"), "{errors:?}");
    }

    #[test]
    fn max_length_comes_from_the_schema() {
        let change = Command::find("ChangeConfiguration").unwrap();
        let errors =
            change.check_request(&json!({"key": "k".repeat(51), "value": "1"}), "data").unwrap_err().fields().clone();
        assert!(errors.contains_key("data.key"), "{errors:?}");
    }

    #[test]
    fn integers_are_32_bit() {
        let unlock = Command::find("UnlockConnector").unwrap();
        assert!(unlock.check_request(&json!({"connectorId": 2147483647}), "data").is_ok());
        let huge: Value = serde_json::from_str(r#"{"connectorId": 100000000000000000000000000000}"#).unwrap();
        for payload in [json!({"connectorId": 1e19}), json!({"connectorId": 2147483648u64}), huge] {
            let errors = unlock.check_request(&payload, "data").unwrap_err().fields().clone();
            assert!(errors.contains_key("data.connectorId"), "{payload}: {errors:?}");
        }
        assert!(unlock.check_request(&json!({"connectorId": -2147483648i64}), "data").is_ok());
        assert!(unlock.check_request(&json!({"connectorId": -2147483649i64}), "data").is_err());
    }

    #[test]
    fn a_huge_invalid_payload_reports_a_bounded_number_of_errors() {
        let list = Command::find("SendLocalList").unwrap();
        let entries: Vec<Value> = (0..5_000).map(|_| json!({})).collect();
        let payload = json!({"listVersion": 1, "updateType": "Full", "localAuthorizationList": entries});
        let errors = list.check_request(&payload, "data").unwrap_err();
        let reported: usize = errors.fields().values().map(Vec::len).sum();
        assert!(reported <= MAX_REPORTED_ERRORS, "{reported} errors reported");
        assert_eq!(errors.more(), 5_000 - MAX_REPORTED_ERRORS);
    }

    #[test]
    fn responses_are_checked_too() {
        let reset = Command::find("Reset").unwrap();
        assert!(reset.check_response(&json!({"status": "Accepted"})).is_ok());
        assert!(reset.check_response(&json!({"status": "Maybe"})).is_err());
    }
}
