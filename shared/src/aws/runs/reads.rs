//! Reading runs on DynamoDB: META and its cached layout, a run assembled from its counters and
//! its chunks' markers and settled (completed, once, when they add up), and a window of results.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::items::{counters_of, parse_layout, parse_meta};
use super::layout::{counter_key, meta_key, Layout, CHUNK_PREFIX};
use super::DynamoRunStore;
use crate::aws::batch;
use crate::aws::errors::{is_condition_failure, sdk_error};
use crate::aws::item::{get_item, number, opt_n, parse_time, query_pages, string, Item};
use crate::clock::rfc3339;
use crate::domain::{FollowState, ResultStatus, Run};
use crate::error::{Error, Result};
use crate::sync::locked;

impl DynamoRunStore {
    pub(super) async fn meta(&self, run: Uuid) -> Result<Option<Item>> {
        get_item(&self.client, &self.table, meta_key(run), true).await
    }

    pub(super) async fn layout(&self, run: Uuid) -> Result<Option<Layout>> {
        if let Some(layout) = locked(&self.layouts).get(&run) {
            return Ok(Some(*layout));
        }
        let Some(meta) = self.meta(run).await? else {
            return Ok(None);
        };
        let layout = parse_layout(&meta)?;
        self.remember(run, layout);
        Ok(Some(layout))
    }

    pub(super) fn remember(&self, run: Uuid, layout: Layout) {
        let mut cache = locked(&self.layouts);
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(run, layout);
    }

    /// A run with its counters summed over the shards, and when its last result ended (the latest
    /// `ended_at` of its shards), which is when it completed once its counters add up.
    pub(super) async fn assemble(&self, meta: Item) -> Result<(Run, Option<DateTime<Utc>>)> {
        let (mut run, layout) = parse_meta(&meta)?;
        self.remember(run.id, layout);
        if run.completed_at.is_some() {
            return Ok((run, None));
        }
        let keys = (0..layout.counters).map(|k| counter_key(run.id, k)).collect();
        // Both at once: the counters, and the skips a run created in chunks counts on its CHUNK#
        // markers (none for an inline run: the Query finds nothing; markers of chunks written before
        // they counted hold none).
        let (shards, (skipped, mut last_ended)) =
            futures::future::try_join(batch::get_all(&self.client, &self.table, keys, true), self.chunk_skips(run.id))
                .await?;
        for shard in shards {
            run.counters = counters_of(&shard, run.counters);
            last_ended = last_ended.max(opt_n::<i64>(&shard, "ended_ms").and_then(DateTime::from_timestamp_millis));
        }
        run.counters.skipped += skipped;
        Ok((run, last_ended))
    }

    /// A run read whole, and settled.
    pub(super) async fn read(&self, meta: Item) -> Result<Run> {
        let (run, last_ended) = self.assemble(meta).await?;
        self.settle(run, last_ended).await
    }

    /// The skips a chunked run's chunks counted on their markers, and when the last of them was
    /// written: one Query of the run's own partition (its CHUNK# items).
    pub(super) async fn chunk_skips(&self, run: Uuid) -> Result<(u64, Option<DateTime<Utc>>)> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("pk = :pk AND begins_with(sk, :chunk)")
            .projection_expression("skipped, ended_ms")
            .expression_attribute_values(":pk", string(format!("RUN#{run}")))
            .expression_attribute_values(":chunk", string(CHUNK_PREFIX));
        let (mut skipped, mut last) = (0u64, None);
        for marker in query_pages(query, usize::MAX).await? {
            skipped += opt_n::<u64>(&marker, "skipped").unwrap_or(0);
            last = last.max(opt_n::<i64>(&marker, "ended_ms").and_then(DateTime::from_timestamp_millis));
        }
        Ok((skipped, last))
    }

    /// Completion, the explicit step: a run whose counters add up is flipped to completed (once:
    /// the flip is conditional), at the time its last result ended. Nothing reads a shard back to
    /// find the moment: whoever reads the run next (a GET, a list, the worker's watch or cancel)
    /// takes the step, and `completed_at` is the same whoever takes it.
    pub(super) async fn settle(&self, mut run: Run, last_ended: Option<DateTime<Utc>>) -> Result<Run> {
        if run.completed_at.is_none() && run.is_complete() {
            let at = last_ended.unwrap_or_else(Utc::now).max(run.created_at);
            run.completed_at = Some(self.complete(&run, at).await?);
        }
        Ok(run)
    }

    /// The conditional flip to completed at `at`; returns the completion time that holds.
    pub(super) async fn complete(&self, run: &Run, at: DateTime<Utc>) -> Result<DateTime<Utc>> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(meta_key(run.id)))
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(#completed_at)")
            .expression_attribute_names("#completed_at", "completed_at")
            .expression_attribute_values(":at", string(rfc3339(at)));
        // Every skip, those counted at creation and those the shards counted since.
        let mut sets = vec!["#completed_at = :at".to_owned(), "skipped = :skipped".to_owned()];
        update = update.expression_attribute_values(":skipped", number(run.counters.skipped));
        let counts = ResultStatus::ENDINGS.map(|status| (status.as_str(), run.counters.of(status)));
        let outcomes = FollowState::FINAL.map(|state| (state.as_str(), run.counters.outcome(state)));
        let timeouts = [(super::items::TIMEOUT, run.counters.timeout)];
        let outcomes = outcomes.into_iter().filter(|_| run.outcome.is_some());
        for (field, count) in counts.into_iter().chain(outcomes).chain(timeouts) {
            sets.push(format!("#{field} = :{field}"));
            update = update
                .expression_attribute_names(format!("#{field}"), field)
                .expression_attribute_values(format!(":{field}"), number(count));
        }
        let result = update.update_expression(format!("SET {}", sets.join(", "))).send().await;
        match result {
            Ok(_) => {
                tracing::info!(run = %run.id, "run completed");
                Ok(at)
            }
            Err(err) if is_condition_failure(&err) => {
                let meta = self.meta(run.id).await?.ok_or(Error::NotFound)?;
                parse_time(&meta, "completed_at")?.ok_or_else(|| Error::internal("dynamodb", "completion lost"))
            }
            Err(err) => Err(sdk_error("dynamodb", err)),
        }
    }

    /// Every result of one shard partition at positions `from..=to` (with `status`, if given),
    /// read page by page: a window's items, not a shard's whole `limit`.
    pub(super) async fn query_window(
        &self,
        pk: String,
        status: Option<ResultStatus>,
        from: u64,
        to: u64,
    ) -> Result<Vec<Item>> {
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
            .expression_attribute_values(":pk", string(&pk))
            .expression_attribute_values(":from", string(format!("{from:012}")))
            .expression_attribute_values(":to", string(format!("{to:012}")));
        if let Some(status) = status {
            query = query
                .filter_expression("#status = :status")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":status", string(status.as_str()));
        }
        query_pages(query, usize::MAX).await
    }
}
