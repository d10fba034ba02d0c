//! `RunStore` on DynamoDB, each method a few steps over the modules that do the work: `layout`
//! (keys and their arithmetic: docs/data-model.md), `items` (items and their attributes), `creation`
//! (a new run; a chunk's results under its claimed marker), `calls` (a CALL marked, a result ended:
//! its counter shard and the charger's slot move in the same TransactWriteItems), `reads` (a run
//! assembled from its counters and markers, and settled: completed by a conditional update the next
//! time it is read with no pending result left), `webhooks`.

mod answers;
mod calls;
mod cancel;
mod creation;
mod follow_ups;
mod items;
mod layout;
mod reads;
mod reports;
mod rollouts;
mod webhooks;

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::batch;
use super::connections::{parse_slot, slot_item, slot_pk, SLOT_FREE};
use super::errors::{applied, sdk_error};
use super::item::{get_item, number, opt_s, query_pages, string, Item};
use crate::clock::rfc3339;
use crate::domain::report::{KeptPart, ReportPart, ReportSummary};
use crate::domain::rollout::RolloutState;
use crate::domain::{Expect, FollowUp, Outcome, ResultRecord, ResultStatus, Run};
use crate::error::{Error, Result};
use crate::ports::{CallClaim, Called, Gate, InflightCall, RunKey, RunStore};
use answers::Parsed;
use calls::{MARK_CALLED, UNCALLED};
use creation::ChunkClaim;
use items::{parse_meta, run_items, shell_item};
use layout::{chunk_key, owner_sort_key, results_partition, run_of_partition, MAX_RESULTS_WINDOW};
pub use layout::{counter_key, meta_key, result_key, shard_count, Layout, OWNER_INDEX};

pub struct DynamoRunStore {
    client: Client,
    table: String,
    /// The connections table, where chargers' in-flight slots are: an answer frees its slot in the
    /// transaction that records it (`finish_answered`). Without it, the caller frees the slot.
    slots: Option<String>,
    /// Layouts never change after creation; cached per warm process.
    layouts: Mutex<HashMap<Uuid, Layout>>,
}

impl DynamoRunStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoRunStore { client, table: table.into(), slots: None, layouts: Mutex::default() }
    }

    /// Frees answered CALLs' slots in `connections` (the connections table) as answers are recorded.
    pub fn with_slots(mut self, connections: impl Into<String>) -> Self {
        self.slots = Some(connections.into());
        self
    }
}

#[async_trait]
impl RunStore for DynamoRunStore {
    async fn create_run(&self, run: &Run, results: Vec<ResultRecord>) -> Result<()> {
        let (items, meta) = run_items(run, &results);
        self.store_run(run, items, meta).await
    }

    async fn create_run_shell(&self, run: &Run) -> Result<()> {
        self.store_run(run, Vec::new(), shell_item(run)).await
    }

