//! A run's cancel, on DynamoDB: a small mark of its own (`layout::cancel_key`), which every
//! dispatch reads, put first; then META, which the run's view shows. Both say one time. The same
//! mark says whether new CALLs wait (`held`: a pause, a rollout outside its window).

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::layout::cancel_key;
use super::DynamoRunStore;
use crate::aws::errors::{applied, applied_or, sdk_error};
use crate::aws::item::{get_item, number, opt_s, parse_time, string};
use crate::clock::rfc3339;
use crate::error::Result;
use crate::ports::Gate;

impl DynamoRunStore {
    /// `RunStore::cancel`. The mark the dispatches read is put first, the first cancel's kept: a
    /// cancel cut short after it is already seen by them, and its retry marks META with the mark's
    /// time.
    pub(super) async fn mark_cancelled(&self, run: Uuid, at: DateTime<Utc>, reason: Option<&str>) -> Result<bool> {
        // The mark may exist already, holding a pause (`set_held`): the first cancel's time is kept.
        let mut sets = "SET cancelled_at = if_not_exists(cancelled_at, :at)".to_owned();
        let mut mark = self.update(cancel_key(run)).expression_attribute_values(":at", string(rfc3339(at)));
        if let Some(reason) = reason {
            sets.push_str(", cancel_reason = if_not_exists(cancel_reason, :reason)");
            mark = mark.expression_attribute_values(":reason", string(reason));
        }
        let marked = mark
            .update_expression(sets)
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| sdk_error("dynamodb", e))?;
        let kept = marked.attributes().and_then(|item| opt_s(item, "cancelled_at").map(str::to_owned));
        let at = kept.unwrap_or_else(|| rfc3339(at));
        // This call's own token: a cancel that finds META marked already did not mark it, unless
        // the mark is its own (the SDK's retry of an update whose 500 came after it was applied).
        let token = Uuid::new_v4().to_string();
        let marked = self
            .update_meta(run)
            .update_expression("SET cancelled_at = :at, cancel_token = :token")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(cancelled_at)")
            .expression_attribute_values(":at", string(&at))
            .expression_attribute_values(":token", string(&token))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        applied_or(marked, |item| opt_s(item, "cancel_token") == Some(token.as_str()))
    }

    /// `RunStore::gate` (and `cancelled_at`), from the mark, not META. A run cancelled before
    /// marks existed has none: its META says so to every process that loads its plan
    /// (`RunPlans::load`), which the dispatches read first.
    pub(super) async fn read_gate(&self, run: Uuid) -> Result<Gate> {
        let Some(item) = get_item(&self.client, &self.table, cancel_key(run), true).await? else {
            return Ok(Gate::default());
        };
        let held = item.get("held").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false);
        let reason = opt_s(&item, "cancel_reason").map(str::to_owned);
        Ok(Gate { cancelled_at: parse_time(&item, "cancelled_at")?, reason, held })
    }

    /// `RunStore::set_held`: the mark every dispatch reads says whether new CALLs wait, for the
    /// rollout state at revision `rev` or a later one (a stale writer's condition fails: no error).
    pub(super) async fn write_held(&self, run: Uuid, held: bool, rev: u32) -> Result<bool> {
        let written = self
            .update(cancel_key(run))
            .update_expression("SET held = :held, held_rev = :rev")
            .condition_expression("attribute_not_exists(held_rev) OR held_rev <= :rev")
            .expression_attribute_values(":held", AttributeValue::Bool(held))
            .expression_attribute_values(":rev", number(rev))
            .send()
            .await;
        applied(written)
    }
}
