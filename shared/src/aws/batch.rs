//! DynamoDB's batch calls done right: BatchWriteItem in chunks of 25 and BatchGetItem in chunks of
//! 100, unprocessed items and keys (what a throttled partition leaves undone) retried with
//! `Backoff::BATCH`, independent chunks sent concurrently (bounded); new items put once even when a
//! call's answer is lost (`put_all_once`).

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::Builder;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemError;
use aws_sdk_dynamodb::types::{KeysAndAttributes, PutRequest, WriteRequest};
use aws_sdk_dynamodb::Client;
use futures::{StreamExt, TryStreamExt};

use super::errors::sdk_error;
use super::item::{put_new, Item};
use crate::error::{Error, Result};
use crate::retry::{exhausted, Backoff};

/// DynamoDB's limits per call.
pub const WRITE_CHUNK: usize = 25;
pub const GET_CHUNK: usize = 100;
/// Chunks in flight at once.
pub const CONCURRENCY: usize = 32;

/// Puts every item, `WRITE_CHUNK` per call.
pub async fn put_all(client: &Client, table: &str, items: Vec<Item>) -> Result<()> {
    put_chunks(client, table, items, Doubt::Retry).await
}

/// Puts new items, `WRITE_CHUNK` per call, none of them twice. A BatchWriteItem cannot be
/// conditional, and the SDK's retry of one that was applied but answered 500 would put its items
/// again over whatever moved them on in between (a result dispatched at once by a rollout's
/// release). So a call that fails is not retried whole: each of its items is put again only where
/// its key is still free (`put_new`), which keeps one already there.
pub async fn put_all_once(client: &Client, table: &str, items: Vec<Item>) -> Result<()> {
    put_chunks(client, table, items, Doubt::ItemByItem).await
}

/// What a BatchWriteItem that failed (and may have been applied) leaves to do.
#[derive(Clone, Copy)]
enum Doubt {
    /// The SDK sends it again, as it is.
    Retry,
    /// Its items are put one by one where their key is free.
    ItemByItem,
}

async fn put_chunks(client: &Client, table: &str, items: Vec<Item>, doubt: Doubt) -> Result<()> {
    let requests: Vec<WriteRequest> = items
        .into_iter()
        .map(|item| {
            let put = PutRequest::builder().set_item(Some(item)).build().map_err(|e| Error::internal("dynamodb", e))?;
            Ok(WriteRequest::builder().put_request(put).build())
        })
        .collect::<Result<_>>()?;
    let chunks: Vec<Vec<WriteRequest>> = requests.chunks(WRITE_CHUNK).map(<[_]>::to_vec).collect();
    futures::stream::iter(chunks.into_iter().map(|chunk| write_chunk(client, table, chunk, doubt)))
        .buffer_unordered(CONCURRENCY)
        .try_collect::<()>()
        .await
}

async fn write_chunk(client: &Client, table: &str, mut chunk: Vec<WriteRequest>, doubt: Doubt) -> Result<()> {
    for attempt in 0..Backoff::BATCH.attempts {
        let output = match doubt {
            Doubt::Retry => {
                let request = client.batch_write_item().request_items(table, std::mem::take(&mut chunk));
                request.send().await.map_err(|e| sdk_error("dynamodb", e))?
            }
            Doubt::ItemByItem => {
                let request = client.batch_write_item().request_items(table, chunk.clone());
                let once = Builder::default().retry_config(RetryConfig::disabled());
                match request.customize().config_override(once).send().await {
                    Ok(output) => output,
                    Err(err) if refused_whole(&err) => {
                        Backoff::BATCH.wait(attempt).await;
                        continue;
                    }
                    Err(err) => {
                        tracing::debug!(error = %sdk_error("dynamodb", err), "a batch in doubt, put item by item");
                        let items = chunk.into_iter().filter_map(|request| request.put_request.map(|put| put.item));
                        return put_new_each(client, table, items.collect()).await;
                    }
                }
            }
        };
        // What a throttled partition leaves undone was not applied: sent again as it is.
        chunk = output.unprocessed_items.and_then(|mut m| m.remove(table)).unwrap_or_default();
        if chunk.is_empty() {
            return Ok(());
        }
        Backoff::BATCH.wait(attempt).await;
    }
    Err(exhausted("dynamodb", format_args!("{} items still unprocessed", chunk.len()), &Backoff::BATCH))
}

/// A batch throttled as a whole, which was therefore not applied: sent again after a wait, not
/// broken into single puts on the same hot partition.
fn refused_whole<R>(err: &SdkError<BatchWriteItemError, R>) -> bool {
    const THROTTLED: [&str; 3] =
        ["ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"];
    err.code().is_some_and(|code| THROTTLED.contains(&code))
}

/// Puts each item only where its key is free (`put_new`), `WRITE_CHUNK` at a time: an item there
/// already is kept as it is.
pub async fn put_new_each(client: &Client, table: &str, items: Vec<Item>) -> Result<()> {
    futures::stream::iter(items.into_iter().map(|item| put_new(client, table, item)))
        .buffer_unordered(WRITE_CHUNK)
        .try_collect::<Vec<bool>>()
        .await
        .map(drop)
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