    async fn write_results(&self, run: Uuid, chunk: u32, results: Vec<ResultRecord>) -> Result<bool> {
        let Some(layout) = self.layout(run).await? else {
            return Err(Error::internal("dynamodb", format!("results for run {run}, which has no META")));
        };
        // One delivery writes a chunk: two racing would let the later one put back `pending` on a
        // result the earlier had already dispatched. The marker is claimed first, with a lease; a
        // chunk whose marker is done was written before (its results may have moved on since).
        let writer = fastrand::u64(..);
        let taken_over = match self.claim_chunk(run, chunk, writer).await? {
            ChunkClaim::Ours { taken_over } => taken_over,
            ChunkClaim::Done => return Ok(false),
            ChunkClaim::Writing => {
                return Err(Error::transient("dynamodb", format!("chunk {chunk} of run {run} is being written")))
            }
        };
        let skipped = results.iter().filter(|r| r.status == ResultStatus::SkippedForbidden).count() as u64;
        let items = results.iter().map(|result| items::result_item(run, layout, result)).collect();
        if taken_over {
            // What the dead writer put may have moved on: each result put only where it is not.
            batch::put_new_each(&self.client, &self.table, items).await?;
        } else {
            batch::put_all_once(&self.client, &self.table, items).await?;
        }
        // Done: nothing of the chunk was dispatched before this. Its skips are counted on the marker
        // itself, so they count once whatever happens, and cost no write on the run's counters, which
        // a chunk's 1,000 positions would spread over up to 1,000 items.
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(chunk_key(run, chunk)))
            .update_expression("SET skipped = :skipped, ended_ms = :now REMOVE writing_until, writer")
            .expression_attribute_values(":skipped", number(skipped))
            .expression_attribute_values(":now", number(Utc::now().timestamp_millis()))
            .send()
            .await
            .map_err(|e| sdk_error("dynamodb", e))?;
        Ok(true)
    }

    async fn cancel(&self, run: Uuid, at: DateTime<Utc>, reason: Option<&str>) -> Result<bool> {
        self.mark_cancelled(run, at, reason).await
    }

    async fn cancelled_at(&self, run: Uuid) -> Result<Option<DateTime<Utc>>> {
        Ok(self.read_gate(run).await?.cancelled_at)
    }

    async fn gate(&self, run: Uuid) -> Result<Gate> {
        self.read_gate(run).await
    }

    async fn set_held(&self, run: Uuid, held: bool, rev: u32) -> Result<bool> {
        self.write_held(run, held, rev).await
    }

    async fn advance_rollout(&self, run: Uuid, next: &RolloutState) -> Result<bool> {
        self.write_rollout(run, next).await
    }

    async fn advance_follow_up(&self, run: Uuid, seq: u64, next: &FollowUp) -> Result<bool> {
        self.advance(run, seq, next).await
    }

    async fn add_report_part(&self, run: Uuid, seq: u64, part: &ReportPart) -> Result<bool> {
        self.add_part(run, seq, part).await
    }

    async fn report(&self, run: Uuid, seq: u64) -> Result<Option<(ReportSummary, Vec<KeptPart>)>> {
        self.read_report(run, seq).await
    }

    async fn add_retry(&self, run: Uuid, retry: Uuid) -> Result<()> {
        // A string set: adding the same id twice (a retried request) leaves one.
        let added = self
            .update_meta(run)
            .update_expression("ADD retries :retry")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":retry", AttributeValue::Ss(vec![retry.to_string()]))
            .send()
            .await;
        applied(added).map(|_| ())
    }

    async fn run(&self, id: Uuid) -> Result<Option<Run>> {
        match self.meta(id).await? {
            Some(meta) => Ok(Some(self.read(meta).await?)),
            None => Ok(None),
        }
    }

    async fn definition(&self, id: Uuid) -> Result<Option<Run>> {
        let Some(meta) = self.meta(id).await? else {
            return Ok(None);
        };
        let (run, layout) = parse_meta(&meta)?;
        self.remember(id, layout);
        Ok(Some(run))
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
        // Positions are spread over the shards round-robin, so the next `limit` positions after
        // `after` sit in one window of `limit` seqs across them all: each shard is asked for its part
        // of the window, and a page costs the items it returns. With a status filter a window may
        // hold fewer matches: the next window, twice as wide, is read until the page is full or the
        // run's positions end.
        let mut found = Vec::new();
        let mut from = after.map_or(0, |seq| seq.saturating_add(1));
        let mut width = u64::try_from(limit.max(1)).unwrap_or(u64::MAX);
        while found.len() < limit && from < layout.total {
            let to = from.saturating_add(width - 1).min(layout.total - 1);
            // A window narrower than the shards touches only its positions' shards.
            let shards: BTreeSet<u64> =
                (from..=to).take(layout.results as usize).map(|seq| layout.shard_of(seq)).collect();
            let queries = shards.into_iter().map(|k| self.query_window(results_partition(run, k), status, from, to));
            let items = futures::future::try_join_all(queries).await?;
            let mut window: Vec<Parsed> =
                items.iter().flatten().map(|item| answers::parsed(run, item)).collect::<Result<_>>()?;
            window.sort_by_key(|row| row.result.seq);
            found.extend(window);
            from = to + 1;
            width = width.saturating_mul(2).min(MAX_RESULTS_WINDOW);
        }
        // Answers kept apart are read for the page's results only.
        found.truncate(limit);
        Ok(self.with_answers(found).await?.into_iter().map(|(_, result)| result).collect())
    }

    async fn runs_of(&self, owner: &str, before: Option<&RunKey>, limit: usize) -> Result<Vec<Run>> {
        // A page of the index stops at `limit` items or 1 MB, whichever comes first: it is read on
        // from its LastEvaluatedKey until `limit` runs are found or the owner's runs end.
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(OWNER_INDEX)
            .scan_index_forward(false)
            .limit(i32::try_from(limit.max(1)).unwrap_or(i32::MAX))
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":owner", string(owner));
        query = match before {
            Some(key) => query
                .key_condition_expression("#owner = :owner AND created < :before")
                .expression_attribute_values(":before", string(owner_sort_key(key.created_at, key.id))),
            None => query.key_condition_expression("#owner = :owner"),
        };
        let mut metas = query_pages(query, limit).await?;
        metas.truncate(limit);
        futures::future::try_join_all(metas.into_iter().map(|meta| self.read(meta))).await
    }

    async fn result(&self, run: Uuid, seq: u64) -> Result<Option<ResultRecord>> {
        let Some(layout) = self.layout(run).await? else {
            return Ok(None);
        };
        let item = get_item(&self.client, &self.table, result_key(run, layout, seq), true).await?;
        Ok(self.parse_results(item.iter().map(|item| (run, item)).collect()).await?.pop().map(|(_, result)| result))
    }

    async fn results_at(&self, keys: &[(Uuid, u64)]) -> Result<Vec<(Uuid, ResultRecord)>> {
        let mut items = Vec::with_capacity(keys.len());
        let mut asked = std::collections::HashSet::with_capacity(keys.len());
        for &(run, seq) in keys {
            // BatchGetItem refuses a request that names one key twice.
            if !asked.insert((run, seq)) {
                continue;
            }
            if let Some(layout) = self.layout(run).await? {
                items.push(result_key(run, layout, seq));
            }
        }
        let items = batch::get_all(&self.client, &self.table, items, true).await?;
        let items = items
            .iter()
            .map(|item| {
                let run = opt_s(item, "pk")
                    .and_then(run_of_partition)
                    .ok_or_else(|| Error::internal("dynamodb", "result outside a results partition"))?;
                Ok((run, item))
            })
            .collect::<Result<_>>()?;
        self.parse_results(items).await
    }

    async fn mark_called(&self, run: Uuid, seq: u64, call: &Called, at: DateTime<Utc>) -> Result<bool> {
        let call_id = call.call_id.as_str();
        let update = |request: UpdateItemFluentBuilder| {
            request
                .update_expression(MARK_CALLED)
                .condition_expression(UNCALLED)
                .expression_attribute_values(":at", string(rfc3339(at)))
                .expression_attribute_values(":due", number(call.due.timestamp_millis()))
        };
        // A retry of a write that was applied (its answer lost) finds its own call id.
        self.update_call(run, seq, call_id, update, |old| opt_s(old, "call_id") == Some(call_id)).await
    }

    async fn claim_call(
        &self,
        identity: &str,
        call: &InflightCall,
        free_before: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<Option<CallClaim>> {
        let Some(slots) = &self.slots else {
            return Ok(None);
        };
        let Some(layout) = self.layout(call.run).await? else {
            return Ok(Some(CallClaim::Ended));
        };
        let take = Put::builder()
            .table_name(slots)
            .set_item(Some(slot_item(identity, call)))
            .condition_expression(SLOT_FREE)
            .expression_attribute_values(":now", number(free_before.timestamp_millis()))
            .expression_attribute_values(":call", string(&call.call_id))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| Error::internal("dynamodb", e))?;
        let mark = Update::builder()
            .table_name(&self.table)
            .set_key(Some(result_key(call.run, layout, call.seq)))
            .update_expression(MARK_CALLED)
            .condition_expression(UNCALLED)
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#call_id", "call_id")
            .expression_attribute_names("#executed_at", "executed_at")
            .expression_attribute_values(":pending", string(ResultStatus::Pending.as_str()))
            .expression_attribute_values(":call", string(&call.call_id))
            .expression_attribute_values(":at", string(rfc3339(at)))
            .expression_attribute_values(":due", number(call.expires_at.timestamp_millis()))
            .build()
            .map_err(|e| Error::internal("dynamodb", e))?;
        let items =
            vec![TransactWriteItem::builder().put(take).build(), TransactWriteItem::builder().update(mark).build()];
        Ok(Some(match self.transact(items).await? {
            None => CallClaim::Taken,
            Some(failed) => match (failed.first().cloned().flatten(), failed.get(1).is_some_and(Option::is_some)) {
                (_, true) => CallClaim::Ended,
                (Some(held), false) => CallClaim::Held(parse_slot(&held).ok()),
                (None, false) => return Err(Error::internal("dynamodb", "claim cancelled without a failed condition")),
            },
        }))
    }

    async fn unmark_called(&self, run: Uuid, seq: u64, call_id: &str) -> Result<bool> {
        let update = |request: UpdateItemFluentBuilder| {
            request
                .update_expression("REMOVE #call_id, #executed_at, call_expires_ms")
                .condition_expression("#status = :pending AND #call_id = :call")
        };
        // A retry of a write that was applied finds the result pending and uncalled.
        let ours = |old: &Item| {
            opt_s(old, "call_id").is_none() && opt_s(old, "status") == Some(ResultStatus::Pending.as_str())
        };
        self.update_call(run, seq, call_id, update, ours).await
    }

    async fn finish(&self, run: Uuid, seq: u64, expect: &Expect, outcome: Outcome) -> Result<bool> {
        let Some(updates) = self.finish_updates(run, seq, expect, outcome).await? else {
            return Ok(false);
        };
        // The shard is not read back to see whether this was the run's last result: the run
        // completes when it is next read (`settle`), at the time its last result ended.
        Ok(self.transact(updates).await?.is_none())
    }

    async fn finish_answered(
        &self,
        run: Uuid,
        seq: u64,
        expect: &Expect,
        outcome: Outcome,
        identity: &str,
    ) -> Result<(bool, bool)> {
        let (Some(slots), Expect::Answer { call_id, .. }) = (&self.slots, expect) else {
            return Ok((self.finish(run, seq, expect, outcome).await?, false));
        };
        let Some(updates) = self.finish_updates(run, seq, expect, outcome).await? else {
            return Ok((false, false));
        };
        // The charger's slot goes in the same transaction when this CALL holds it and nothing
        // waits on it (or it is gone already); otherwise the caller frees it and wakes the waiters.
        let free = Delete::builder()
            .table_name(slots)
            .key("pk", string(slot_pk(identity)))
            .condition_expression("attribute_not_exists(pk) OR (call_id = :call AND size(waiters) = :none)")
            .expression_attribute_values(":call", string(call_id))
            .expression_attribute_values(":none", number(0))
            .build()
            .map_err(|e| Error::internal("dynamodb", e))?;
        let mut items = updates.clone();
        items.push(TransactWriteItem::builder().delete(free).build());
        match self.transact(items).await? {
            None => Ok((true, true)),
            // The result's own condition: a late, duplicate or misdirected answer.
            Some(failed) if failed.first().is_some_and(Option::is_some) => Ok((false, false)),
            // Only the slot's: the result alone, then the caller frees the slot.
            Some(_) => Ok((self.transact(updates).await?.is_none(), false)),
        }
    }
}
