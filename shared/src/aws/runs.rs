//! `RunStore` on DynamoDB. The layout and its arithmetic are in docs/data-model.md:
//! a run's results are spread over S shard partitions (`RUN#id#R{k}`, k = seq mod S) and its
//! counters over S shard items (`RUN#id#C{k}`), summed on read. A result leaves `pending` in the
//! same TransactWriteItems as its shard's counter moves; the run flips to completed by a
//! conditional update once every shard has no pending result left.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::batch;
use super::errors::{applied, applied_or, is_condition_failure, sdk_error, transaction_outcome};
use super::item::{get_item, get_n, get_s, n, opt_n, opt_s, parse_json, parse_time, s, Item};
use crate::clock::rfc3339;
use crate::domain::{ChargerRef, Counters, Expect, Outcome, ResultRecord, ResultStatus, Run};
use crate::error::{Error, Result};
use crate::ports::{RunKey, RunStore};
use crate::retry::Backoff;

/// Results per shard partition a run is sized for (see docs/data-model.md).
pub const RESULTS_PER_SHARD: u64 = 5_000;
pub const MAX_SHARDS: u32 = 64;
/// The owner index: a user's runs, newest first.
pub const OWNER_INDEX: &str = "by-owner";

pub fn shard_count(results: u64) -> u32 {
    u32::try_from(results.div_ceil(RESULTS_PER_SHARD)).unwrap_or(MAX_SHARDS).clamp(1, MAX_SHARDS)
}

/// Answers per counter item a run is sized for: every answer is a transaction on its counter,
/// and DynamoDB cancels a transaction that meets another one on the same item, so a counter must
/// stay cold enough for retries to get through (docs/data-model.md, "Failure modes").
pub const RESULTS_PER_COUNTER: u64 = 25;
/// At most this many counters: one BatchGetItem sums them.
pub const MAX_COUNTERS: u32 = 100;

/// How a run's items are spread: its results over `results` partitions, its counters over
/// `counters` items. Fixed at creation (stored on META).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub results: u32,
    pub counters: u32,
}

impl Layout {
    pub fn for_run(total: u64) -> Layout {
        let counters =
            u32::try_from(total.div_ceil(RESULTS_PER_COUNTER)).unwrap_or(MAX_COUNTERS).clamp(1, MAX_COUNTERS);
        Layout { results: shard_count(total), counters }
    }

    /// The results partition of position `seq`.
    pub fn result_shard(&self, seq: u64) -> u64 {
        seq % u64::from(self.results.max(1))
    }

    /// The counter item that counts position `seq`.
    pub fn counter_of(&self, seq: u64) -> u32 {
        (seq % u64::from(self.counters.max(1))) as u32
    }
}

pub fn meta_key(run: Uuid) -> Item {
    Item::from([("pk".into(), s(format!("RUN#{run}"))), ("sk".into(), s("META"))])
}

pub fn counter_key(run: Uuid, shard: u32) -> Item {
    Item::from([("pk".into(), s(format!("RUN#{run}#C{shard}"))), ("sk".into(), s("C"))])
}

/// The partition holding shard `shard` of a run's results.
fn results_partition(run: Uuid, shard: u64) -> String {
    format!("RUN#{run}#R{shard}")
}

pub fn result_key(run: Uuid, layout: Layout, seq: u64) -> Item {
    let shard = layout.result_shard(seq);
    Item::from([("pk".into(), s(results_partition(run, shard))), ("sk".into(), s(format!("{seq:012}")))])
}

fn owner_sort_key(created_at: DateTime<Utc>, id: Uuid) -> String {
    format!("{:020}#{id}", created_at.timestamp_micros())
}

