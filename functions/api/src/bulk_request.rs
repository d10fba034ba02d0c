//! The POST's body, validated (`BulkRequest::parse`): the command and its `data` against the
//! official schema, the charger ids or a fleet `target`, the timeout, pace, webhook and retry fields;
//! every error collected, the first 100 reported.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use shared::domain::charger_state::FleetFilter;
use shared::domain::rollout::Rollout;
use shared::domain::{Identity, OcppVersion, OutcomePolicy, Run, VersionCommand};
use shared::error::ErrorCollector;
use shared::ocpp::catalogue::versions_taking;
use shared::ocpp::Command;
use shared::webhook::Webhook;
use shared::{Error, Result};
use uuid::Uuid;

use crate::request::json_bytes;
use crate::ApiContext;

pub const DEFAULT_TIMEOUT_SECONDS: u32 = 30;
pub const MAX_TIMEOUT_SECONDS: u32 = 900;

/// The largest `data`, as JSON: a CALL travels to its charger in one WebSocket message, and API
/// Gateway takes at most 128 KB per message (the frame's own bytes, id and action, fit in the rest).
/// A larger payload could never be delivered, so it is refused before its schema is checked, which
/// also bounds what checking costs.
pub const MAX_DATA_BYTES: usize = 120 * 1024;

/// The longest charger id a request may name: a charger's is a UUID; anything else is kept in its
/// result as sent, so it is bounded.
pub const MAX_ID_BYTES: usize = 255;

/// A validated request.
pub struct BulkRequest {
    /// The action, as the catalogue names it (a command of OCPP 1.6, 2.0.1, or both).
    pub command: &'static str,
    pub data: Value,
    /// What chargers of a version are sent instead (`versions.rs`).
    pub versions: BTreeMap<OcppVersion, VersionCommand>,
    /// Distinct ids in request order; UUIDs in canonical form. Empty when `target` names them.
    pub charger_ids: Vec<String>,
    /// The chargers by what they are (`fleet.rs`), resolved when the run is created.
    pub target: Option<FleetFilter>,
    /// `None`: the deployment's default (`ApiContext::default_timeout_seconds`).
    pub timeout_seconds: Option<u32>,
    pub max_per_second: Option<u32>,
    /// What the results' outcomes after the answer must come to (`outcome.rs`), for a run whose
    /// commands are followed past their answer.
    pub outcome: Option<OutcomePolicy>,
    /// How it is rolled out (`rollout.rs`): waves, abort threshold, start time, window.
    pub rollout: Option<Rollout>,
    /// Set by a retry (`retry.rs`): the run whose failures this one retries.
    pub retry_of: Option<Uuid>,
    /// Where the run's summary is POSTed when it completes (checked in `create`, `webhook.rs`),
    /// and whether at each tenth of its progress too.
    pub callback: Option<(String, bool)>,
}

