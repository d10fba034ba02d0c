//! Per-user rate limit on DynamoDB, in the runs table: one counter item per user and minute
//! (`RATE#{user}#{minute}`), incremented atomically, expired by TTL.
//!
//! A hit carries a fresh token, kept on the item as `last_hit`, and is conditional on the item not
//! already holding it. When DynamoDB applies the ADD but its answer is lost (a 500 after the write,
//! a dropped connection), the SDK's retry of the same request finds its own token and reads the
//! count from the item as it stands instead of counting the request twice. Only the last token is
//! kept, so the item stays a few dozen bytes (one WCU per hit) however many requests a minute sees.

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Utc};

use super::errors::sdk_error;
use super::item::{number, opt_n, opt_s, string, Item};
use crate::error::Result;
use crate::ports::{RateDecision, RateLimiter};

pub struct DynamoRateLimiter {
    client: Client,
    table: String,
}

impl DynamoRateLimiter {
    /// `table` is the runs table.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoRateLimiter { client, table: table.into() }
    }
}

#[async_trait]
impl RateLimiter for DynamoRateLimiter {
    async fn hit(&self, user: &str, limit: u32, now: DateTime<Utc>) -> Result<RateDecision> {
        let window = RateDecision::window(now);
        let token = uuid::Uuid::new_v4().to_string();
        let key =
            Item::from([("pk".to_owned(), string(format!("RATE#{user}#{window}"))), ("sk".to_owned(), string("RATE"))]);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression("ADD hits :one SET expires = :expires, last_hit = :token")
            .condition_expression("attribute_not_exists(last_hit) OR last_hit <> :token")
            .expression_attribute_values(":one", number(1))
            .expression_attribute_values(":expires", number((window + 2) * 60))
            .expression_attribute_values(":token", string(&token))
            .return_values(ReturnValue::UpdatedNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let counted = match result {
            Ok(output) => output.attributes,
            // Our own earlier attempt was applied: the item already counts this request.
            Err(err) => match err.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(failed))
                    if failed.item().is_some_and(|item| opt_s(item, "last_hit") == Some(token.as_str())) =>
                {
                    failed.item().cloned()
                }
                _ => return Err(sdk_error("dynamodb", err)),
            },
        };
        let hits = counted.as_ref().and_then(|a| opt_n::<u64>(a, "hits")).unwrap_or(1);
        Ok(RateDecision::for_hits(limit, hits, now))
    }
}