/// Every item a new run writes: its results, its counter shards, then its META.
pub fn run_items(run: &Run, results: &[ResultRecord]) -> (Vec<Item>, Item) {
    let layout = Layout::for_run(results.len() as u64);
    let mut pending = vec![0u64; layout.counters as usize];
    let mut items = Vec::with_capacity(results.len() + layout.counters as usize);
    for result in results {
        if result.status == ResultStatus::Pending {
            pending[layout.counter_of(result.seq) as usize] += 1;
        }
        items.push(result_item(run.id, layout, result));
    }
    for (shard, pending) in pending.iter().enumerate() {
        let mut item = counter_key(run.id, shard as u32);
        for field in ["sent", "offline", "error"] {
            item.insert(field.into(), n(0));
        }
        item.insert("pending".into(), n(pending));
        items.push(item);
    }
    let mut meta = meta_key(run.id);
    meta.insert("owner".into(), s(&run.owner));
    meta.insert("created".into(), s(owner_sort_key(run.created_at, run.id)));
    meta.insert("created_at".into(), s(rfc3339(run.created_at)));
    meta.insert("command".into(), s(&run.command));
    meta.insert("data".into(), s(run.data.to_string()));
    meta.insert("total".into(), n(run.total_count));
    meta.insert("skipped".into(), n(run.counters.skipped));
    meta.insert("shards".into(), n(layout.results));
    meta.insert("counters".into(), n(layout.counters));
    meta.insert("timeout".into(), n(run.timeout_seconds));
    if let Some(rate) = run.max_per_second {
        meta.insert("max_per_second".into(), n(rate));
    }
    if let Some(at) = run.completed_at {
        meta.insert("completed_at".into(), s(rfc3339(at)));
        for (field, value) in
            [("sent", run.counters.sent), ("offline", run.counters.offline), ("error", run.counters.error)]
        {
            meta.insert(field.into(), n(value));
        }
    }
    (items, meta)
}

fn result_item(run: Uuid, layout: Layout, result: &ResultRecord) -> Item {
    let mut item = result_key(run, layout, result.seq);
    item.insert("seq".into(), n(result.seq));
    item.insert("charger_uuid".into(), s(&result.charger_uuid));
    item.insert("status".into(), s(result.status.as_str()));
    if let Some(charger) = &result.charger {
        item.insert("charger_id".into(), s(charger.uuid.to_string()));
        item.insert("identity".into(), s(&charger.identity));
        if let Some(reference) = &charger.reference {
            item.insert("reference".into(), s(reference));
        }
    }
    item
}

fn parse_result(item: &Item) -> Result<ResultRecord> {
    let status = ResultStatus::parse(get_s(item, "status")?)
        .ok_or_else(|| Error::internal("dynamodb", "result has an unknown status"))?;
    let charger = match opt_s(item, "charger_id") {
        Some(id) => Some(ChargerRef {
            uuid: Uuid::try_parse(id).map_err(|e| Error::internal("dynamodb", e))?,
            identity: get_s(item, "identity")?.to_owned(),
            reference: opt_s(item, "reference").map(str::to_owned),
        }),
        None => None,
    };
    Ok(ResultRecord {
        seq: get_n(item, "seq")?,
        charger_uuid: get_s(item, "charger_uuid")?.to_owned(),
        status,
        message: opt_s(item, "message").map(str::to_owned),
        executed_at: parse_time(item, "executed_at")?,
        response: parse_json(item, "response")?,
        charger,
        call_id: opt_s(item, "call_id").map(str::to_owned),
    })
}

fn parse_layout(item: &Item) -> Result<Layout> {
    let results = get_n(item, "shards")?;
    Ok(Layout { results, counters: opt_n(item, "counters").unwrap_or(results) })
}