impl BulkRequest {
    pub fn parse(body: Value) -> Result<BulkRequest> {
        let Value::Object(mut body) = body else {
            return Err(Error::invalid("body", "The request body must be a JSON object."));
        };
        let mut errors = ErrorCollector::default();

        let command = match body.remove("command") {
            None | Some(Value::Null) => {
                errors.add("command", "The command field is required.".into());
                None
            }
            Some(Value::String(name)) => {
                let found = Command::action_named(&name);
                if found.is_none() {
                    errors.add("command", format!("The selected command is invalid: {name:?} is not an OCPP 1.6 or 2.0.1 command a central system sends."));
                }
                found
            }
            Some(_) => {
                errors.add("command", "The command field must be a string.".into());
                None
            }
        };

        let data = match body.remove("data") {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(data @ Value::Object(_)) => data,
            Some(_) => {
                errors.add("data", "The data field must be an object.".into());
                Value::Object(Map::new())
            }
        };
        let data_bytes = json_bytes(&data, false);
        if data_bytes > MAX_DATA_BYTES {
            errors.add(
                "data",
                format!(
                    "The data field may be at most {MAX_DATA_BYTES} bytes as JSON ({data_bytes} sent): a CALL reaches \
                     its charger in one WebSocket message of at most 128 KB."
                ),
            );
        } else if let Some(command) = command {
            // A run may target chargers of both versions: its data must fit at least one.
            if let Err(field_errors) = versions_taking(command, &data, "data") {
                errors.absorb(field_errors);
            }
        }

        let versions = crate::versions::parse(body.remove("versions").unwrap_or(Value::Null), data_bytes, &mut errors);
        let outcome = crate::outcome::parse(body.remove("outcome"), command, &versions, &mut errors);
        let rollout = crate::rollout::parse(body.remove("rollout"), outcome.is_some(), Utc::now(), &mut errors);

        let target = match body.remove("target") {
            None | Some(Value::Null) => None,
            Some(target) => match crate::fleet::filter_from_target(target) {
                Ok(filter) => Some(filter),
                Err(message) => {
                    errors.add("target", message);
                    None
                }
            },
        };
        let mut charger_ids = Vec::new();
        match body.remove("charger_ids") {
            Some(ids) if !ids.is_null() && target.is_some() => {
                errors.add("charger_ids", "The charger ids field cannot be given with a target.".into())
            }
            None | Some(Value::Null) if target.is_some() => {}
            None | Some(Value::Null) => {
                errors.add("charger_ids", "The charger ids field is required when target is not present.".into())
            }
            Some(Value::Array(ids)) if ids.is_empty() => {
                errors.add("charger_ids", "The charger ids field must have at least 1 item.".into())
            }
            Some(Value::Array(ids)) => {
                let mut seen = HashSet::with_capacity(ids.len());
                for (i, id) in ids.into_iter().enumerate() {
                    let Value::String(id) = id else {
                        errors.add(&format!("charger_ids.{i}"), format!("The charger_ids.{i} field must be a string."));
                        continue;
                    };
                    if id.len() > MAX_ID_BYTES {
                        let message = format!("The charger_ids.{i} field may be at most {MAX_ID_BYTES} characters.");
                        errors.add(&format!("charger_ids.{i}"), message);
                        continue;
                    }
                    let id = Uuid::try_parse(&id).map_or(id, |uuid| uuid.to_string());
                    if seen.insert(id.clone()) {
                        charger_ids.push(id);
                    }
                }
            }
            Some(_) => errors.add("charger_ids", "The charger ids field must be an array.".into()),
        }

        let callback_url = match body.remove("callback_url") {
            None | Some(Value::Null) => None,
            Some(Value::String(url)) => Some(url),
            Some(_) => {
                errors.add("callback_url", "The callback url field must be a string.".into());
                None
            }
        };
        let progress = match body.remove("callback_progress") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(progress)) => progress,
            Some(_) => {
                errors.add("callback_progress", "The callback progress field must be true or false.".into());
                false
            }
        };
        if progress && callback_url.is_none() {
            errors.add("callback_progress", "The callback progress field needs a callback url.".into());
        }
        let timeout_seconds =
            integer(&mut body, "timeout_seconds", "timeout_seconds", (1, MAX_TIMEOUT_SECONDS), &mut errors);
        let max_per_second = integer(&mut body, "max_per_second", "max_per_second", (1, u32::MAX), &mut errors);

        if let Some(err) = errors.into_error() {
            return Err(err);
        }
        let command = command.ok_or_else(|| Error::invalid("command", "The command field is required."))?;
        Ok(BulkRequest {
            command,
            data,
            versions,
            charger_ids,
            target,
            timeout_seconds,
            max_per_second,
            outcome,
            rollout,
            retry_of: None,
            callback: callback_url.map(|url| (url, progress)),
        })
    }
}

