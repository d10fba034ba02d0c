//! The command catalogue as the API shows it, and a run's body checked without creating anything:
//! `GET /v3/commands` (each command and the OCPP versions that have it), `GET /v3/commands/{command}`
//! (its official request schema in each), `POST /v3/chargers/commands/check` (the body `POST …/bulk`
//! takes, refused with the same 422 it would get, or what each version's chargers would be sent).
//! The console's send form is built on these three; the rules themselves stay in `bulk_request.rs`
//! and the schemas.

use serde_json::{json, Map, Value};
use shared::domain::{OcppVersion, VersionCommand};
use shared::ocpp::catalogue::{unfit, COMMANDS};
use shared::ocpp::Command;
use shared::{Error, Result};

use crate::bulk_request::BulkRequest;

/// `{"data": [{"command", "versions": ["ocpp1.6", …]}]}`, by name.
pub fn list() -> Value {
    let mut names: Vec<&str> = COMMANDS.iter().map(|command| command.action).collect();
    names.sort_unstable();
    names.dedup();
    let data: Vec<Value> = names
        .into_iter()
        .map(|name| {
            let versions: Vec<&str> = Command::versions_of(name).map(|c| c.version.subprotocol()).collect();
            json!({ "command": name, "versions": versions })
        })
        .collect();
    json!({ "data": data })
}

/// `{"data": {"command", "schemas": {"ocpp1.6": {…}, …}}}`: the request schema of each version that
/// has `name`. Not a command: 404.
pub fn show(name: &str) -> Result<Value> {
    let action = Command::action_named(name).ok_or(Error::NotFound)?;
    let mut schemas = Map::new();
    for command in Command::versions_of(action) {
        let schema = serde_json::from_str(command.request_schema())
            .map_err(|err| Error::internal("schemas", format!("the {action} schema does not parse: {err}")))?;
        schemas.insert(command.version.subprotocol().to_owned(), schema);
    }
    Ok(json!({ "data": { "command": action, "schemas": schemas } }))
}

/// A run's body checked as its POST would check it (422 with the same errors), then what a charger
/// of each version would be sent, or why it would get no CALL.
pub fn check(body: Value) -> Result<Value> {
    let request = BulkRequest::parse(body)?;
    let mut versions = Map::new();
    for version in OcppVersion::ALL {
        let (command, data) = VersionCommand::chosen(&request.versions, version, request.command, &request.data);
        let refusal = unfit(version, command, data);
        let verdict = json!({ "command": command, "sent": refusal.is_none(), "reason": refusal });
        versions.insert(version.subprotocol().to_owned(), verdict);
    }
    let chargers = match &request.target {
        Some(_) => json!({ "target": true }),
        None => json!({ "charger_ids": request.charger_ids.len() }),
    };
    Ok(json!({ "data": { "command": request.command, "chargers": chargers, "versions": versions } }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_names_each_command_once_with_its_versions() {
        let list = list();
        let data = list["data"].as_array().unwrap();
        assert_eq!(data.len(), 47);
        let reset = data.iter().find(|c| c["command"] == "Reset").unwrap();
        assert_eq!(reset["versions"], json!(["ocpp1.6", "ocpp2.0.1"]));
        let report = data.iter().find(|c| c["command"] == "GetBaseReport").unwrap();
        assert_eq!(report["versions"], json!(["ocpp2.0.1"]));
    }

    #[test]
    fn a_command_shows_its_official_schemas_and_an_unknown_one_is_not_found() {
        let shown = show("UnlockConnector").unwrap();
        assert_eq!(shown["data"]["schemas"]["ocpp1.6"]["required"], json!(["connectorId"]));
        assert_eq!(shown["data"]["schemas"]["ocpp2.0.1"]["required"], json!(["evseId", "connectorId"]));
        assert!(matches!(show("Format"), Err(Error::NotFound)));
    }

    #[test]
    fn a_check_says_what_each_version_is_sent_or_refuses_as_the_post_would() {
        let checked = check(json!({"command": "Reset", "data": {"type": "Soft"}, "charger_ids": ["a", "b"]})).unwrap();
        assert_eq!(checked["data"]["versions"]["ocpp1.6"]["sent"], true);
        assert_eq!(checked["data"]["versions"]["ocpp2.0.1"]["sent"], false);
        assert_eq!(checked["data"]["chargers"]["charger_ids"], 2);
        let refused = check(json!({"command": "Reset", "data": {"type": "Sideways"}})).unwrap_err();
        let body = refused.body();
        assert!(body["errors"]["data.type"].is_array(), "{body}");
        assert!(body["errors"]["charger_ids"].is_array(), "{body}");
    }
}