fn parse_meta(item: &Item) -> Result<(Run, Layout)> {
    let id = get_s(item, "pk")?.trim_start_matches("RUN#");
    let run = Run {
        id: Uuid::try_parse(id).map_err(|e| Error::internal("dynamodb", e))?,
        owner: get_s(item, "owner")?.to_owned(),
        command: get_s(item, "command")?.to_owned(),
        data: parse_json(item, "data")?.unwrap_or_default(),
        total_count: get_n(item, "total")?,
        counters: Counters {
            sent: opt_n(item, "sent").unwrap_or(0),
            offline: opt_n(item, "offline").unwrap_or(0),
            error: opt_n(item, "error").unwrap_or(0),
            skipped: get_n(item, "skipped")?,
        },
        created_at: parse_time(item, "created_at")?
            .ok_or_else(|| Error::internal("dynamodb", "run without created_at"))?,
        completed_at: parse_time(item, "completed_at")?,
        timeout_seconds: get_n(item, "timeout")?,
        max_per_second: opt_n(item, "max_per_second"),
    };
    Ok((run, parse_layout(item)?))
}

pub struct DynamoRunStore {
    client: Client,
    table: String,
    /// Layouts never change after creation; cached per warm process.
    layouts: Mutex<HashMap<Uuid, Layout>>,
}

impl DynamoRunStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoRunStore { client, table: table.into(), layouts: Mutex::default() }
    }

    async fn meta(&self, run: Uuid) -> Result<Option<Item>> {
        get_item(&self.client, &self.table, meta_key(run), true).await
    }

    async fn layout(&self, run: Uuid) -> Result<Option<Layout>> {
        if let Some(layout) = self.layouts.lock().unwrap_or_else(|p| p.into_inner()).get(&run) {
            return Ok(Some(*layout));
        }
        let Some(meta) = self.meta(run).await? else {
            return Ok(None);
        };
        let layout = parse_layout(&meta)?;
        self.remember(run, layout);
        Ok(Some(layout))
    }

    fn remember(&self, run: Uuid, layout: Layout) {
        let mut cache = self.layouts.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(run, layout);
    }

    /// A run with its counters summed over the shards; flips it to completed when they add up.
    async fn assemble(&self, meta: Item) -> Result<Run> {
        let (mut run, layout) = parse_meta(&meta)?;
        self.remember(run.id, layout);
        if run.completed_at.is_some() {
            return Ok(run);
        }
        let keys = (0..layout.counters).map(|k| counter_key(run.id, k)).collect();
        for shard in batch::get_all(&self.client, &self.table, keys, true).await? {
            run.counters.sent += opt_n::<u64>(&shard, "sent").unwrap_or(0);
            run.counters.offline += opt_n::<u64>(&shard, "offline").unwrap_or(0);
            run.counters.error += opt_n::<u64>(&shard, "error").unwrap_or(0);
        }
        if run.is_complete() {
            run.completed_at = Some(self.complete(&run).await?);
        }
        Ok(run)
    }

    /// The conditional flip to completed; returns the completion time that holds.
    async fn complete(&self, run: &Run) -> Result<DateTime<Utc>> {
        let now = Utc::now();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(meta_key(run.id)))
            .update_expression("SET #completed_at = :at, #sent = :sent, #offline = :offline, #error = :error")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(#completed_at)")
            .expression_attribute_names("#completed_at", "completed_at")
            .expression_attribute_names("#sent", "sent")
            .expression_attribute_names("#offline", "offline")
            .expression_attribute_names("#error", "error")
            .expression_attribute_values(":at", s(rfc3339(now)))
            .expression_attribute_values(":sent", n(run.counters.sent))
            .expression_attribute_values(":offline", n(run.counters.offline))
            .expression_attribute_values(":error", n(run.counters.error))
            .send()
            .await;
        match result {
            Ok(_) => {
                tracing::info!(run = %run.id, "run completed");
                Ok(now)
            }
            Err(err) if is_condition_failure(&err) => {
                let meta = self.meta(run.id).await?.ok_or(Error::NotFound)?;
                parse_time(&meta, "completed_at")?.ok_or_else(|| Error::internal("dynamodb", "completion lost"))
            }
            Err(err) => Err(sdk_error("dynamodb", err)),
        }
    }

    /// A conditional update of a result's CALL (`mark_called`, `unmark_called`): `update` adds the
    /// expressions; `#status`, `#call_id`, `#executed_at`, `:pending` and `:call` are bound here.
    /// Retried on conflicts; a failed condition counts as applied when the item as it stands is
    /// `ours` (`ReturnValuesOnConditionCheckFailure=ALL_OLD`).
    async fn update_call(
        &self,
        run: Uuid,
        seq: u64,
        call_id: &str,
        update: impl Fn(UpdateItemFluentBuilder) -> UpdateItemFluentBuilder,
        ours: impl Fn(&Item) -> bool,
    ) -> Result<bool> {
        let Some(layout) = self.layout(run).await? else {
            return Ok(false);
        };
        let key = result_key(run, layout, seq);
        Backoff::WRITE
            .run(|| async {
                let request = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(key.clone()))
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_names("#call_id", "call_id")
                    .expression_attribute_names("#executed_at", "executed_at")
                    .expression_attribute_values(":pending", s(ResultStatus::Pending.as_str()))
                    .expression_attribute_values(":call", s(call_id))
                    .return_values(ReturnValue::None)
                    .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
                applied_or(update(request).send().await, &ours)
            })
            .await
    }

    async fn query_shard(
        &self,
        pk: String,
        status: Option<ResultStatus>,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Item>> {
        let mut found = Vec::new();
        let mut start = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .expression_attribute_values(":pk", s(&pk))
                .limit(i32::try_from(limit.max(1)).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start);
            query = match after {
                Some(seq) => query
                    .key_condition_expression("pk = :pk AND sk > :after")
                    .expression_attribute_values(":after", s(format!("{seq:012}"))),
                None => query.key_condition_expression("pk = :pk"),
            };
            if let Some(status) = status {
                query = query
                    .filter_expression("#status = :status")
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":status", s(status.as_str()));
            }
            let output = query.send().await.map_err(|e| sdk_error("dynamodb", e))?;
            found.extend(output.items.unwrap_or_default());
            start = output.last_evaluated_key;
            if found.len() >= limit || start.is_none() {
                found.truncate(limit);
                return Ok(found);
            }
        }
    }
}

