//! Live connections and in-flight CALLs on DynamoDB (the connections table, TTL on `expires`):
//! `CONN#{connection id}` → identity, `CHARGER#{identity}` → its live connection id,
//! `INFLIGHT#{identity}` → the one CALL it may have in flight, `REPORT#{identity}#{request id}` →
//! the result its report goes to. Every change but the last (a plain replacement) is conditional.

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::batch;
use super::errors::{applied, is_condition_failure, refused, sdk_error};
use super::item::{get_item, get_n, get_s, number, opt_n, opt_s, parse_time, string, Item};
use crate::clock::rfc3339;
use crate::domain::{FollowKind, OcppVersion};
use crate::error::{Error, Result};
use crate::messages::{FollowExpected, ReportExpected, FOLLOW_KEPT_DAYS, REPORT_KEPT_HOURS};
use crate::ports::{waiter_key, ConnectionRegistry, InflightCall, InflightCalls, LiveConnection, Parking};
use crate::queue_message::DispatchMessage;

/// API Gateway closes a WebSocket after 2 hours; entries outlive that a little, then expire.
const CONNECTION_TTL_HOURS: i64 = 3;

fn key(pk: String) -> Item {
    Item::from([("pk".to_owned(), string(pk))])
}

fn ttl(from: DateTime<Utc>, hours: i64) -> aws_sdk_dynamodb::types::AttributeValue {
    number((from + Duration::hours(hours)).timestamp())
}

pub struct DynamoConnectionTable {
    client: Client,
    table: String,
}

impl DynamoConnectionTable {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoConnectionTable { client, table: table.into() }
    }

    async fn get(&self, pk: String) -> Result<Option<Item>> {
        get_item(&self.client, &self.table, key(pk), true).await
    }
}

/// Reads and conditional deletes a release tries while messages keep parking on the slot.
const RELEASE_ATTEMPTS: usize = 8;

/// The messages parked on a slot item (`waiters`); an unreadable one is dropped with a warning.
fn waiting_messages(slot: &Item) -> Vec<DispatchMessage> {
    let Some(AttributeValue::M(waiters)) = slot.get("waiters") else {
        return Vec::new();
    };
    waiters
        .values()
        .filter_map(|w| w.as_s().ok())
        .filter_map(|text| match serde_json::from_str(text) {
            Ok(message) => Some(message),
            Err(err) => {
                tracing::warn!(error = %err, "unreadable waiting message dropped (its backstop still comes)");
                None
            }
        })
        .collect()
}

/// The condition on taking a charger's slot in a claim's transaction (`:now`, `:call`): free,
/// expired, or this CALL's already.
pub(crate) const SLOT_FREE: &str = "attribute_not_exists(pk) OR expires_ms <= :now OR call_id = :call";

/// The key of a charger's slot.
pub(crate) fn slot_pk(identity: &str) -> String {
    format!("INFLIGHT#{identity}")
}

