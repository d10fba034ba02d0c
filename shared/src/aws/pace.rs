//! The stack-wide budget of CALLs a second on DynamoDB, in the runs table: one counter item per
//! second (`PACE#{second}`), taken from with a conditional ADD, expired by TTL a minute on. At the
//! budget's 3,000 CALLs a second in batches of up to 10, an item takes a few hundred updates in its
//! second, under a partition's 1,000 write units (docs/data-model.md, "What AWS enforces").
//!
//! A take carries a fresh token, kept on the item as `last_take`: when DynamoDB applies the ADD but
//! its answer is lost, the SDK's retry finds its own token and knows it was taken, instead of taking
//! twice or refusing. Only where another take came between the two does the retry count again: the
//! budget is then a little lower for that second, never exceeded.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
use aws_sdk_dynamodb::Client;

use super::errors::refused;
use super::item::{number, opt_n, opt_s, string, Item};
use crate::error::Result;
use crate::ports::DispatchBudget;

pub struct DynamoDispatchBudget {
    client: Client,
    table: String,
}

impl DynamoDispatchBudget {
    /// `table` is the runs table.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoDispatchBudget { client, table: table.into() }
    }
}

#[async_trait]
impl DispatchBudget for DynamoDispatchBudget {
    async fn take(&self, second: i64, calls: u32, limit: u32) -> Result<u32> {
        // Never more than the limit; all of them if they fit; else, once, what the second had left
        // when they did not.
        let calls = calls.min(limit);
        match self.take_exactly(second, calls, limit).await? {
            Taken::All => Ok(calls),
            Taken::None { left: 0 } => Ok(0),
            Taken::None { left } => match self.take_exactly(second, left.min(calls), limit).await? {
                Taken::All => Ok(left.min(calls)),
                Taken::None { .. } => Ok(0),
            },
        }
    }
}

enum Taken {
    All,
    /// Nothing taken; what the second had left as the take was refused.
    None {
        left: u32,
    },
}

impl DynamoDispatchBudget {
    async fn take_exactly(&self, second: i64, calls: u32, limit: u32) -> Result<Taken> {
        let Some(room) = limit.checked_sub(calls) else {
            return Ok(Taken::None { left: limit });
        };
        let token = uuid::Uuid::new_v4().to_string();
        let key = Item::from([("pk".to_owned(), string(format!("PACE#{second}"))), ("sk".to_owned(), string("PACE"))]);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression("ADD calls :calls SET expires = :expires, last_take = :token")
            .condition_expression(
                "(attribute_not_exists(calls) OR calls <= :room) AND (attribute_not_exists(last_take) OR last_take <> :token)",
            )
            .expression_attribute_values(":calls", number(calls))
            .expression_attribute_values(":room", number(room))
            .expression_attribute_values(":expires", number(second + 60))
            .expression_attribute_values(":token", string(&token))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let Some(item) = refused(result)? else {
            return Ok(Taken::All);
        };
        // Our own earlier attempt was applied: taken.
        if item.as_ref().is_some_and(|item| opt_s(item, "last_take") == Some(token.as_str())) {
            return Ok(Taken::All);
        }
        let used = item.as_ref().and_then(|item| opt_n::<u32>(item, "calls")).unwrap_or(limit);
        Ok(Taken::None { left: limit.saturating_sub(used) })
    }
}