#[async_trait]
impl RunStore for DynamoRunStore {
    async fn create_run(&self, run: &Run, results: Vec<ResultRecord>) -> Result<()> {
        let (items, meta) = run_items(run, &results);
        batch::put_all(&self.client, &self.table, items).await?;
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(meta))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        // A failed condition means META is there already: run ids are fresh UUIDs, so it is ours,
        // written by an attempt whose answer was lost.
        applied(put)?;
        self.remember(run.id, Layout::for_run(results.len() as u64));
        Ok(())
    }

    async fn run(&self, id: Uuid) -> Result<Option<Run>> {
        match self.meta(id).await? {
            Some(meta) => Ok(Some(self.assemble(meta).await?)),
            None => Ok(None),
        }
    }

    async fn results(
        &self,
        run: Uuid,
        status: Option<ResultStatus>,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<ResultRecord>> {
        let Some(layout) = self.layout(run).await? else {
            return Ok(Vec::new());
        };
        let queries =
            (0..layout.results).map(|k| self.query_shard(results_partition(run, u64::from(k)), status, after, limit));
        let mut results: Vec<ResultRecord> =
            futures::future::try_join_all(queries).await?.iter().flatten().map(parse_result).collect::<Result<_>>()?;
        results.sort_by_key(|r| r.seq);
        results.truncate(limit);
        Ok(results)
    }

    async fn runs_of(&self, owner: &str, before: Option<&RunKey>, limit: usize) -> Result<Vec<Run>> {
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(OWNER_INDEX)
            .scan_index_forward(false)
            .limit(i32::try_from(limit.max(1)).unwrap_or(i32::MAX))
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":owner", s(owner));
        query = match before {
            Some(key) => query
                .key_condition_expression("#owner = :owner AND created < :before")
                .expression_attribute_values(":before", s(owner_sort_key(key.created_at, key.id))),
            None => query.key_condition_expression("#owner = :owner"),
        };
        let output = query.send().await.map_err(|e| sdk_error("dynamodb", e))?;
        let runs = output.items.unwrap_or_default().into_iter().map(|meta| self.assemble(meta));
        futures::future::try_join_all(runs).await
    }

    async fn result(&self, run: Uuid, seq: u64) -> Result<Option<ResultRecord>> {
        let Some(layout) = self.layout(run).await? else {
            return Ok(None);
        };
        get_item(&self.client, &self.table, result_key(run, layout, seq), true)
            .await?
            .as_ref()
            .map(parse_result)
            .transpose()
    }

    async fn mark_called(&self, run: Uuid, seq: u64, call_id: &str, at: DateTime<Utc>) -> Result<bool> {
        let update = |request: UpdateItemFluentBuilder| {
            request
                .update_expression("SET #call_id = :call, #executed_at = :at")
                .condition_expression("#status = :pending AND attribute_not_exists(#call_id)")
                .expression_attribute_values(":at", s(rfc3339(at)))
        };
        // A retry of a write that was applied (its answer lost) finds its own call id.
        self.update_call(run, seq, call_id, update, |old| opt_s(old, "call_id") == Some(call_id)).await
    }

    async fn unmark_called(&self, run: Uuid, seq: u64, call_id: &str) -> Result<bool> {
        let update = |request: UpdateItemFluentBuilder| {
            request
                .update_expression("REMOVE #call_id, #executed_at")
                .condition_expression("#status = :pending AND #call_id = :call")
        };
        // A retry of a write that was applied finds the result pending and uncalled.
        let ours = |old: &Item| {
            opt_s(old, "call_id").is_none() && opt_s(old, "status") == Some(ResultStatus::Pending.as_str())
        };
        self.update_call(run, seq, call_id, update, ours).await
    }

    async fn finish(&self, run: Uuid, seq: u64, expect: &Expect, outcome: Outcome) -> Result<bool> {
        let Some(layout) = self.layout(run).await? else {
            return Ok(false);
        };
        let counter = layout.counter_of(seq);
        let field = match outcome.status {
            ResultStatus::Sent => "sent",
            ResultStatus::Offline => "offline",
            ResultStatus::Error => "error",
            other => return Err(Error::internal("dynamodb", format!("cannot finish a result as {}", other.as_str()))),
        };
        let mut sets = vec!["#status = :status"];
        let mut condition = "#status = :pending".to_owned();
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(result_key(run, layout, seq)))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(outcome.status.as_str()))
            .expression_attribute_values(":pending", s(ResultStatus::Pending.as_str()));
        if let Some(message) = &outcome.message {
            sets.push("#message = :message");
            update = update
                .expression_attribute_names("#message", "message")
                .expression_attribute_values(":message", s(message));
        }
        if let Some(response) = &outcome.response {
            sets.push("#response = :response");
            update = update
                .expression_attribute_names("#response", "response")
                .expression_attribute_values(":response", s(response.to_string()));
        }
        if let Some(at) = outcome.executed_at {
            sets.push("#executed_at = :at");
            update = update
                .expression_attribute_names("#executed_at", "executed_at")
                .expression_attribute_values(":at", s(rfc3339(at)));
        }
        match expect {
            Expect::Uncalled => {
                condition.push_str(" AND attribute_not_exists(#call_id)");
                update = update.expression_attribute_names("#call_id", "call_id");
            }
            Expect::Call(id) => {
                condition.push_str(" AND #call_id = :call");
                update = update
                    .expression_attribute_names("#call_id", "call_id")
                    .expression_attribute_values(":call", s(id));
            }
            Expect::AnyPending => {}
        }
        let update = update
            .update_expression(format!("SET {}", sets.join(", ")))
            .condition_expression(condition)
            .build()
            .map_err(|e| Error::internal("dynamodb", e))?;
        let count = Update::builder()
            .table_name(&self.table)
            .set_key(Some(counter_key(run, counter)))
            .update_expression("ADD #field :one, #pending :minus")
            .expression_attribute_names("#field", field)
            .expression_attribute_names("#pending", "pending")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":minus", n(-1))
            .build()
            .map_err(|e| Error::internal("dynamodb", e))?;
        // One token for every attempt: a retry of a transaction that was applied (its answer lost to
        // a 500 or a timeout) succeeds again without applying twice (DynamoDB keeps it 10 minutes).
        let token = Uuid::new_v4().to_string();
        let written = Backoff::WRITE
            .run(|| async {
                match self
                    .client
                    .transact_write_items()
                    .client_request_token(&token)
                    .transact_items(TransactWriteItem::builder().update(update.clone()).build())
                    .transact_items(TransactWriteItem::builder().update(count.clone()).build())
                    .send()
                    .await
                {
                    Ok(_) => Ok(true),
                    Err(err) => transaction_outcome(err),
                }
            })
            .await?;
        if !written {
            return Ok(false);
        }
        let shard_item = get_item(&self.client, &self.table, counter_key(run, counter), true).await?;
        if shard_item.as_ref().and_then(|i| opt_n::<i64>(i, "pending")).is_some_and(|p| p <= 0) {
            self.run(run).await?;
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_grow_with_the_run() {
        assert_eq!(shard_count(0), 1);
        assert_eq!(shard_count(5_000), 1);
        assert_eq!(shard_count(5_001), 2);
        assert_eq!(shard_count(150_000), 30);
        assert_eq!(shard_count(10_000_000), MAX_SHARDS);
    }
}

