//! The fleet view on DynamoDB: one `STATE#{identity}` item per charger in the directory table,
//! written by `import` and by the WebSocket handler, listed through three sparse indexes
//! (`docs/data-model.md`, "The fleet view"). Index keys are attributes only state items carry:
//!
//! - `by-team`: `fleet_team` = `{team}#{shard}`, every charger of a team;
//! - `by-model`: `fleet_model` = `{team}#{model}#{shard}`, once the charger booted;
//! - `online`: `fleet_online` = `{team}#{shard}`, only while connected;
//!
//! each sorted by `fleet_charger` (the uuid), and holding only what changes rarely (`INCLUDE`):
//! a heartbeat or status that writes `last_seen` or `connectors` writes no index. A team's keys are
//! split over sixteen shards by charger (`fleet_items::shard_of`), so that no index partition takes
//! a whole team's writes; a page reads them all and merges them (`fleet_index`).

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::directory::DynamoDirectory;
use super::errors::{applied, sdk_error};
use super::fleet_items::{model_prefix, shard_of, sharded, state_key};
use super::item::{get_item_projected, opt_s, parse_time, string, Item};
use super::tables::IndexDef;
use crate::clock::rfc3339;
use crate::domain::charger_state::{Boot, ChargerState, ConnectorKey, ConnectorStatus, FleetFilter, FleetKey};
use crate::domain::{Charger, OcppVersion};
use crate::error::Result;
use crate::ports::{FleetIndex, FleetStates};

/// What the indexes hold besides their keys (and the table's `pk`).
const INDEXED: &[&str] = &["identity", "connected", "vendor", "model", "firmware"];

pub const INDEXES: [IndexDef; 3] = [
    IndexDef { name: "by-team", hash: "fleet_team", range: "fleet_charger", include: Some(INDEXED) },
    IndexDef { name: "by-model", hash: "fleet_model", range: "fleet_charger", include: Some(INDEXED) },
    IndexDef { name: "online", hash: "fleet_online", range: "fleet_charger", include: Some(INDEXED) },
];

impl DynamoDirectory {
    /// A charger's state as `import` leaves it, keeping what was observed: its team, uuid and
    /// reference are (re)set, and the index keys derived from the team follow it.
    pub(super) async fn import_state(&self, charger: &Charger) -> Result<()> {
        let item = self
            .write_directory_fields(
                charger,
                ", #connected = if_not_exists(#connected, :no)",
                vec![(":no", AttributeValue::Bool(false))],
            )
            .await?;
        self.align_index_keys(&charger.identity, &item).await
    }

    /// Sets a state's fields from the directory (identity, uuid, team, reference and the index keys
    /// that follow from them), creating the state if there is none, plus `more` (`, a = :a, …`)
    /// with its `values`; returns the item as it now stands.
    async fn write_directory_fields(
        &self,
        charger: &Charger,
        more: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<Item> {
        let mut expression = format!(
            "SET #identity = :identity, #charger = :charger, #team = :team, fleet_team = :team_key, \
             fleet_charger = :charger, #connectors = if_not_exists(#connectors, :none){more}"
        );
        let mut request = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(state_key(&charger.identity)))
            .expression_attribute_names("#identity", "identity")
            .expression_attribute_names("#charger", "charger")
            .expression_attribute_names("#team", "team")
            .expression_attribute_names("#connected", "connected")
            .expression_attribute_names("#connectors", "connectors")
            .expression_attribute_names("#reference", "reference")
            .expression_attribute_values(":identity", string(&charger.identity))
            .expression_attribute_values(":charger", string(charger.uuid.to_string()))
            .expression_attribute_values(":team", string(&charger.team))
            .expression_attribute_values(":team_key", string(sharded(&charger.team, shard_of(charger.uuid))))
            .expression_attribute_values(":none", AttributeValue::M(HashMap::new()))
            .return_values(ReturnValue::AllNew);
        for (placeholder, value) in values {
            request = request.expression_attribute_values(placeholder, value);
        }
        match &charger.reference {
            Some(reference) => {
                expression.push_str(", #reference = :reference");
                request = request.expression_attribute_values(":reference", string(reference));
            }
            None => expression.push_str(" REMOVE #reference"),
        }
        let output = request.update_expression(expression).send().await.map_err(|e| sdk_error("dynamodb", e))?;
        Ok(output.attributes.unwrap_or_default())
    }

