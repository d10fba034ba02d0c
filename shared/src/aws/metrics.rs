//! Counts AWS requests per operation with an SDK interceptor: operations (what the code asked
//! for) and attempts (what went over the wire, retries included); the DynamoDB capacity units each
//! operation consumes, estimated from its request (items of at most 1 KB written, 4 KB read: what
//! ocpp-bulk's items are); and the receives that found the queue empty.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::sync::locked;
use aws_sdk_sqs::operation::receive_message::ReceiveMessageOutput;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    AfterDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

#[derive(Debug, Clone, Default)]
pub struct RequestCounter {
    counts: Arc<Mutex<BTreeMap<String, u64>>>,
    attempts: Arc<Mutex<BTreeMap<String, u64>>>,
    /// DynamoDB write and read units, by `Service.Operation`.
    units: Arc<Mutex<BTreeMap<String, Units>>>,
    empty_receives: Arc<Mutex<u64>>,
    /// Single-item DynamoDB operations and queries, by what their key names (`key_kind`).
    kinds: Arc<Mutex<BTreeMap<String, u64>>>,
}

/// DynamoDB capacity units.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Units {
    pub write: f64,
    pub read: f64,
}

/// The units a DynamoDB request consumes, from its JSON body (parsed): a write of an item up to 1 KB is one
/// write unit, twice that in a transaction; a strongly consistent read up to 4 KB one read unit, an
/// eventually consistent one half. A write whose condition fails consumes its units all the same.
pub fn dynamodb_units(operation: &str, request: &serde_json::Value) -> Units {
    let read = |consistent: &serde_json::Value| if consistent.as_bool() == Some(true) { 1.0 } else { 0.5 };
    let tables = || request["RequestItems"].as_object().into_iter().flat_map(|tables| tables.values());
    let count = |value: &serde_json::Value| value.as_array().map_or(0, Vec::len) as f64;
    match operation {
        "PutItem" | "UpdateItem" | "DeleteItem" => Units { write: 1.0, read: 0.0 },
        "TransactWriteItems" => Units { write: 2.0 * count(&request["TransactItems"]), read: 0.0 },
        "BatchWriteItem" => Units { write: tables().map(count).sum(), read: 0.0 },
        "GetItem" => Units { write: 0.0, read: read(&request["ConsistentRead"]) },
        "BatchGetItem" => {
            Units { write: 0.0, read: tables().map(|t| count(&t["Keys"]) * read(&t["ConsistentRead"])).sum() }
        }
        // A query's reads depend on what it finds: counted as one unit (a page of a few small items).
        "Query" => Units { write: 0.0, read: read(&request["ConsistentRead"]) },
        _ => Units::default(),
    }
}

/// What a single-item DynamoDB request or a query touches, from its JSON body (parsed): the operation and its
/// partition and sort keys' prefixes (`GetItem RUN#/META`, `Query RUN#/CHUNK#`), the ids left out;
/// `None` for other requests.
pub fn key_kind(operation: &str, request: &serde_json::Value) -> Option<String> {
    let kind = |value: &serde_json::Value| {
        let text = value["S"].as_str().unwrap_or("?");
        match text.find('#') {
            Some(end) => text[..=end].to_owned(),
            None if text.chars().all(|c| c.is_ascii_uppercase()) => text.to_owned(),
            None => "(id)".to_owned(),
        }
    };
    let key = match operation {
        "GetItem" | "UpdateItem" | "DeleteItem" => &request["Key"],
        "PutItem" => &request["Item"],
        "Query" => {
            // In the order the key condition names them (the partition key's first).
            let condition = request["KeyConditionExpression"].as_str().unwrap_or_default();
            let mut values: Vec<_> = request["ExpressionAttributeValues"].as_object()?.iter().collect();
            values.sort_by_key(|(name, _)| condition.find(name.as_str()).unwrap_or(usize::MAX));
            let named: Vec<String> = values.into_iter().map(|(_, value)| kind(value)).collect();
            let index = request["IndexName"].as_str().map(|i| format!(" {i}")).unwrap_or_default();
            return Some(format!("{operation}{index} {}", named.join("/")));
        }
        _ => return None,
    };
    let sort = key.get("sk").map(|sk| format!("/{}", kind(sk))).unwrap_or_default();
    Some(format!("{operation} {}{sort}", kind(&key["pk"])))
}

fn bump(counts: &Mutex<BTreeMap<String, u64>>, cfg: &ConfigBag) {
    *locked(counts).entry(operation(cfg)).or_default() += 1;
}

