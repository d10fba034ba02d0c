//! A charger's fleet state as a DynamoDB item (`STATE#{identity}`) and back: its key, the model
//! index's key, and the state and index entry read from an item.

use aws_sdk_dynamodb::types::AttributeValue;
use uuid::Uuid;

use crate::aws::item::{get_s, opt_s, parse_time, string, Item};
use crate::domain::charger_state::{Boot, ChargerState, ConnectorKey, ConnectorStatus};
use crate::domain::OcppVersion;
use crate::error::{Error, Result};
use crate::ports::FleetEntry;

pub(super) fn state_key(identity: &str) -> Item {
    Item::from([("pk".to_owned(), string(format!("STATE#{identity}")))])
}

/// How many values each team's index keys are split over. An index partition takes about 1,000
/// writes a second, and a team's 150,000 chargers dropping their connections at once write
/// `by-team` and `online` faster than that; split sixteen ways they take 16,000 ("The fleet view"
/// in docs/data-model.md). A page reads the sixteen and merges them in charger order.
pub(super) const INDEX_SHARDS: u8 = 16;

/// The share of a team's index keys a charger's entries go to: from all of its uuid's bytes, since
/// a fleet's uuids may share some (version 1 uuids made on one host end alike).
pub(super) fn shard_of(charger: Uuid) -> u8 {
    charger.as_bytes().iter().fold(0, |folded, byte| folded ^ byte) % INDEX_SHARDS
}

/// `by-model`'s key before its shard: `{team}#{model}` (`by-team`'s and `online`'s is the team).
/// Entries written before the keys were split have it whole.
pub(super) fn model_prefix(team: &str, model: &str) -> String {
    format!("{team}#{model}")
}

/// An index key in `shard`: `{prefix}#{shard}`.
pub(super) fn sharded(prefix: &str, shard: u8) -> String {
    format!("{prefix}#{shard}")
}

pub(super) fn parse_state(item: &Item) -> Result<ChargerState> {
    let uuid = Uuid::try_parse(get_s(item, "charger")?).map_err(|e| Error::internal("dynamodb", e))?;
    let boot = match (opt_s(item, "vendor"), opt_s(item, "model")) {
        (Some(vendor), Some(model)) => Some(Boot {
            vendor: vendor.to_owned(),
            model: model.to_owned(),
            firmware: opt_s(item, "firmware").map(str::to_owned),
            serial: opt_s(item, "serial").map(str::to_owned),
            at: parse_time(item, "booted_at")?.unwrap_or_default(),
        }),
        _ => None,
    };
    let mut connectors = std::collections::BTreeMap::new();
    if let Some(Ok(map)) = item.get("connectors").map(AttributeValue::as_m) {
        for (id, value) in map {
            let (Some(id), Ok(fields)) = (ConnectorKey::parse(id), value.as_m()) else {
                continue;
            };
            connectors.insert(
                id,
                ConnectorStatus {
                    status: get_s(fields, "status")?.to_owned(),
                    error_code: opt_s(fields, "error_code").map(str::to_owned),
                    at: parse_time(fields, "at")?.unwrap_or_default(),
                },
            );
        }
    }
    Ok(ChargerState {
        uuid,
        identity: get_s(item, "identity")?.to_owned(),
        reference: opt_s(item, "reference").map(str::to_owned),
        team: get_s(item, "team")?.to_owned(),
        connected: item.get("connected").and_then(|v| v.as_bool().ok()) == Some(&true),
        connected_since: parse_time(item, "connected_since")?,
        ocpp_version: opt_s(item, "ocpp").and_then(OcppVersion::from_subprotocol),
        last_seen: parse_time(item, "last_seen")?,
        boot,
        connectors,
    })
}

pub(super) fn entry_of(item: &Item) -> FleetEntry {
    FleetEntry {
        connected: item.get("connected").and_then(|v| v.as_bool().ok()) == Some(&true),
        vendor: opt_s(item, "vendor").map(str::to_owned),
        model: opt_s(item, "model").map(str::to_owned),
        firmware: opt_s(item, "firmware").map(str::to_owned),
    }
}