    /// Sets `fleet_team`, `fleet_model` and `fleet_online` to what the item's team, model and
    /// connection say, when they do not already (after an import moved a charger, a boot changed
    /// its model, or the state was written before the keys were split).
    async fn align_index_keys(&self, identity: &str, item: &Item) -> Result<()> {
        let (Some(team), Some(Ok(charger))) = (opt_s(item, "team"), opt_s(item, "charger").map(Uuid::try_parse)) else {
            return Ok(());
        };
        let shard = shard_of(charger);
        let model = opt_s(item, "model").map(|model| sharded(&model_prefix(team, model), shard));
        let connected = item.get("connected").and_then(|v| v.as_bool().ok()) == Some(&true);
        let all = sharded(team, shard);
        let online = connected.then(|| all.clone());
        if opt_s(item, "fleet_model") == model.as_deref()
            && opt_s(item, "fleet_online") == online.as_deref()
            && opt_s(item, "fleet_team") == Some(all.as_str())
        {
            return Ok(());
        }
        // `fleet_team` too: a state written before the keys were split moves to its shard.
        let mut sets = vec!["fleet_team = :all"];
        let mut removes = Vec::new();
        // Only if the item still says what this was computed from: a write that raced in (a
        // `$connect` beside a boot) aligns the keys itself from what it wrote.
        let mut condition = "#team = :read_team AND #connected = :read_connected".to_owned();
        let mut request = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(state_key(identity)))
            .expression_attribute_names("#team", "team")
            .expression_attribute_names("#connected", "connected")
            .expression_attribute_names("#model", "model")
            .expression_attribute_values(":read_team", string(team))
            .expression_attribute_values(":read_connected", AttributeValue::Bool(connected))
            .expression_attribute_values(":all", string(all));
        match opt_s(item, "model") {
            Some(read) => {
                condition.push_str(" AND #model = :read_model");
                request = request.expression_attribute_values(":read_model", string(read));
            }
            None => condition.push_str(" AND attribute_not_exists(#model)"),
        }
        match model {
            Some(model) => {
                sets.push("fleet_model = :model");
                request = request.expression_attribute_values(":model", string(model));
            }
            None => removes.push("fleet_model"),
        }
        match online {
            Some(online) => {
                sets.push("fleet_online = :online");
                request = request.expression_attribute_values(":online", string(online));
            }
            None => removes.push("fleet_online"),
        }
        let mut expression = String::new();
        if !sets.is_empty() {
            expression.push_str(&format!("SET {}", sets.join(", ")));
        }
        if !removes.is_empty() {
            expression.push_str(&format!(" REMOVE {}", removes.join(", ")));
        }
        let result = request.update_expression(expression).condition_expression(condition).send().await;
        applied(result).map(drop)
    }

    /// An update of a state that exists; a charger the directory does not hold changes nothing.
    async fn update_state(
        &self,
        identity: &str,
        expression: &str,
        condition: &str,
        names: &[(&str, &str)],
        values: Vec<(&str, AttributeValue)>,
        return_new: bool,
    ) -> Result<Option<Item>> {
        let mut request = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(state_key(identity)))
            .update_expression(expression)
            .condition_expression(condition);
        for (placeholder, name) in names {
            request = request.expression_attribute_names(*placeholder, *name);
        }
        for (placeholder, value) in values {
            request = request.expression_attribute_values(placeholder, value);
        }
        if return_new {
            request = request.return_values(ReturnValue::AllNew);
        }
        match request.send().await {
            Ok(output) => Ok(output.attributes),
            Err(err) if super::errors::is_condition_failure(&err) => Ok(None),
            Err(err) => Err(sdk_error("dynamodb", err)),
        }
    }
}