fn operation(cfg: &ConfigBag) -> String {
    cfg.load::<Metadata>().map_or_else(|| "unknown".to_owned(), |m| format!("{}.{}", m.service(), m.name()))
}

impl RequestCounter {
    /// Operations called so far, by `Service.Operation`.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        locked(&self.counts).clone()
    }

    /// HTTP attempts so far (operations plus their retries), by `Service.Operation`.
    pub fn attempts(&self) -> BTreeMap<String, u64> {
        locked(&self.attempts).clone()
    }

    /// Estimated DynamoDB units so far, by `Service.Operation` (`dynamodb_units`).
    pub fn units(&self) -> BTreeMap<String, Units> {
        locked(&self.units).clone()
    }

    /// Single-item DynamoDB operations and queries so far, by what they touch (`key_kind`).
    pub fn kinds(&self) -> BTreeMap<String, u64> {
        locked(&self.kinds).clone()
    }

    /// SQS receives that found no message (pollers wait on an idle queue whatever it holds).
    pub fn empty_receives(&self) -> u64 {
        *locked(&self.empty_receives)
    }

    pub fn reset(&self) {
        locked(&self.counts).clear();
        locked(&self.attempts).clear();
        locked(&self.units).clear();
        locked(&self.kinds).clear();
        *locked(&self.empty_receives) = 0;
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    /// Once per operation, before its attempts (the operation's name is known from here on).
    fn read_after_serialization(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        bump(&self.counts, cfg);
        if let Some(metadata) = cfg.load::<Metadata>().filter(|m| m.service().eq_ignore_ascii_case("dynamodb")) {
            let body = context.request().body().bytes().unwrap_or_default();
            // Parsed once for both: the counter sees every request a counted client makes.
            let request: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
            let units = dynamodb_units(metadata.name(), &request);
            if let Some(kind) = key_kind(metadata.name(), &request) {
                *locked(&self.kinds).entry(kind).or_default() += 1;
            }
            let mut all = locked(&self.units);
            let entry = all.entry(operation(cfg)).or_default();
            entry.write += units.write;
            entry.read += units.read;
        }
        Ok(())
    }

    /// After each attempt's output: an SQS receive that brought no message is told apart (one the
    /// SDK tried again counts once per attempt, as `attempts` does).
    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Ok(output) = context.output_or_error() {
            if output.downcast_ref::<ReceiveMessageOutput>().is_some_and(|o| o.messages().is_empty()) {
                *locked(&self.empty_receives) += 1;
            }
        }
        Ok(())
    }

    /// Once per attempt.
    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        bump(&self.attempts, cfg);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_follow_dynamodb_capacity_rules() {
        let units = |op: &str, body: serde_json::Value| dynamodb_units(op, &body);
        assert_eq!(units("GetItem", serde_json::json!({"ConsistentRead": true})).read, 1.0);
        assert_eq!(units("GetItem", serde_json::json!({})).read, 0.5);
        let batch = serde_json::json!({"RequestItems": {"t": {"Keys": [{}, {}, {}], "ConsistentRead": true}, "u": {"Keys": [{}]}}});
        assert_eq!(units("BatchGetItem", batch).read, 3.5);
        let transaction = serde_json::json!({"TransactItems": [{}, {}, {}]});
        assert_eq!(units("TransactWriteItems", transaction).write, 6.0, "twice per item");
        let writes = serde_json::json!({"RequestItems": {"t": [{}, {}]}});
        assert_eq!(units("BatchWriteItem", writes).write, 2.0);
        assert_eq!(units("UpdateItem", serde_json::json!({})).write, 1.0);
    }

    #[test]
    fn key_kinds_name_what_a_request_touches_without_its_ids() {
        let kind = |op: &str, body: serde_json::Value| key_kind(op, &body);
        let meta = serde_json::json!({"Key": {"pk": {"S": "RUN#4f0c"}, "sk": {"S": "META"}}});
        assert_eq!(kind("GetItem", meta).as_deref(), Some("GetItem RUN#/META"));
        let connection = serde_json::json!({"Item": {"pk": {"S": "CONN#abc"}}});
        assert_eq!(kind("PutItem", connection).as_deref(), Some("PutItem CONN#"));
        let chunks = serde_json::json!({"KeyConditionExpression": "pk = :pk AND begins_with(sk, :chunk)",
            "ExpressionAttributeValues": {":pk": {"S": "RUN#1"}, ":chunk": {"S": "CHUNK#"}}});
        assert_eq!(kind("Query", chunks).as_deref(), Some("Query RUN#/CHUNK#"));
        assert_eq!(kind("TransactWriteItems", serde_json::json!({})), None);
    }
}
