//! A report's parts (`domain::report`), each its own item, `pk = RUN#{run}#P{seq}`,
//! `sk = {seqNo:010}` (`data`: its reportData as JSON text; absent when kept without it), and the
//! report's summary beside them, `sk = SUMMARY`: `report_request`, `report_parts`,
//! `report_dropped`, `report_last`, `report_bytes`. A part and its count are one transaction,
//! conditional on both sides, so a part is kept and counted once, all within the report's own
//! partition: a results partition, shared by up to 5,000 results, is not written once per part
//! (docs/data-model.md, "What AWS enforces": report parts). The result item gets a copy of the
//! summary at the report's first parts and at its completion (`copy_summary`), for the listings;
//! the report route reads the summary itself. A part expires (`expires`, the table's TTL
//! attribute) `REPORT_KEPT_DAYS` after it came.

use aws_sdk_dynamodb::types::{Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};
use uuid::Uuid;

use super::layout::result_key;
use super::DynamoRunStore;
use crate::aws::errors::{applied, sdk_error};
use crate::aws::item::{number, opt_n, opt_s, query_pages, string, Item};
use crate::domain::report::{
    Admission, KeptPart, ReportPart, ReportSummary, MAX_PART_BYTES, MAX_REPORT_BYTES, MAX_REPORT_PARTS,
    REPORT_KEPT_DAYS,
};
use crate::error::{Error, Result};
use crate::ports::RunStore;

fn parts_partition(run: Uuid, seq: u64) -> String {
    format!("RUN#{run}#P{seq}")
}

/// The summary's sort key: after every part's (`{seqNo:010}`, digits), so a query of the partition
/// reads the parts in order, then the summary.
const SUMMARY_SK: &str = "SUMMARY";

fn summary_key(run: Uuid, seq: u64) -> Item {
    Item::from([("pk".to_owned(), string(parts_partition(run, seq))), ("sk".to_owned(), string(SUMMARY_SK))])
}

/// The summary a result item holds, if a part came.
pub fn parse_summary(item: &Item) -> Option<ReportSummary> {
    Some(ReportSummary {
        request_id: opt_n(item, "report_request")?,
        parts: opt_n(item, "report_parts").unwrap_or(0),
        dropped: opt_n(item, "report_dropped").unwrap_or(0),
        last: opt_n(item, "report_last"),
        bytes: opt_n(item, "report_bytes").unwrap_or(0),
    })
}

impl DynamoRunStore {
    /// `RunStore::add_report_part`: with its data while the report has room, else without it.
    pub(super) async fn add_part(&self, run: Uuid, seq: u64, part: &ReportPart) -> Result<bool> {
        let Some(layout) = self.layout(run).await? else {
            return Ok(false);
        };
        if seq >= layout.total {
            return Ok(false);
        }
        let text = part.data_text();
        // The result's summary says whether the data has room (a condition of the write); a part
        // too big for one item never has.
        let attempts: &[Admission] = if text.len() as u64 > MAX_PART_BYTES {
            &[Admission::WithoutData]
        } else {
            &[Admission::WithData, Admission::WithoutData]
        };
        for &admission in attempts {
            let items = self.part_items(run, seq, &summary_key(run, seq), part, &text, admission)?;
            match self.transact(items).await? {
                None => {
                    self.copy_summary(run, seq, &result_key(run, layout, seq)).await?;
                    return Ok(true);
                }
                // The part is there already (or came twice at once): nothing more to keep.
                Some(failed) if failed.first().is_some_and(Option::is_some) => return Ok(false),
                // The summary refused: no room left for the data (then the part goes without it), or
                // no room for another part.
                Some(_) => {}
            }
        }
        Ok(false)
    }

