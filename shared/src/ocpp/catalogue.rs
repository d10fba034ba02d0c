//! The commands a central system sends to a charger, each with the Open Charge Alliance's request
//! and response schemas: the 26 of OCPP 1.6 (its 19 and the 7 of its security extension,
//! `shared/schemas/v16`) and the 40 of OCPP 2.0.1 (`shared/schemas/v201`); see ORIGIN.md in each.
//! The schemas are the only statement of what a payload may hold: nothing here restates a field or
//! an enum. An action of both versions (Reset, ClearCache, …) is one entry per version.

use std::sync::LazyLock;

use jsonschema::Validator;
use serde_json::Value;

use super::schema::{collect, compile};
use crate::domain::result::truncated;
use crate::domain::OcppVersion;
use crate::error::ErrorCollector;

/// One command of the catalogue, in one version.
pub struct Command {
    pub version: OcppVersion,
    pub action: &'static str,
    request_schema: &'static str,
    response_schema: &'static str,
}

macro_rules! catalogue {
    ($($action:literal),* $(,)?; $($action201:literal),* $(,)?) => {
        [$(Command {
            version: OcppVersion::V16,
            action: $action,
            request_schema: include_str!(concat!("../../schemas/v16/", $action, ".json")),
            response_schema: include_str!(concat!("../../schemas/v16/", $action, "Response.json")),
        },)* $(Command {
            version: OcppVersion::V201,
            action: $action201,
            request_schema: include_str!(concat!("../../schemas/v201/", $action201, "Request.json")),
            response_schema: include_str!(concat!("../../schemas/v201/", $action201, "Response.json")),
        }),*]
    };
}

pub static COMMANDS: [Command; 66] = catalogue![
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
    "SignedUpdateFirmware";
    // OCPP 2.0.1: every message a CSMS sends to a charging station.
    "CancelReservation",
    "CertificateSigned",
    "ChangeAvailability",
    "ClearCache",
    "ClearChargingProfile",
    "ClearDisplayMessage",
    "ClearVariableMonitoring",
    "CostUpdated",
    "CustomerInformation",
    "DataTransfer",
    "DeleteCertificate",
    "GetBaseReport",
    "GetChargingProfiles",
    "GetCompositeSchedule",
    "GetDisplayMessages",
    "GetInstalledCertificateIds",
    "GetLocalListVersion",
    "GetLog",
    "GetMonitoringReport",
    "GetReport",
    "GetTransactionStatus",
    "GetVariables",
    "InstallCertificate",
    "PublishFirmware",
    "RequestStartTransaction",
    "RequestStopTransaction",
    "ReserveNow",
    "Reset",
    "SendLocalList",
    "SetChargingProfile",
    "SetDisplayMessage",
    "SetMonitoringBase",
    "SetMonitoringLevel",
    "SetNetworkProfile",
    "SetVariableMonitoring",
    "SetVariables",
    "TriggerMessage",
    "UnlockConnector",
    "UnpublishFirmware",
    "UpdateFirmware",
];

/// The 2.0.1 commands whose answer is followed by a report in NotifyReport parts, gathered onto
/// the result (`ReportExpected`).
pub const REPORT_REQUESTS: [&str; 2] = ["GetBaseReport", "GetReport"];

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
    /// The command `action` of `version`.
    pub fn find(version: OcppVersion, action: &str) -> Option<&'static Command> {
        COMMANDS.iter().find(|c| c.version == version && c.action == action)
    }

    /// `action` in every version that has it, oldest first.
    pub fn versions_of(action: &str) -> impl Iterator<Item = &'static Command> + '_ {
        COMMANDS.iter().filter(move |c| c.action == action)
    }

    /// The catalogue's own name for `action`, when it is a command of some version.
    pub fn action_named(action: &str) -> Option<&'static str> {
        Command::versions_of(action).next().map(|command| command.action)
    }

    /// The Open Charge Alliance's request schema, as published (`GET /v3/commands/{command}`).
    pub fn request_schema(&self) -> &'static str {
        self.request_schema
    }

    /// Whether a charger answers it with a report in parts (`REPORT_REQUESTS`).
    pub fn reports(&self) -> bool {
        self.version == OcppVersion::V201 && REPORT_REQUESTS.contains(&self.action)
    }

    fn compiled(&self) -> Option<&'static Compiled> {
        let index = COMMANDS.iter().position(|c| std::ptr::eq(c, self))?;
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

/// The versions in which `action` takes `data`, oldest first. When none does, the field errors of
/// the oldest version that has `action` (a run must fit at least one version's chargers).
pub fn versions_taking(action: &str, data: &Value, prefix: &str) -> Result<Vec<OcppVersion>, ErrorCollector> {
    let mut first_errors = None;
    let mut fits = Vec::new();
    for command in Command::versions_of(action) {
        match command.check_request(data, prefix) {
            Ok(()) => fits.push(command.version),
            Err(errors) => {
                first_errors.get_or_insert(errors);
            }
        }
    }
    match first_errors {
        Some(errors) if fits.is_empty() => Err(errors),
        _ => Ok(fits),
    }
}

/// The longest schema verdict a refusal quotes (`unfit`).
const MAX_REFUSAL_BYTES: usize = 300;

