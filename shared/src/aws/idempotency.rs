//! `Idempotency-Key`s on DynamoDB, in the runs table: `IDEM#{user}#{key}` → run and body
//! fingerprint, claimed by a conditional put, expired by TTL (`expires`) after 24 hours.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::errors::applied;
use super::item::{get_item, get_s, number, opt_n, string, Item};
use crate::error::{Error, Result};
use crate::ports::{IdempotencyClaim, IdempotencyKeys};

fn key(user: &str, key: &str) -> Item {
    Item::from([("pk".to_owned(), string(format!("IDEM#{user}#{key}"))), ("sk".to_owned(), string("IDEM"))])
}

pub struct DynamoIdempotency {
    client: Client,
    table: String,
}

impl DynamoIdempotency {
    /// `table` is the runs table.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoIdempotency { client, table: table.into() }
    }
}

#[async_trait]
impl IdempotencyKeys for DynamoIdempotency {
    async fn claim(
        &self,
        user: &str,
        idempotency_key: &str,
        fingerprint: &str,
        run: Uuid,
        expires_at: DateTime<Utc>,
    ) -> Result<IdempotencyClaim> {
        let mut item = key(user, idempotency_key);
        item.insert("run".into(), string(run.to_string()));
        item.insert("fingerprint".into(), string(fingerprint));
        item.insert("expires".into(), number(expires_at.timestamp()));
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR expires < :now")
            .expression_attribute_values(":now", number(Utc::now().timestamp()))
            .send()
            .await;
        if applied(put)? {
            return Ok(IdempotencyClaim::Claimed);
        }
        let existing = get_item(&self.client, &self.table, key(user, idempotency_key), true)
            .await?
            .ok_or_else(|| Error::transient("dynamodb", "idempotency key vanished between claim and read"))?;
        if opt_n::<i64>(&existing, "expires").is_some_and(|e| e < Utc::now().timestamp()) {
            return Err(Error::transient("dynamodb", "idempotency key expired while claiming"));
        }
        let existing_run = Uuid::try_parse(get_s(&existing, "run")?).map_err(|e| Error::internal("dynamodb", e))?;
        if existing_run == run {
            // Our own claim: a retried put whose first attempt was applied (its answer lost).
            return Ok(IdempotencyClaim::Claimed);
        }
        let expires_at =
            opt_n::<i64>(&existing, "expires").and_then(|e| DateTime::from_timestamp(e, 0)).unwrap_or_default();
        Ok(IdempotencyClaim::Existing {
            run: existing_run,
            fingerprint: get_s(&existing, "fingerprint")?.to_owned(),
            expires_at,
        })
    }

    async fn forget(&self, user: &str, idempotency_key: &str, run: Uuid) -> Result<()> {
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(user, idempotency_key)))
            .condition_expression("#run = :run")
            .expression_attribute_names("#run", "run")
            .expression_attribute_values(":run", string(run.to_string()))
            .send()
            .await;
        applied(deleted).map(drop)
    }
}