    /// The summary as it stands, copied to the result item (`key`) when the result shows it
    /// (`ReportSummary::shown_on_result`); a copy never takes the result's back to fewer parts. Read
    /// consistently: it counts this part.
    async fn copy_summary(&self, run: Uuid, seq: u64, key: &Item) -> Result<()> {
        let read = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(summary_key(run, seq)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("dynamodb", e))?;
        let Some(summary) = read.item.as_ref().and_then(parse_summary) else {
            return Ok(());
        };
        // Whichever of the first parts' writers reads it last copies their count, even when a few
        // land at once.
        if !summary.shown_on_result() {
            return Ok(());
        }
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key.clone()))
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(report_parts) OR report_parts < :parts)",
            )
            .expression_attribute_values(":request", number(summary.request_id))
            .expression_attribute_values(":parts", number(summary.parts))
            .expression_attribute_values(":dropped", number(summary.dropped))
            .expression_attribute_values(":bytes", number(summary.bytes));
        let mut sets =
            "report_request = :request, report_parts = :parts, report_dropped = :dropped, report_bytes = :bytes"
                .to_owned();
        if let Some(last) = summary.last {
            sets.push_str(", report_last = :last");
            update = update.expression_attribute_values(":last", number(last));
        }
        // Refused: a copy of as many parts or more is there already.
        applied(update.update_expression(format!("SET {sets}")).send().await).map(|_| ())
    }

    /// The part's item and its count on the report's summary, as one transaction's two items.
    fn part_items(
        &self,
        run: Uuid,
        seq: u64,
        key: &Item,
        part: &ReportPart,
        text: &str,
        admission: Admission,
    ) -> Result<Vec<TransactWriteItem>> {
        let expires = chrono::Utc::now() + chrono::Duration::days(REPORT_KEPT_DAYS);
        let mut item = Item::from([
            ("pk".to_owned(), string(parts_partition(run, seq))),
            ("sk".to_owned(), string(format!("{:010}", part.seq_no))),
            ("expires".to_owned(), number(expires.timestamp())),
        ]);
        let mut sets = vec!["report_request = :request"];
        let mut adds = vec!["report_parts :one"];
        let mut condition = "(attribute_not_exists(report_parts) OR report_parts < :max)".to_owned();
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key.clone()))
            .expression_attribute_values(":request", number(part.request_id))
            .expression_attribute_values(":one", number(1))
            .expression_attribute_values(":max", number(MAX_REPORT_PARTS));
        if admission == Admission::WithData {
            item.insert("data".to_owned(), string(text));
            adds.push("report_bytes :bytes");
            condition.push_str(" AND (attribute_not_exists(report_bytes) OR report_bytes <= :room)");
            let bytes = text.len() as u64;
            update = update
                .expression_attribute_values(":bytes", number(bytes))
                .expression_attribute_values(":room", number(MAX_REPORT_BYTES.saturating_sub(bytes)));
        } else {
            adds.push("report_dropped :one");
        }
        if !part.tbc {
            sets.push("report_last = :last");
            update = update.expression_attribute_values(":last", number(part.seq_no));
        }
        let update = update
            .update_expression(format!("SET {} ADD {}", sets.join(", "), adds.join(", ")))
            .condition_expression(condition)
            .build()
            .map_err(|e| Error::internal("dynamodb", e))?;
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| Error::internal("dynamodb", e))?;
        Ok(vec![TransactWriteItem::builder().put(put).build(), TransactWriteItem::builder().update(update).build()])
    }

    /// `RunStore::report`: the summary, and the parts, read in order, in one query of the report's
    /// partition. A report whose summary is on its result alone (kept before summaries had an item of
    /// their own) is read with that one.
    pub(super) async fn read_report(&self, run: Uuid, seq: u64) -> Result<Option<(ReportSummary, Vec<KeptPart>)>> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", string(parts_partition(run, seq)));
        // A partition's items come in `sk` order: `seqNo` order, then the summary.
        let mut items = query_pages(query, usize::MAX).await?;
        let own = match items.last() {
            Some(item) if opt_s(item, "sk") == Some(SUMMARY_SK) => items.pop().as_ref().and_then(parse_summary),
            _ => None,
        };
        let summary = match own {
            Some(summary) => summary,
            None => match self.result(run, seq).await?.and_then(|result| result.report) {
                Some(summary) => summary,
                None => return Ok(None),
            },
        };
        let parts = items.iter().map(|item| match opt_s(item, "data") {
            Some(text) => serde_json::from_str(text).map(Some).map_err(|e| Error::internal("dynamodb", e)),
            None => Ok(None),
        });
        let parts = parts.collect::<Result<Vec<KeptPart>>>()?;
        Ok(Some((summary, parts)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_expires_when_its_report_is_no_longer_kept() {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .build();
        let store = DynamoRunStore::new(aws_sdk_dynamodb::Client::from_conf(config), "runs");
        let part = ReportPart { request_id: 5, seq_no: 0, tbc: false, data: vec![serde_json::json!({"a": 1})] };
        let key = Item::new();
        let items = store.part_items(Uuid::new_v4(), 0, &key, &part, &part.data_text(), Admission::WithData).unwrap();
        let put = items[0].put().expect("the part's put");
        let expires: i64 = opt_n(put.item(), "expires").expect("an expiry");
        let kept = expires - chrono::Utc::now().timestamp();
        let days = chrono::Duration::days(REPORT_KEPT_DAYS).num_seconds();
        assert!((days - 60..=days).contains(&kept), "{kept} s");
    }
}