impl BulkRequest {
    /// The run this request creates (its ids aside): `total_count` results, nothing counted yet.
    pub fn into_run(
        self,
        ctx: &ApiContext,
        caller: &Identity,
        id: Uuid,
        total_count: u64,
        now: DateTime<Utc>,
        webhook: Option<Webhook>,
    ) -> Run {
        let timeout = self.timeout_seconds.unwrap_or(ctx.default_timeout_seconds);
        let data = self.data;
        Run {
            max_per_second: self.max_per_second,
            retry_of: self.retry_of,
            target: self.target,
            webhook,
            versions: self.versions,
            outcome: self.outcome,
            rollout: self.rollout,
            ..Run::new(id, caller.user.clone(), self.command.to_owned(), data, total_count, now, timeout)
        }
    }
}

/// The integer field `key` of `body` (taken out of it), between `min` and `max`; else an error
/// under `path` (the field as the client names it: `timeout_seconds`, `rollout.soak_seconds`).
/// Absent or null: `None`, no error.
pub(crate) fn integer(
    body: &mut Map<String, Value>,
    key: &str,
    path: &str,
    (min, max): (u32, u32),
    errors: &mut ErrorCollector,
) -> Option<u32> {
    let value = body.remove(key)?;
    if value.is_null() {
        return None;
    }
    match value.as_u64().and_then(|v| u32::try_from(v).ok()) {
        Some(v) if (min..=max).contains(&v) => Some(v),
        _ if max == u32::MAX => {
            errors.add(path, format!("The {path} field must be an integer of at least {min}."));
            None
        }
        _ => {
            errors.add(path, format!("The {path} field must be an integer between {min} and {max}."));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors(body: Value) -> Value {
        match BulkRequest::parse(body) {
            Err(err) => err.body()["errors"].clone(),
            Ok(_) => panic!("expected a validation error"),
        }
    }

    #[test]
    fn ids_are_deduplicated_and_canonical() {
        let upper = "6F1C1F9E-3A53-4C55-9B1E-2D1F2C3B4A5D";
        let request = BulkRequest::parse(
            json!({"command": "ClearCache", "charger_ids": [upper, upper.to_lowercase(), "x", "x"]}),
        )
        .unwrap();
        assert_eq!(request.charger_ids, vec![upper.to_lowercase(), "x".to_owned()]);
        assert_eq!(request.timeout_seconds, None);
    }

    #[test]
    fn data_that_no_websocket_message_could_carry_is_refused_unchecked() {
        let entries: Vec<Value> = (0..100_000).map(|_| json!({})).collect();
        let body = json!({"command": "SendLocalList", "charger_ids": ["x"],
            "data": {"listVersion": 1, "updateType": "Full", "localAuthorizationList": entries}});
        let e = errors(body);
        assert_eq!(e.as_object().unwrap().len(), 1, "one error, not one per entry: {e}");
        assert!(e["data"][0].as_str().unwrap().contains("at most 122880 bytes"), "{e}");
        assert_eq!(json_bytes(&json!({"a": [1, 2]}), false), r#"{"a":[1,2]}"#.len());
    }

    #[test]
    fn every_problem_is_reported_by_field() {
        let e = errors(json!({}));
        assert!(e["command"].is_array() && e["charger_ids"].is_array());
        let e = errors(json!({"command": "Reset", "data": {"type": "Warm"}, "charger_ids": [], "timeout_seconds": 0}));
        assert!(e["data.type"].is_array() && e["charger_ids"].is_array() && e["timeout_seconds"].is_array(), "{e}");
        let e = errors(json!({"command": "Launch", "charger_ids": [1], "max_per_second": 0}));
        assert!(e["command"].is_array() && e["charger_ids.0"].is_array() && e["max_per_second"].is_array(), "{e}");
        assert!(BulkRequest::parse(json!([1])).is_err());
        let e = errors(json!({"command": "Reset", "data": [], "charger_ids": ["a"]}));
        assert!(e["data"].is_array());
    }
}