/// When a slot taken by `call` expires, as its item keeps it: the time, its milliseconds (what
/// conditions compare) and the TTL a day later.
fn slot_expiry(call: &InflightCall) -> [(&'static str, AttributeValue); 3] {
    [
        ("expires_at", string(rfc3339(call.expires_at))),
        ("expires_ms", number(call.expires_at.timestamp_millis())),
        ("expires", ttl(call.expires_at, 24)),
    ]
}

/// The `INFLIGHT#{identity}` item of a charger's slot taken by `call`, with no waiters yet.
pub(crate) fn slot_item(identity: &str, call: &InflightCall) -> Item {
    let mut item = key(slot_pk(identity));
    item.insert("call_id".into(), string(&call.call_id));
    item.insert("action".into(), string(&call.action));
    item.insert("run".into(), string(call.run.to_string()));
    item.insert("charger".into(), string(call.charger.to_string()));
    item.insert("seq".into(), number(call.seq));
    item.extend(slot_expiry(call).map(|(name, value)| (name.to_owned(), value)));
    item.insert("waiters".into(), AttributeValue::M(Default::default()));
    item
}

/// The CALL a slot item holds.
pub(crate) fn parse_slot(item: &Item) -> Result<InflightCall> {
    let uuid = |name: &str| -> Result<Uuid> {
        Uuid::try_parse(get_s(item, name)?).map_err(|e| Error::internal("dynamodb", e))
    };
    Ok(InflightCall {
        call_id: get_s(item, "call_id")?.to_owned(),
        action: get_s(item, "action")?.to_owned(),
        run: uuid("run")?,
        charger: uuid("charger")?,
        seq: get_n(item, "seq")?,
        expires_at: parse_time(item, "expires_at")?
            .ok_or_else(|| Error::internal("dynamodb", "in-flight CALL without expiry"))?,
    })
}

/// A `CHARGER#{identity}` item's live connection.
fn live_connection(item: &Item) -> Option<LiveConnection> {
    let id = opt_s(item, "connection_id")?;
    let since = opt_n::<i64>(item, "since_ms").and_then(DateTime::from_timestamp_millis).unwrap_or_default();
    Some(LiveConnection { id: id.to_owned(), since, version: version_of(item) })
}

/// The version an item records (`ocpp`); one written before versions were kept speaks 1.6.
fn version_of(item: &Item) -> OcppVersion {
    opt_s(item, "ocpp").and_then(OcppVersion::from_subprotocol).unwrap_or_default()
}

#[async_trait]
impl ConnectionRegistry for DynamoConnectionTable {
    async fn register(&self, identity: &str, connection: &LiveConnection) -> Result<Option<String>> {
        let (connection_id, version, now) = (connection.id.as_str(), connection.version, connection.since);
        let mut item = key(format!("CONN#{connection_id}"));
        item.insert("identity".into(), string(identity));
        item.insert("ocpp".into(), string(version.subprotocol()));
        item.insert("expires".into(), ttl(now, CONNECTION_TTL_HOURS));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| sdk_error("dynamodb", e))?;
        // The connection it replaces is kept on the item (`replaced`), and the update applies once
        // per connection: the SDK's retry of an update whose 500 came after it was applied finds
        // the item already ours, and still learns which connection to close.
        let updated = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("CHARGER#{identity}"))))
            .update_expression(
                "SET replaced = if_not_exists(connection_id, :none), connection_id = :c, since_ms = :since, \
                 ocpp = :v, expires = :e",
            )
            .condition_expression("attribute_not_exists(connection_id) OR connection_id <> :c")
            .expression_attribute_values(":none", string(""))
            .expression_attribute_values(":c", string(connection_id))
            .expression_attribute_values(":v", string(version.subprotocol()))
            .expression_attribute_values(":since", number(now.timestamp_millis()))
            .expression_attribute_values(":e", ttl(now, CONNECTION_TTL_HOURS))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let item = match updated {
            Ok(output) => output.attributes,
            Err(err) => match err.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(failed)) => failed.item().cloned(),
                _ => return Err(sdk_error("dynamodb", err)),
            },
        };
        Ok(item
            .as_ref()
            .and_then(|a| opt_s(a, "replaced"))
            .filter(|old| !old.is_empty() && *old != connection_id)
            .map(str::to_owned))
    }

    async fn connection_of(&self, identity: &str) -> Result<Option<LiveConnection>> {
        Ok(self.get(format!("CHARGER#{identity}")).await?.as_ref().and_then(live_connection))
    }

    async fn connections_of(&self, identities: &[String]) -> Result<Vec<(String, LiveConnection)>> {
        let mut asked = std::collections::HashSet::with_capacity(identities.len());
        let keys = identities
            .iter()
            .filter(|identity| asked.insert(identity.as_str()))
            .map(|identity| key(format!("CHARGER#{identity}")))
            .collect();
        Ok(batch::get_all(&self.client, &self.table, keys, true)
            .await?
            .iter()
            .filter_map(|item| {
                let identity = opt_s(item, "pk")?.strip_prefix("CHARGER#")?;
                Some((identity.to_owned(), live_connection(item)?))
            })
            .collect())
    }

    async fn identity_of(&self, connection_id: &str) -> Result<Option<(String, OcppVersion)>> {
        let item = self.get(format!("CONN#{connection_id}")).await?;
        Ok(item.as_ref().and_then(|i| Some((opt_s(i, "identity")?.to_owned(), version_of(i)))))
    }

    async fn unregister(&self, connection_id: &str) -> Result<Option<String>> {
        // Read, then the charger's mapping (only if it still points here), then the connection:
        // each step is safe to repeat, so an SDK retry of a delete applied before its 500 cannot
        // leave the mapping behind (a delete that returned what it deleted could, on its retry).
        let Some(item) = self.get(format!("CONN#{connection_id}")).await? else {
            return Ok(None);
        };
        let Some(identity) = opt_s(&item, "identity").map(str::to_owned) else {
            return Ok(None);
        };
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("CHARGER#{identity}"))))
            .condition_expression("connection_id = :c")
            .expression_attribute_values(":c", string(connection_id))
            .send()
            .await;
        applied(result)?;
        let delete =
            self.client.delete_item().table_name(&self.table).set_key(Some(key(format!("CONN#{connection_id}"))));
        delete.send().await.map_err(|e| sdk_error("dynamodb", e))?;
        Ok(Some(identity))
    }
}

