//! A run's cancel, on DynamoDB: a small mark of its own (`layout::cancel_key`), which every
//! dispatch reads, put first; then META, which the run's view shows. Both say one time.

use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::layout::{cancel_key, meta_key};
use super::DynamoRunStore;
use crate::aws::errors::applied_or;
use crate::aws::item::{get_item, opt_s, parse_time, put_new, string};
use crate::clock::rfc3339;
use crate::error::Result;

impl DynamoRunStore {
    /// `RunStore::cancel`. The mark the dispatches read is put first, the first cancel's kept: a
    /// cancel cut short after it is already seen by them, and its retry marks META with the mark's
    /// time.
    pub(super) async fn mark_cancelled(&self, run: Uuid, at: DateTime<Utc>) -> Result<bool> {
        let mut mark = cancel_key(run);
        mark.insert("cancelled_at".into(), string(rfc3339(at)));
        let at = if put_new(&self.client, &self.table, mark).await? {
            rfc3339(at)
        } else {
            let marked = get_item(&self.client, &self.table, cancel_key(run), true).await?;
            marked.as_ref().and_then(|item| opt_s(item, "cancelled_at")).map_or_else(|| rfc3339(at), str::to_owned)
        };
        // This call's own token: a cancel that finds META marked already did not mark it, unless
        // the mark is its own (the SDK's retry of an update whose 500 came after it was applied).
        let token = Uuid::new_v4().to_string();
        let marked = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(meta_key(run)))
            .update_expression("SET cancelled_at = :at, cancel_token = :token")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(cancelled_at)")
            .expression_attribute_values(":at", string(&at))
            .expression_attribute_values(":token", string(&token))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        applied_or(marked, |item| opt_s(item, "cancel_token") == Some(token.as_str()))
    }

    /// `RunStore::cancelled_at`, from the mark, not META. A run cancelled before marks existed has
    /// none: its META says so to every process that loads its plan (`RunPlans::load`), which the
    /// dispatches read first.
    pub(super) async fn read_cancel_mark(&self, run: Uuid) -> Result<Option<DateTime<Utc>>> {
        let item = get_item(&self.client, &self.table, cancel_key(run), true).await?;
        item.as_ref().map_or(Ok(None), |item| parse_time(item, "cancelled_at"))
    }
}
