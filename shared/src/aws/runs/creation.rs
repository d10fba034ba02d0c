//! Writing a run's items: a new run's results (or none, for one created in chunks) and META last,
//! conditionally; a chunk's results once, under a claimed marker.

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};
use chrono::Utc;
use uuid::Uuid;

use super::layout::{chunk_key, Layout};
use super::DynamoRunStore;
use crate::aws::batch;
use crate::aws::errors::sdk_error;
use crate::aws::item::{number, opt_n, put_new, Item};
use crate::domain::Run;
use crate::error::Result;

/// How long a delivery holds a chunk it writes (`claim_chunk`): twice a worker's timeout.
const CHUNK_LEASE_MS: i64 = 60_000;

/// Who writes a chunk's results.
pub(super) enum ChunkClaim {
    /// Ours to write; `taken_over`: from a writer whose lease ended, which may have put some of
    /// the results already (and a rollout released them since), or not known.
    Ours { taken_over: bool },
    /// Another delivery, its lease still running.
    Writing,
    /// Written before.
    Done,
}

impl DynamoRunStore {
    /// Writes a new run's items, then its META, last and conditionally: a failed condition means
    /// META is there already, and run ids are fresh UUIDs, so it is this run's, written by an
    /// earlier attempt (one whose answer was lost, or a creation taken over through its
    /// Idempotency-Key).
    pub(super) async fn store_run(&self, run: &Run, items: Vec<Item>, meta: Item) -> Result<()> {
        batch::put_all(&self.client, &self.table, items).await?;
        put_new(&self.client, &self.table, meta).await?;
        self.remember(run.id, Layout::for_run(run.total_count));
        Ok(())
    }

    /// Claims chunk `chunk`'s marker for `writer` (`write_results`): free, or held by a writer whose
    /// lease (`CHUNK_LEASE_MS`, past a worker's timeout) ended, it becomes ours. A claim whose answer
    /// was lost is recognised on its retry by `writer`.
    pub(super) async fn claim_chunk(&self, run: Uuid, chunk: u32, writer: u64) -> Result<ChunkClaim> {
        let now = Utc::now().timestamp_millis();
        let mut claim = chunk_key(run, chunk);
        claim.insert("writing_until".into(), number(now + CHUNK_LEASE_MS));
        claim.insert("writer".into(), number(writer));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(claim))
            .condition_expression("attribute_not_exists(pk) OR writing_until < :now")
            .expression_attribute_values(":now", number(now))
            .return_values(ReturnValue::AllOld)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let held = match result {
            // A marker there before was a dead writer's (a done one has no lease to run out).
            Ok(output) => return Ok(ChunkClaim::Ours { taken_over: output.attributes.is_some() }),
            Err(err) => match err.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(failed)) => {
                    failed.item().cloned().unwrap_or_default()
                }
                _ => return Err(sdk_error("dynamodb", err)),
            },
        };
        Ok(match (opt_n::<u64>(&held, "writer"), held.contains_key("writing_until")) {
            // Our own claim, its answer lost: whether it took over from another is not known.
            (Some(w), _) if w == writer => ChunkClaim::Ours { taken_over: true },
            (_, true) => ChunkClaim::Writing,
            (_, false) => ChunkClaim::Done,
        })
    }
}