#[async_trait]
impl InflightCalls for DynamoConnectionTable {
    async fn acquire(&self, identity: &str, call: &InflightCall, now: DateTime<Utc>) -> Result<bool> {
        // Free or expired only: a slot this CALL holds already is not put again (its retry, after
        // an answer lost, would empty the waiters parked since), it is told apart by its call id.
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(slot_item(identity, call)))
            .condition_expression("attribute_not_exists(pk) OR expires_ms <= :now")
            .expression_attribute_values(":now", number(now.timestamp_millis()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let Some(held) = refused(result)? else {
            return Ok(true);
        };
        if held.as_ref().and_then(|held| opt_s(held, "call_id")) != Some(call.call_id.as_str()) {
            return Ok(false);
        }
        // This CALL's already (sent again, or the retry of a put whose answer was lost): its expiry
        // moves on, its waiters stay.
        let mut refresh = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(slot_pk(identity))))
            .update_expression("SET expires_at = :expires_at, expires_ms = :expires_ms, expires = :expires")
            .condition_expression("call_id = :call")
            .expression_attribute_values(":call", string(&call.call_id));
        for (name, value) in slot_expiry(call) {
            refresh = refresh.expression_attribute_values(format!(":{name}"), value);
        }
        let refreshed = refresh.send().await;
        applied(refreshed)
    }

    async fn current(&self, identity: &str) -> Result<Option<InflightCall>> {
        self.get(slot_pk(identity)).await?.as_ref().map(parse_slot).transpose()
    }

    async fn wait(&self, identity: &str, held_call_id: &str, message: &DispatchMessage) -> Result<Parking> {
        let text = serde_json::to_string(message).map_err(|e| Error::internal("dynamodb", e))?;
        let parked_as = waiter_key(message);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(slot_pk(identity))))
            .update_expression("SET waiters.#key = :me")
            .condition_expression(
                "call_id = :held AND attribute_exists(waiters) AND attribute_not_exists(waiters.#key)",
            )
            .expression_attribute_names("#key", &parked_as)
            .expression_attribute_values(":me", string(text))
            .expression_attribute_values(":held", string(held_call_id))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Parking::Parked),
            // The item as it stands tells which condition failed: the holder, or the key.
            Err(err) => match err.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(failed)) => {
                    let item = failed.item();
                    let held = item.is_some_and(|i| opt_s(i, "call_id") == Some(held_call_id));
                    let parked = item
                        .and_then(|i| i.get("waiters"))
                        .and_then(|w| w.as_m().ok())
                        .is_some_and(|w| w.contains_key(&parked_as));
                    Ok(if held && parked { Parking::AlreadyParked } else { Parking::NotHeld })
                }
                _ => Err(sdk_error("dynamodb", err)),
            },
        }
    }

    async fn release(&self, identity: &str, call_id: &str) -> Result<Vec<DispatchMessage>> {
        // The waiters are read first, and the slot deleted only if none parked since: a delete
        // applied but answered 500, retried by the SDK, finds the item gone, and the waiters read
        // before it are still this release's to wake (a DeleteItem's ALL_OLD would be lost with it).
        let pk = slot_pk(identity);
        for _ in 0..RELEASE_ATTEMPTS {
            let Some(slot) = self.get(pk.clone()).await? else {
                return Ok(Vec::new());
            };
            if opt_s(&slot, "call_id") != Some(call_id) {
                return Ok(Vec::new());
            }
            let parked = match slot.get("waiters") {
                Some(AttributeValue::M(waiters)) => waiters.len(),
                _ => 0,
            };
            let result = self
                .client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(key(pk.clone())))
                .condition_expression("call_id = :call AND (attribute_not_exists(waiters) OR size(waiters) = :parked)")
                .expression_attribute_values(":call", string(call_id))
                .expression_attribute_values(":parked", number(parked))
                .send()
                .await;
            match result {
                Ok(_) => return Ok(waiting_messages(&slot)),
                Err(err) if is_condition_failure(&err) => {
                    // Gone, or another CALL's: this delete was applied (its answer lost). Still
                    // this CALL's: a message parked meanwhile, so read again.
                    match self.get(pk.clone()).await? {
                        Some(now) if opt_s(&now, "call_id") == Some(call_id) => continue,
                        _ => return Ok(waiting_messages(&slot)),
                    }
                }
                Err(err) => return Err(sdk_error("dynamodb", err)),
            }
        }
        Err(Error::transient("dynamodb", "the charger's slot kept gaining waiters while it was released"))
    }

    async fn expect_report(&self, identity: &str, report: &ReportExpected, now: DateTime<Utc>) -> Result<()> {
        let mut item = key(format!("REPORT#{identity}#{}", report.request_id));
        item.insert("run".into(), string(report.run.to_string()));
        item.insert("seq".into(), number(report.seq));
        item.insert("request_id".into(), number(report.request_id));
        item.insert("expires".into(), ttl(now, REPORT_KEPT_HOURS));
        let put = self.client.put_item().table_name(&self.table).set_item(Some(item));
        put.send().await.map_err(|e| sdk_error("dynamodb", e))?;
        Ok(())
    }

    async fn report_expected(&self, identity: &str, request_id: i64) -> Result<Option<ReportExpected>> {
        let Some(item) = self.get(format!("REPORT#{identity}#{request_id}")).await? else {
            return Ok(None);
        };
        let run = Uuid::try_parse(get_s(&item, "run")?).map_err(|e| Error::internal("dynamodb", e))?;
        Ok(Some(ReportExpected { run, seq: get_n(&item, "seq")?, request_id: get_n(&item, "request_id")? }))
    }

    async fn expect_follow_up(&self, identity: &str, expected: &FollowExpected, now: DateTime<Utc>) -> Result<()> {
        let mut item = key(follow_key(identity, expected.kind));
        let json = serde_json::to_string(expected).map_err(|e| Error::internal("dynamodb", e))?;
        item.insert("follow".into(), string(json));
        item.insert("expires".into(), ttl(now, FOLLOW_KEPT_DAYS * 24));
        let put = self.client.put_item().table_name(&self.table).set_item(Some(item));
        put.send().await.map_err(|e| sdk_error("dynamodb", e))?;
        Ok(())
    }

    async fn follow_up_expected(&self, identity: &str, kind: FollowKind) -> Result<Option<FollowExpected>> {
        let Some(item) = self.get(follow_key(identity, kind)).await? else {
            return Ok(None);
        };
        let json = get_s(&item, "follow")?;
        serde_json::from_str(json).map(Some).map_err(|e| Error::internal("dynamodb", e))
    }
}

/// Where a charger's status notifications of `kind` are expected (one job of a kind at a time).
fn follow_key(identity: &str, kind: FollowKind) -> String {
    format!("FOLLOW#{identity}#{}", kind.as_str())
}
