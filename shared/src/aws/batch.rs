//! DynamoDB's batch calls done right: BatchWriteItem in chunks of 25 and BatchGetItem in chunks of
//! 100, unprocessed items and keys (what a throttled partition leaves undone) retried with
//! `Backoff::BATCH`, independent chunks sent concurrently (bounded).

use aws_sdk_dynamodb::types::{KeysAndAttributes, PutRequest, WriteRequest};
use aws_sdk_dynamodb::Client;
use futures::{StreamExt, TryStreamExt};

use super::errors::sdk_error;
use super::item::Item;
use crate::error::{Error, Result};
use crate::retry::{exhausted, Backoff};

/// DynamoDB's limits per call.
pub const WRITE_CHUNK: usize = 25;
pub const GET_CHUNK: usize = 100;
/// Chunks in flight at once.
pub const CONCURRENCY: usize = 32;

/// Puts every item, `WRITE_CHUNK` per call.
pub async fn put_all(client: &Client, table: &str, items: Vec<Item>) -> Result<()> {
    let requests: Vec<WriteRequest> = items
        .into_iter()
        .map(|item| {
            let put = PutRequest::builder().set_item(Some(item)).build().map_err(|e| Error::internal("dynamodb", e))?;
            Ok(WriteRequest::builder().put_request(put).build())
        })
        .collect::<Result<_>>()?;
    let chunks: Vec<Vec<WriteRequest>> = requests.chunks(WRITE_CHUNK).map(<[_]>::to_vec).collect();
    futures::stream::iter(chunks.into_iter().map(|chunk| write_chunk(client, table, chunk)))
        .buffer_unordered(CONCURRENCY)
        .try_collect::<()>()
        .await
}

async fn write_chunk(client: &Client, table: &str, mut chunk: Vec<WriteRequest>) -> Result<()> {
    for attempt in 0..Backoff::BATCH.attempts {
        let output =
            client.batch_write_item().request_items(table, chunk).send().await.map_err(|e| sdk_error("dynamodb", e))?;
        chunk = output.unprocessed_items.and_then(|mut m| m.remove(table)).unwrap_or_default();
        if chunk.is_empty() {
            return Ok(());
        }
        Backoff::BATCH.wait(attempt).await;
    }
    Err(exhausted("dynamodb", format_args!("{} items still unprocessed", chunk.len()), &Backoff::BATCH))
}

/// Gets every key that exists, `GET_CHUNK` per call; absent keys are simply not returned.
pub async fn get_all(client: &Client, table: &str, keys: Vec<Item>, consistent: bool) -> Result<Vec<Item>> {
    let chunks: Vec<Vec<Item>> = keys.chunks(GET_CHUNK).map(<[_]>::to_vec).collect();
    let found: Vec<Vec<Item>> =
        futures::stream::iter(chunks.into_iter().map(|chunk| get_chunk(client, table, chunk, consistent)))
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
    Ok(found.into_iter().flatten().collect())
}

async fn get_chunk(client: &Client, table: &str, mut keys: Vec<Item>, consistent: bool) -> Result<Vec<Item>> {
    let mut found = Vec::with_capacity(keys.len());
    for attempt in 0..Backoff::BATCH.attempts {
        let request = KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .consistent_read(consistent)
            .build()
            .map_err(|e| Error::internal("dynamodb", e))?;
        let output =
            client.batch_get_item().request_items(table, request).send().await.map_err(|e| sdk_error("dynamodb", e))?;
        found.extend(output.responses.and_then(|mut m| m.remove(table)).unwrap_or_default());
        keys = output.unprocessed_keys.and_then(|mut m| m.remove(table)).map(|k| k.keys).unwrap_or_default();
        if keys.is_empty() {
            return Ok(found);
        }
        Backoff::BATCH.wait(attempt).await;
    }
    Err(exhausted("dynamodb", format_args!("{} keys still unprocessed", keys.len()), &Backoff::BATCH))
}
