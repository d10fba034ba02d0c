//! Answers kept apart from their results. A results partition holds 5,000 results and takes a
//! write per CALL and per answer (docs/data-model.md, "Sizing for big runs"); an answer of up to
//! 16 KB (a GetConfiguration, a GetVariables) written on its result charged that partition 16
//! units per transactional KB, over three times its throughput at the dispatch cap. An answer over
//! `INLINE_ANSWER_BYTES` is put in an item of its own (`RUN#{run}#A{seq}`, a partition per answer)
//! in the transaction that ends its result, which keeps only its size (`response_apart`), and is
//! read back with the result ("Hot keys at the scale of the test").

use std::collections::{HashMap, HashSet};

use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use uuid::Uuid;

use super::items::parse_result;
use super::DynamoRunStore;
use crate::aws::batch;
use crate::aws::item::{opt_n, parse_json, string, Item};
use crate::domain::ResultRecord;
use crate::error::{Error, Result};

/// An answer longer than this, as JSON, is kept in an item of its own: a result item then stays
/// within one write unit (1 KB) with its other attributes.
pub const INLINE_ANSWER_BYTES: usize = 512;
/// On a result whose answer is kept apart: the answer's size, as JSON.
pub(super) const APART: &str = "response_apart";

/// The partition of the answer of a run's position `seq`, when it is kept apart.
fn answer_partition(run: Uuid, seq: u64) -> String {
    format!("RUN#{run}#A{seq}")
}

/// The key of the item holding the answer kept apart in `partition` (`answer_partition`).
fn answer_key(partition: String) -> Item {
    Item::from([("pk".into(), string(partition)), ("sk".into(), string("A"))])
}

impl DynamoRunStore {
    /// The Put of an answer kept apart, for the transaction that ends its result.
    pub(super) fn answer_put(&self, run: Uuid, seq: u64, json: String) -> Result<TransactWriteItem> {
        let mut item = answer_key(answer_partition(run, seq));
        item.insert("response".into(), string(json));
        let put = Put::builder().table_name(&self.table).set_item(Some(item)).build();
        Ok(TransactWriteItem::builder().put(put.map_err(|e| Error::internal("dynamodb", e))?).build())
    }

    /// The results of `items` (each with its run), each answer kept apart read back with it.
    pub(super) async fn parse_results(&self, items: Vec<(Uuid, &Item)>) -> Result<Vec<(Uuid, ResultRecord)>> {
        let rows = items.into_iter().map(|(run, item)| parsed(run, item)).collect::<Result<_>>()?;
        self.with_answers(rows).await
    }

    /// `rows` as `parsed` gave them, each answer kept apart read back: one consistent
    /// BatchGetItem per 100 (the answer was written with its result). An answer its result says
    /// is apart but that is not there yet (a read racing the transaction's commit, which is
    /// atomic for writes but not for other reads) is read once more; then it is an error, never
    /// a result shown without its answer.
    pub(super) async fn with_answers(&self, rows: Vec<Parsed>) -> Result<Vec<(Uuid, ResultRecord)>> {
        let mut missing: HashSet<String> =
            rows.iter().filter(|row| row.apart).map(|row| answer_partition(row.run, row.result.seq)).collect();
        let mut answers = HashMap::with_capacity(missing.len());
        for attempt in 0..2 {
            if missing.is_empty() {
                break;
            }
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            let keys = missing.iter().cloned().map(answer_key).collect();
            for item in batch::get_all(&self.client, &self.table, keys, true).await? {
                if let Some(pk) = item.get("pk").and_then(|pk| pk.as_s().ok()) {
                    missing.remove(pk);
                    answers.insert(pk.clone(), parse_json(&item, "response")?);
                }
            }
        }
        if let Some(pk) = missing.into_iter().next() {
            return Err(Error::internal("dynamodb", format!("{pk}: an answer kept apart is missing")));
        }
        Ok(rows
            .into_iter()
            .map(|Parsed { run, mut result, apart }| {
                if apart {
                    result.response = answers.remove(&answer_partition(run, result.seq)).flatten();
                }
                (run, result)
            })
            .collect())
    }
}

/// A result as its item holds it, and whether its answer is kept apart (still to be read).
pub(super) struct Parsed {
    pub run: Uuid,
    pub result: ResultRecord,
    pub apart: bool,
}

pub(super) fn parsed(run: Uuid, item: &Item) -> Result<Parsed> {
    Ok(Parsed { run, result: parse_result(item)?, apart: opt_n::<u64>(item, APART).is_some() })
}
