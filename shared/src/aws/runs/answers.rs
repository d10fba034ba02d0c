//! Answers kept apart from their results. A results partition holds 5,000 results and takes a
//! write per CALL and per answer (docs/data-model.md, "Sizing for big runs"); an answer of up to
//! 16 KB (a GetConfiguration, a GetVariables) written on its result charged that partition 16
//! units per transactional KB, over three times its throughput at the dispatch cap. An answer over
//! `INLINE_ANSWER_BYTES` is put in an item of its own (`RUN#{run}#A{seq}`, a partition per answer)
//! in the transaction that ends its result, which keeps only its size (`response_apart`), and is
//! read back with the result ("Hot keys at the scale of the test").

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

/// The item holding the answer of a run's position `seq`, when it is kept apart.
pub fn answer_key(run: Uuid, seq: u64) -> Item {
    Item::from([("pk".into(), string(answer_partition(run, seq))), ("sk".into(), string("A"))])
}

impl DynamoRunStore {
    /// The Put of an answer kept apart, for the transaction that ends its result.
    pub(super) fn answer_put(&self, run: Uuid, seq: u64, json: String) -> Result<TransactWriteItem> {
        let mut item = answer_key(run, seq);
        item.insert("response".into(), string(json));
        let put = Put::builder().table_name(&self.table).set_item(Some(item)).build();
        Ok(TransactWriteItem::builder().put(put.map_err(|e| Error::internal("dynamodb", e))?).build())
    }

    /// The results of `items` (each with its run), each answer kept apart read back with it: one
    /// consistent BatchGetItem for all of them (the answer was written with its result).
    pub(super) async fn parse_results(&self, items: Vec<(Uuid, &Item)>) -> Result<Vec<(Uuid, ResultRecord)>> {
        let mut results = Vec::with_capacity(items.len());
        let mut apart = Vec::new();
        for (run, item) in items {
            let result = parse_result(item)?;
            if opt_n::<u64>(item, APART).is_some() {
                apart.push(answer_key(run, result.seq));
            }
            results.push((run, result));
        }
        if apart.is_empty() {
            return Ok(results);
        }
        let mut answers = std::collections::HashMap::new();
        for item in batch::get_all(&self.client, &self.table, apart, true).await? {
            if let Some(pk) = item.get("pk").and_then(|pk| pk.as_s().ok()) {
                answers.insert(pk.clone(), parse_json(&item, "response")?);
            }
        }
        for (run, result) in &mut results {
            if let Some(answer) = answers.remove(&answer_partition(*run, result.seq)) {
                result.response = answer;
            }
        }
        Ok(results)
    }
}
