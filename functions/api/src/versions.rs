//! A POST's `versions`: what the chargers of one OCPP version are sent instead of the run's own
//! `command` and `data`, so one run reaches a mixed fleet (`{"ocpp2.0.1": {"command": "SetVariables",
//! "data": {…}}}` beside a 1.6 ChangeConfiguration). Each entry is checked against its version's
//! catalogue and schema, its errors keyed `versions.{version}.…`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use shared::domain::{OcppVersion, VersionCommand};
use shared::error::ErrorCollector;
use shared::ocpp::Command;

use crate::bulk_request::MAX_DATA_BYTES;
use crate::request::json_bytes;

/// The most `data` a run holds in all, its own and its versions': a run's META is one DynamoDB
/// item (at most 400 KB), and each payload may take `MAX_DATA_BYTES`.
pub const MAX_RUN_DATA_BYTES: usize = 2 * MAX_DATA_BYTES;

/// The `versions` field, checked; `data_bytes` is the size of the run's own `data`.
pub fn parse(value: Value, data_bytes: usize, errors: &mut ErrorCollector) -> BTreeMap<OcppVersion, VersionCommand> {
    let mut versions = BTreeMap::new();
    let entries = match value {
        Value::Null => return versions,
        Value::Object(entries) => entries,
        _ => {
            errors.add("versions", "The versions field must be an object keyed by ocpp1.6 or ocpp2.0.1.".into());
            return versions;
        }
    };
    let mut total = data_bytes;
    for (key, entry) in entries {
        let field = format!("versions.{key}");
        let Some(version) = OcppVersion::from_subprotocol(&key).filter(|v| v.subprotocol() == key) else {
            errors.add(&field, format!("The {field} field is not allowed: the keys are ocpp1.6 and ocpp2.0.1."));
            continue;
        };
        let Value::Object(entry) = entry else {
            errors.add(&field, format!("The {field} field must be an object with a command and its data."));
            continue;
        };
        if let Some(instead) = one(version, &field, entry, &mut total, errors) {
            versions.insert(version, instead);
        }
    }
    if total > MAX_RUN_DATA_BYTES {
        let message = format!(
            "The data of a run and its versions may be at most {MAX_RUN_DATA_BYTES} bytes as JSON in all ({total} \
             sent): a run is stored as one item."
        );
        errors.add("versions", message);
    }
    versions
}

fn one(
    version: OcppVersion,
    field: &str,
    mut entry: Map<String, Value>,
    total: &mut usize,
    errors: &mut ErrorCollector,
) -> Option<VersionCommand> {
    let command = match entry.remove("command") {
        Some(Value::String(name)) => match Command::find(version, &name) {
            Some(command) => Some(command),
            None => {
                let message = format!(
                    "The selected {field}.command is invalid: {name:?} is not an {} command a central system sends.",
                    version.name()
                );
                errors.add(&format!("{field}.command"), message);
                None
            }
        },
        None | Some(Value::Null) => {
            errors.add(&format!("{field}.command"), format!("The {field}.command field is required."));
            None
        }
        Some(_) => {
            errors.add(&format!("{field}.command"), format!("The {field}.command field must be a string."));
            None
        }
    };
    let data = match entry.remove("data") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(data @ Value::Object(_)) => data,
        Some(_) => {
            errors.add(&format!("{field}.data"), format!("The {field}.data field must be an object."));
            return None;
        }
    };
    for name in entry.keys() {
        errors.add(&format!("{field}.{name}"), format!("The {field}.{name} field is not allowed."));
    }
    let bytes = json_bytes(&data, false);
    *total += bytes;
    if bytes > MAX_DATA_BYTES {
        let message = format!("The {field}.data field may be at most {MAX_DATA_BYTES} bytes as JSON ({bytes} sent).");
        errors.add(&format!("{field}.data"), message);
        return None;
    }
    let command = command?;
    if let Err(field_errors) = command.check_request(&data, &format!("{field}.data")) {
        errors.absorb(field_errors);
        return None;
    }
    Some(VersionCommand { command: command.action.to_owned(), data })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors_of(value: Value) -> (BTreeMap<OcppVersion, VersionCommand>, Value) {
        let mut errors = ErrorCollector::default();
        let versions = parse(value, 2, &mut errors);
        (versions, serde_json::to_value(errors.fields()).unwrap())
    }

    #[test]
    fn each_version_is_checked_against_its_own_catalogue_and_schema() {
        let (versions, errors) = errors_of(json!({"ocpp2.0.1": {"command": "Reset", "data": {"type": "Immediate"}}}));
        assert_eq!(errors, json!({}));
        assert_eq!(versions[&OcppVersion::V201].command, "Reset");

        let (versions, errors) = errors_of(json!({
            "ocpp2.0.1": {"command": "Reset", "data": {"type": "Soft"}},
            "ocpp1.6": {"command": "SetVariables"},
            "ocpp2.1": {"command": "Reset"},
        }));
        assert!(versions.is_empty());
        assert!(errors["versions.ocpp2.0.1.data.type"].is_array(), "{errors}");
        assert!(
            errors["versions.ocpp1.6.command"][0].as_str().unwrap().contains("not an OCPP 1.6 command"),
            "{errors}"
        );
        assert!(errors["versions.ocpp2.1"].is_array(), "{errors}");
        let (_, errors) = errors_of(json!(["ocpp1.6"]));
        assert!(errors["versions"].is_array(), "{errors}");
    }

    #[test]
    fn a_run_holds_a_bounded_amount_of_data_in_all() {
        let big = json!({"vendorId": "v", "data": "x".repeat(MAX_DATA_BYTES - 1000)});
        let versions = json!({"ocpp1.6": {"command": "DataTransfer", "data": big},
                              "ocpp2.0.1": {"command": "DataTransfer", "data": big}});
        let mut errors = ErrorCollector::default();
        assert_eq!(parse(versions.clone(), 100, &mut errors).len(), 2, "{:?}", errors.fields());
        // Beside a run's own data of the same size, three payloads are too much for one item.
        let mut errors = ErrorCollector::default();
        parse(versions, MAX_DATA_BYTES, &mut errors);
        assert!(errors.fields()["versions"][0].contains("in all"), "{:?}", errors.fields());
    }
}