#[async_trait]
impl FleetStates for DynamoDirectory {
    async fn connected(
        &self,
        charger: &Charger,
        connection: &str,
        version: OcppVersion,
        at: DateTime<Utc>,
    ) -> Result<()> {
        // The directory's own fields too: a charger imported before the fleet view has no state yet.
        let item = self
            .write_directory_fields(
                charger,
                ", #connected = :yes, connection_id = :c, connected_since = :at, last_seen = :at, fleet_online = :team_key, \
                 ocpp = :ocpp",
                vec![
                    (":yes", AttributeValue::Bool(true)),
                    (":c", string(connection)),
                    (":at", string(rfc3339(at))),
                    (":ocpp", string(version.subprotocol())),
                ],
            )
            .await?;
        self.align_index_keys(&charger.identity, &item).await
    }

    async fn disconnected(&self, identity: &str, connection: &str, at: DateTime<Utc>) -> Result<()> {
        self.update_state(
            identity,
            "SET #connected = :no, last_seen = :at REMOVE fleet_online, connection_id",
            "connection_id = :c",
            &[("#connected", "connected")],
            vec![(":no", AttributeValue::Bool(false)), (":c", string(connection)), (":at", string(rfc3339(at)))],
            false,
        )
        .await
        .map(drop)
    }

    async fn booted(&self, identity: &str, boot: &Boot) -> Result<()> {
        let mut values =
            vec![(":vendor", string(&boot.vendor)), (":model", string(&boot.model)), (":at", string(rfc3339(boot.at)))];
        let mut sets = vec!["vendor = :vendor", "#model = :model", "booted_at = :at", "last_seen = :at"];
        let mut removes = Vec::new();
        for (name, placeholder, value) in
            [("firmware", ":firmware", &boot.firmware), ("serial", ":serial", &boot.serial)]
        {
            match value {
                Some(value) => {
                    sets.push(if name == "firmware" { "firmware = :firmware" } else { "serial = :serial" });
                    values.push((placeholder, string(value)));
                }
                None => removes.push(name),
            }
        }
        let mut expression = format!("SET {}", sets.join(", "));
        if !removes.is_empty() {
            expression.push_str(&format!(" REMOVE {}", removes.join(", ")));
        }
        let updated = self
            .update_state(identity, &expression, "attribute_exists(pk)", &[("#model", "model")], values, true)
            .await?;
        match updated {
            Some(item) => self.align_index_keys(identity, &item).await,
            None => Ok(()),
        }
    }

    async fn connector_status(&self, identity: &str, key: ConnectorKey, status: &ConnectorStatus) -> Result<()> {
        let mut fields = HashMap::from([
            ("status".to_owned(), string(&status.status)),
            ("at".to_owned(), string(rfc3339(status.at))),
        ]);
        if let Some(code) = &status.error_code {
            fields.insert("error_code".to_owned(), string(code));
        }
        self.update_state(
            identity,
            "SET #connectors.#id = :status, last_seen = :at",
            "attribute_exists(#connectors)",
            &[("#connectors", "connectors"), ("#id", &String::from(key))],
            vec![(":status", AttributeValue::M(fields)), (":at", string(rfc3339(status.at)))],
            false,
        )
        .await
        .map(drop)
    }

    async fn last_seen(&self, identity: &str) -> Result<Option<DateTime<Utc>>> {
        let item = get_item_projected(self.client(), self.table(), state_key(identity), "last_seen").await?;
        item.as_ref().map(|item| parse_time(item, "last_seen")).transpose().map(Option::flatten)
    }

    async fn seen(&self, identity: &str, at: DateTime<Utc>) -> Result<()> {
        self.update_state(
            identity,
            "SET last_seen = :at",
            "attribute_exists(pk)",
            &[],
            vec![(":at", string(rfc3339(at)))],
            false,
        )
        .await
        .map(drop)
    }

    async fn page(
        &self,
        teams: &[String],
        index: FleetIndex<'_>,
        after: Option<&FleetKey>,
        limit: usize,
        scan: usize,
        filter: &FleetFilter,
    ) -> Result<(Vec<ChargerState>, Option<FleetKey>)> {
        self.index_page(teams, index, after, limit, scan, filter).await
    }
}
