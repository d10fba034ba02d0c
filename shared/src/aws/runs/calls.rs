//! A run's results as CALLs go out and answers come back: the conditional updates that mark a
//! result called and end it, its counter shard moved in the same transaction, and the charger's
//! slot taken or freed with them.

use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};
use chrono::Utc;
use uuid::Uuid;

use super::answers::{APART, INLINE_ANSWER_BYTES};
use super::layout::{counter_key, result_key};
use super::DynamoRunStore;
use crate::aws::errors::{applied_or, failed_conditions};
use crate::aws::item::{number, string, Item};
use crate::clock::rfc3339;
use crate::domain::{Expect, FollowState, Outcome, ResultStatus};
use crate::error::{Error, Result};
use crate::retry::Backoff;

/// Marking a result called (`mark_called`, `claim_call`), and the condition that makes it the
/// result's only CALL (`#status`, `#call_id`, `#executed_at`, `:pending`, `:call`, `:at`, `:due`).
pub(super) const MARK_CALLED: &str = "SET #call_id = :call, #executed_at = :at, call_expires_ms = :due";
pub(super) const UNCALLED: &str = "#status = :pending AND attribute_not_exists(#call_id)";

impl DynamoRunStore {
    /// A conditional update of a result's CALL (`mark_called`, `unmark_called`): `update` adds the
    /// expressions; `#status`, `#call_id`, `#executed_at`, `:pending` and `:call` are bound here.
    /// Retried on conflicts; a failed condition counts as applied when the item as it stands is
    /// `ours` (`ReturnValuesOnConditionCheckFailure=ALL_OLD`).
    pub(super) async fn update_call(
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
                    .expression_attribute_values(":pending", string(ResultStatus::Pending.as_str()))
                    .expression_attribute_values(":call", string(call_id))
                    .return_values(ReturnValue::None)
                    .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
                applied_or(update(request).send().await, &ours)
            })
            .await
    }

    /// The writes that end a result, for one transaction: the result itself, conditionally on
    /// `expect`, first (callers read the first cancellation reason as its condition); its counter
    /// shard (with when: `ended_ms`); and its answer's own item when the answer is kept apart
    /// (`answers.rs`). `None` for a run that does not exist.
    pub(super) async fn finish_updates(
        &self,
        run: Uuid,
        seq: u64,
        expect: &Expect,
        outcome: Outcome,
    ) -> Result<Option<Vec<TransactWriteItem>>> {
        let Some(layout) = self.layout(run).await? else {
            return Ok(None);
        };
        let counter = layout.counter_of(seq);
        if !ResultStatus::ENDINGS.contains(&outcome.status) {
            let status = outcome.status.as_str();
            return Err(Error::internal("dynamodb", format!("cannot finish a result as {status}")));
        }
        let field = outcome.status.as_str();
        let mut sets = vec!["#status = :status"];
        let mut condition = "#status = :pending".to_owned();
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(result_key(run, layout, seq)))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", string(outcome.status.as_str()))
            .expression_attribute_values(":pending", string(ResultStatus::Pending.as_str()));
        if let Some(message) = &outcome.message {
            sets.push("#message = :message");
            update = update
                .expression_attribute_names("#message", "message")
                .expression_attribute_values(":message", string(message));
        }
        let mut apart = None;
        if let Some(response) = &outcome.response {
            let json = response.to_string();
            if json.len() > INLINE_ANSWER_BYTES {
                sets.push("#apart = :apart");
                update = update
                    .expression_attribute_names("#apart", APART)
                    .expression_attribute_values(":apart", number(json.len()));
                apart = Some(self.answer_put(run, seq, json)?);
            } else {
                sets.push("#response = :response");
                update = update
                    .expression_attribute_names("#response", "response")
                    .expression_attribute_values(":response", string(json));
            }
        }
        if let Some(follow) = &outcome.follow_up {
            sets.push("follow = :follow, follow_rev = :rev");
            let json = serde_json::to_string(follow).map_err(|e| Error::internal("dynamodb", e))?;
            update = update
                .expression_attribute_values(":follow", string(json))
                .expression_attribute_values(":rev", number(follow.rev));
        }
        if let Some(at) = outcome.executed_at {
            sets.push("#executed_at = :at");
            update = update
                .expression_attribute_names("#executed_at", "executed_at")
                .expression_attribute_values(":at", string(rfc3339(at)));
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
                    .expression_attribute_values(":call", string(id));
            }
            Expect::Answer { call_id, identity, received_at } => {
                condition.push_str(
                    " AND #call_id = :call AND #identity = :identity \
                     AND (attribute_not_exists(call_expires_ms) OR call_expires_ms > :received)",
                );
                update = update
                    .expression_attribute_names("#call_id", "call_id")
                    .expression_attribute_names("#identity", "identity")
                    .expression_attribute_values(":call", string(call_id))
                    .expression_attribute_values(":identity", string(identity))
                    .expression_attribute_values(":received", number(received_at.timestamp_millis()));
            }
        }
        let update = update
            .update_expression(format!("SET {}", sets.join(", ")))
            .condition_expression(condition)
            .build()
            .map_err(|e| Error::internal("dynamodb", e))?;
        let ended = outcome.follow_up.as_ref().map(|follow| follow.state).filter(|state| state.is_final());
        let mut fields = vec![field];
        fields.extend(ended.map(FollowState::as_str));
        if outcome.timed_out {
            fields.push(super::items::TIMEOUT);
        }
        let count = self.count_update(run, counter, &fields)?;
        let mut items: Vec<TransactWriteItem> =
            [update, count].into_iter().map(|u| TransactWriteItem::builder().update(u).build()).collect();
        items.extend(apart);
        Ok(Some(items))
    }

    /// The update of counter shard `counter` that adds one to each of `fields` (a result's ending,
    /// an outcome's, a timeout: `items::counters_of`), and says when (`ended_ms`).
    pub(super) fn count_update(&self, run: Uuid, counter: u32, fields: &[&str]) -> Result<Update> {
        let mut adds = Vec::new();
        let mut count = Update::builder().table_name(&self.table).set_key(Some(counter_key(run, counter)));
        for (i, field) in fields.iter().enumerate() {
            adds.push(format!("#f{i} :one"));
            count = count.expression_attribute_names(format!("#f{i}"), *field);
        }
        count
            .update_expression(format!("ADD {} SET ended_ms = :now", adds.join(", ")))
            .expression_attribute_values(":now", number(Utc::now().timestamp_millis()))
            .expression_attribute_values(":one", number(1))
            .build()
            .map_err(|e| Error::internal("dynamodb", e))
    }

    /// One TransactWriteItems, retried on conflicts and throttling with one token for every attempt:
    /// a retry of a transaction that was applied (its answer lost to a 500 or a timeout) succeeds
    /// again without applying twice (DynamoDB keeps the token 10 minutes). `None` when applied;
    /// otherwise which items' conditions failed (`failed_conditions`).
    pub(super) async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<Option<Vec<Option<Item>>>> {
        let token = Uuid::new_v4().to_string();
        Backoff::WRITE
            .run(|| async {
                match self
                    .client
                    .transact_write_items()
                    .client_request_token(&token)
                    .set_transact_items(Some(items.clone()))
                    .send()
                    .await
                {
                    Ok(_) => Ok(None),
                    Err(err) => failed_conditions(err).map(Some),
                }
            })
            .await
    }
}