#[cfg(test)]
mod sizing {
    //! The arithmetic of docs/data-model.md, checked against the real key functions.

    use std::collections::HashMap;

    use super::*;

    /// A partition's sustained write capacity, in write units per second.
    const PARTITION_WCU: u64 = 1_000;

    fn pk(item: &Item) -> String {
        item["pk"].as_s().cloned().unwrap_or_default()
    }

    #[test]
    fn writes_per_partition_stay_under_the_limit() {
        let total: u64 = 150_000;
        let run = Run {
            id: Uuid::new_v4(),
            owner: "alice".into(),
            command: "Reset".into(),
            data: serde_json::json!({"type": "Soft"}),
            total_count: total,
            counters: Counters::default(),
            created_at: Utc::now(),
            completed_at: None,
            timeout_seconds: 30,
            max_per_second: None,
        };
        let results: Vec<ResultRecord> = (0..total)
            .map(|seq| {
                ResultRecord::pending(
                    seq,
                    ChargerRef { uuid: Uuid::new_v4(), identity: format!("CP{seq}"), reference: None },
                )
            })
            .collect();

        // Creation, in under 10 s: one write unit per item.
        let (items, meta) = run_items(&run, &results);
        let mut creation: HashMap<String, u64> = HashMap::new();
        for item in items.iter().chain(std::iter::once(&meta)) {
            *creation.entry(pk(item)).or_default() += 1;
        }
        let busiest = creation.values().max().copied().unwrap_or(0);
        assert_eq!(
            creation.len() as u64,
            1 + u64::from(shard_count(total)) + u64::from(Layout::for_run(total).counters),
            "META, S result partitions and C counters"
        );
        assert!(busiest / 10 <= PARTITION_WCU / 2, "creation: {busiest} writes on one partition in 10 s");

        // Acknowledgement, within 60 s: mark_called (1 WCU) and the transaction (2 WCU per item).
        let layout = Layout::for_run(total);
        let mut answers: HashMap<String, u64> = HashMap::new();
        for seq in 0..total {
            *answers.entry(pk(&result_key(run.id, layout, seq))).or_default() += 3;
            *answers.entry(pk(&counter_key(run.id, layout.counter_of(seq)))).or_default() += 2;
        }
        let busiest = answers.values().max().copied().unwrap_or(0);
        assert!(busiest / 60 <= PARTITION_WCU / 2, "answers: {busiest} write units on one partition in 60 s");

        // Unsharded, the same run would overload one partition 15 times over at creation.
        assert!(total / 10 > 10 * PARTITION_WCU);
    }
}
