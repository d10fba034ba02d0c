//! Per-user rate limit on DynamoDB, in the runs table: one counter item per user and minute
//! (`RATE#{user}#{minute}`), incremented atomically, expired by TTL.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValue;
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Utc};

use super::errors::sdk_error;
use super::item::{n, opt_n, s, Item};
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
        let key = Item::from([("pk".to_owned(), s(format!("RATE#{user}#{window}"))), ("sk".to_owned(), s("RATE"))]);
        let output = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression("ADD hits :one SET expires = :expires")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":expires", n((window + 2) * 60))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| sdk_error("dynamodb", e))?;
        let hits = output.attributes.as_ref().and_then(|a| opt_n::<u64>(a, "hits")).unwrap_or(1);
        Ok(RateDecision::for_hits(limit, hits, now))
    }
}
