//! A result's outcome after the answer (`domain::follow_up`), advanced by the charger's status
//! notifications, its trigger and its stall: each change conditional on the revision it replaces,
//! and the one that ends it counted on the result's counter shard in the same transaction.

use aws_sdk_dynamodb::types::{ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};
use uuid::Uuid;

use super::layout::result_key;
use super::DynamoRunStore;
use crate::aws::errors::applied_or;
use crate::aws::item::{number, opt_n, opt_s, string};
use crate::domain::FollowUp;
use crate::error::{Error, Result};
use crate::retry::Backoff;

const SET_FOLLOW: &str = "SET follow = :follow, follow_rev = :rev";
/// The open change also leaves its own token, so a retry that finds the revision moved can tell
/// its own write (the SDK's retry of an update whose answer was lost) from another's.
const SET_FOLLOW_TOKEN: &str = "SET follow = :follow, follow_rev = :rev, follow_token = :token";
const AT_REVISION: &str = "follow_rev = :before";

impl DynamoRunStore {
    /// `RunStore::advance_follow_up`: a change that keeps the follow-up open is one conditional
    /// UpdateItem; the change that ends it is that update and the counter's `ADD` in one
    /// TransactWriteItems (its ClientRequestToken replays a retry). An open change that finds the
    /// revision moved reports `false`, as for a duplicate, unless the token there is its own: the
    /// claim of a trigger, applied but answered 500, must still send its TriggerMessage.
    pub(super) async fn advance(&self, run: Uuid, seq: u64, next: &FollowUp) -> Result<bool> {
        let Some(layout) = self.layout(run).await? else {
            return Ok(false);
        };
        let Some(before) = next.rev.checked_sub(1) else {
            return Ok(false);
        };
        let json = serde_json::to_string(next).map_err(|e| Error::internal("dynamodb", e))?;
        let key = result_key(run, layout, seq);
        if !next.state.is_final() {
            let token = Uuid::new_v4().to_string();
            return Backoff::WRITE
                .run(|| async {
                    let update = self
                        .update(key.clone())
                        .update_expression(SET_FOLLOW_TOKEN)
                        .condition_expression(AT_REVISION)
                        .expression_attribute_values(":follow", string(&json))
                        .expression_attribute_values(":rev", number(next.rev))
                        .expression_attribute_values(":before", number(before))
                        .expression_attribute_values(":token", string(&token))
                        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
                    // Ours, and nothing since: a final change keeps the token but moves the revision.
                    applied_or(update.send().await, |item| {
                        opt_s(item, "follow_token") == Some(token.as_str())
                            && opt_n(item, "follow_rev") == Some(next.rev)
                    })
                })
                .await;
        }
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression(SET_FOLLOW)
            .condition_expression(AT_REVISION)
            .expression_attribute_values(":follow", string(json))
            .expression_attribute_values(":rev", number(next.rev))
            .expression_attribute_values(":before", number(before))
            .build()
            .map_err(|e| Error::internal("dynamodb", e))?;
        let count = self.count_update(run, layout.counter_of(seq), &[next.state.as_str()])?;
        let items = [update, count].map(|u| TransactWriteItem::builder().update(u).build()).to_vec();
        Ok(self.transact(items).await?.is_none())
    }
}
