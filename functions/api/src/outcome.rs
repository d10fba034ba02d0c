//! The POST's `outcome` field: what a run that follows its results past the answer
//! (`shared::domain::follow_up`) waits for. Such a run is one whose commands start a job the
//! charger reports on later (UpdateFirmware, SignedUpdateFirmware, GetDiagnostics, GetLog); it
//! follows outcomes whether or not the field is given (its defaults), and no other run takes it.

use std::collections::BTreeMap;

use serde_json::Value;
use shared::domain::follow_up::{
    DEFAULT_OUTCOME_TIMEOUT_SECONDS, MAX_OUTCOME_TIMEOUT_SECONDS, MIN_OUTCOME_TIMEOUT_SECONDS,
};
use shared::domain::{FollowKind, OcppVersion, OutcomePolicy, VersionCommand};
use shared::error::ErrorCollector;

use crate::bulk_request::integer;

/// The longest expected firmware version (a charger's BootNotification allows 50 characters).
const MAX_VERSION_BYTES: usize = 50;

/// The run's outcome policy: `None` for a run whose commands are not followed. Its commands (the
/// run's own and each version's) are followed all or none.
pub fn parse(
    value: Option<Value>,
    command: Option<&str>,
    versions: &BTreeMap<OcppVersion, VersionCommand>,
    errors: &mut ErrorCollector,
) -> Option<OutcomePolicy> {
    let commands: Vec<&str> = command.into_iter().chain(versions.values().map(|v| v.command.as_str())).collect();
    let kinds: Vec<Option<FollowKind>> = commands.iter().map(|c| FollowKind::of_command(c)).collect();
    let value = value.filter(|v| !v.is_null());
    if kinds.iter().all(Option::is_none) {
        if value.is_some() {
            let message =
                "The outcome field applies only to UpdateFirmware, SignedUpdateFirmware, GetDiagnostics and GetLog.";
            errors.add("outcome", message.into());
        }
        return None;
    }
    if let Some(plain) = commands.iter().zip(&kinds).find(|(_, kind)| kind.is_none()).map(|(c, _)| c) {
        let message = format!(
            "A run follows the outcome of all its commands or of none: {plain} ends at its answer, {} does not.",
            commands.iter().zip(&kinds).find(|(_, k)| k.is_some()).map_or("", |(c, _)| c)
        );
        errors.add("versions", message);
        return None;
    }
    let mut policy = OutcomePolicy { timeout_seconds: DEFAULT_OUTCOME_TIMEOUT_SECONDS, firmware_version: None };
    let Some(value) = value else {
        return Some(policy);
    };
    let Value::Object(mut fields) = value else {
        errors.add("outcome", "The outcome field must be an object.".into());
        return None;
    };
    let range = (MIN_OUTCOME_TIMEOUT_SECONDS, MAX_OUTCOME_TIMEOUT_SECONDS);
    if let Some(seconds) = integer(&mut fields, "timeout_seconds", "outcome.timeout_seconds", range, errors) {
        policy.timeout_seconds = seconds;
    }
    match fields.remove("firmware_version") {
        None | Some(Value::Null) => {}
        Some(Value::String(_)) if kinds.iter().any(|k| *k != Some(FollowKind::Firmware)) => {
            errors.add(
                "outcome.firmware_version",
                "The outcome.firmware_version field applies only to firmware updates.".into(),
            );
        }
        Some(Value::String(version)) if !version.is_empty() && version.len() <= MAX_VERSION_BYTES => {
            policy.firmware_version = Some(version)
        }
        Some(_) => errors.add(
            "outcome.firmware_version",
            format!("The outcome.firmware_version field must be a string of 1 to {MAX_VERSION_BYTES} characters."),
        ),
    }
    for unknown in fields.keys() {
        errors.add(&format!("outcome.{unknown}"), format!("The outcome.{unknown} field is not known."));
    }
    Some(policy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parsed(value: Value, command: &str) -> (Option<OutcomePolicy>, Value) {
        let mut errors = ErrorCollector::default();
        let policy = parse(Some(value), Some(command), &BTreeMap::new(), &mut errors);
        let body = errors.into_error().map_or(Value::Null, |e| e.body()["errors"].clone());
        (policy, body)
    }

    #[test]
    fn a_followed_command_gets_the_defaults_and_its_own_fields() {
        let (policy, errors) = parsed(Value::Null, "UpdateFirmware");
        assert_eq!(policy.unwrap().timeout_seconds, DEFAULT_OUTCOME_TIMEOUT_SECONDS);
        assert!(errors.is_null());
        let (policy, _) = parsed(json!({"timeout_seconds": 60, "firmware_version": "2.1"}), "UpdateFirmware");
        assert_eq!(policy.unwrap(), OutcomePolicy { timeout_seconds: 60, firmware_version: Some("2.1".into()) });
        assert!(parsed(Value::Null, "Reset").0.is_none());
    }

    #[test]
    fn what_does_not_fit_is_refused_by_field() {
        assert!(parsed(json!({}), "Reset").1["outcome"].is_array());
        assert!(parsed(json!({"timeout_seconds": 5}), "GetLog").1["outcome.timeout_seconds"].is_array());
        assert!(parsed(json!({"timeout_seconds": 604_801}), "GetLog").1["outcome.timeout_seconds"].is_array());
        assert!(parsed(json!({"firmware_version": "2"}), "GetLog").1["outcome.firmware_version"].is_array());
        assert!(parsed(json!({"firmware_version": ""}), "UpdateFirmware").1["outcome.firmware_version"].is_array());
        assert!(parsed(json!({"soak": 1}), "UpdateFirmware").1["outcome.soak"].is_array());
        assert!(parsed(json!([]), "UpdateFirmware").1["outcome"].is_array());
        let mut errors = ErrorCollector::default();
        let mixed = BTreeMap::from([(OcppVersion::V201, VersionCommand { command: "Reset".into(), data: json!({}) })]);
        assert!(parse(None, Some("UpdateFirmware"), &mixed, &mut errors).is_none());
        assert!(errors.into_error().unwrap().body()["errors"]["versions"].is_array());
    }
}