/// Why `action` with `data` is not sent to a charger speaking `version`: `None` when it may be.
/// A run may target chargers of both versions; each gets the CALL only if it fits its version.
pub fn unfit(version: OcppVersion, action: &str, data: &Value) -> Option<String> {
    let Some(command) = Command::find(version, action) else {
        return Some(format!("not sent: the charger speaks {}, which has no {action}", version.name()));
    };
    let errors = command.check_request(data, "data").err()?;
    // The schema's verdict may quote the data: bounded as a charger's words are.
    let first = truncated(errors.first_message().unwrap_or_default().to_owned(), MAX_REFUSAL_BYTES);
    Some(format!("not sent: the charger speaks {}, whose {action} schema this data breaks: {first}", version.name()))
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
        assert_eq!(VALIDATORS.len(), 66);
        for (command, compiled) in COMMANDS.iter().zip(VALIDATORS.iter()) {
            assert!(compiled.is_some(), "{} schemas do not compile", command.action);
        }
    }

    #[test]
    fn unknown_actions_are_not_in_the_catalogue() {
        assert!(Command::find(OcppVersion::V16, "Reset").is_some());
        assert!(Command::find(OcppVersion::V201, "Reset").is_some());
        assert!(Command::find(OcppVersion::V16, "GetVariables").is_none());
        assert!(Command::find(OcppVersion::V201, "ChangeConfiguration").is_none());
        assert_eq!(Command::action_named("GetVariables"), Some("GetVariables"));
        assert_eq!(Command::action_named("BootNotification"), None);
        assert_eq!(Command::action_named("reset"), None);
        assert_eq!(Command::versions_of("ClearCache").count(), 2);
    }

    #[test]
    fn request_errors_name_the_field_path() {
        let reset = Command::find(OcppVersion::V16, "Reset").unwrap();
        assert!(reset.check_request(&json!({"type": "Soft"}), "data").is_ok());
        let errors = reset.check_request(&json!({}), "data").unwrap_err().fields().clone();
        assert_eq!(errors["data.type"], vec!["The data.type field is required."]);
        let errors = reset.check_request(&json!({"type": "Warm", "extra": 1}), "data").unwrap_err().fields().clone();
        assert!(errors["data.type"][0].starts_with("The data.type field is invalid"), "{errors:?}");
        assert_eq!(errors["data.extra"], vec!["The data.extra field is not allowed."]);

        let profile = Command::find(OcppVersion::V16, "SetChargingProfile").unwrap();
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
        let change = Command::find(OcppVersion::V16, "ChangeConfiguration").unwrap();
        let errors =
            change.check_request(&json!({"key": "k".repeat(51), "value": "1"}), "data").unwrap_err().fields().clone();
        assert!(errors.contains_key("data.key"), "{errors:?}");
    }

    #[test]
    fn integers_are_32_bit() {
        let unlock = Command::find(OcppVersion::V16, "UnlockConnector").unwrap();
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
        let list = Command::find(OcppVersion::V16, "SendLocalList").unwrap();
        let entries: Vec<Value> = (0..5_000).map(|_| json!({})).collect();
        let payload = json!({"listVersion": 1, "updateType": "Full", "localAuthorizationList": entries});
        let errors = list.check_request(&payload, "data").unwrap_err();
        let reported: usize = errors.fields().values().map(Vec::len).sum();
        assert!(reported <= MAX_REPORTED_ERRORS, "{reported} errors reported");
        assert_eq!(errors.more(), 5_000 - MAX_REPORTED_ERRORS);
    }

    #[test]
    fn a_command_of_both_versions_is_checked_against_each_versions_schema() {
        let old = Command::find(OcppVersion::V16, "Reset").unwrap();
        let new = Command::find(OcppVersion::V201, "Reset").unwrap();
        assert!(old.check_request(&json!({"type": "Soft"}), "data").is_ok());
        assert!(new.check_request(&json!({"type": "Soft"}), "data").is_err());
        assert!(new.check_request(&json!({"type": "OnIdle", "evseId": 1}), "data").is_ok());
        assert!(new.check_response(&json!({"status": "Scheduled"})).is_ok());
        assert!(old.check_response(&json!({"status": "Scheduled"})).is_err());
        assert!(Command::find(OcppVersion::V201, "GetBaseReport").unwrap().reports());
    }

    #[test]
    fn a_run_fits_the_versions_whose_schemas_take_its_data() {
        assert_eq!(versions_taking("ClearCache", &json!({}), "data").unwrap(), OcppVersion::ALL);
        assert_eq!(versions_taking("Reset", &json!({"type": "Immediate"}), "data").unwrap(), [OcppVersion::V201]);
        let errors = versions_taking("Reset", &json!({"type": "Warm"}), "data").unwrap_err();
        assert!(errors.fields().contains_key("data.type"));
        assert!(unfit(OcppVersion::V16, "ClearCache", &json!({})).is_none());
        let refusal = unfit(OcppVersion::V201, "Reset", &json!({"type": "Soft"})).unwrap();
        assert!(refusal.contains("OCPP 2.0.1") && refusal.contains("data.type"), "{refusal}");
        let refusal = unfit(OcppVersion::V16, "GetVariables", &json!({})).unwrap();
        assert!(refusal.contains("OCPP 1.6, which has no GetVariables"), "{refusal}");
        // A 2.0.1 DataTransfer's data may be any JSON; 1.6's is a string. The refusal stays short.
        let big = json!({"vendorId": "acme", "data": {"blob": "x".repeat(100_000)}});
        assert!(versions_taking("DataTransfer", &big, "data").unwrap() == [OcppVersion::V201]);
        assert!(unfit(OcppVersion::V16, "DataTransfer", &big).unwrap().len() < 600);
    }

    #[test]
    fn responses_are_checked_too() {
        let reset = Command::find(OcppVersion::V16, "Reset").unwrap();
        assert!(reset.check_response(&json!({"status": "Accepted"})).is_ok());
        assert!(reset.check_response(&json!({"status": "Maybe"})).is_err());
    }
}
