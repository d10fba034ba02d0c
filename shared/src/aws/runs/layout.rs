//! How a run's items are keyed and spread (docs/data-model.md, "Sizing for big runs"): its results
//! over S shard partitions (`RUN#id#R{k}`, k = seq mod S), its counters over C items (`RUN#id#C{k}`),
//! its META at `RUN#id`; a user's runs by the `by-owner` index.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::super::item::{string, Item};

/// Results per shard partition a run is sized for (see docs/data-model.md).
pub const RESULTS_PER_SHARD: u64 = 5_000;
pub const MAX_SHARDS: u32 = 64;
/// The widest window of positions one round of a results page reads (`RunStore::results`), which
/// bounds what a round holds in memory when a filter's matches turn dense: 4,096 results of at most
/// 16 KB of answer each (`MAX_KEPT_RESPONSE_BYTES`) is 64 MB, a quarter of a function's 256 MB. A
/// rare status over a 150,000-result run takes about 40 rounds.
pub const MAX_RESULTS_WINDOW: u64 = 4_096;
/// The owner index: a user's runs, newest first.
pub const OWNER_INDEX: &str = "by-owner";

pub fn shard_count(results: u64) -> u32 {
    u32::try_from(results.div_ceil(RESULTS_PER_SHARD)).unwrap_or(MAX_SHARDS).clamp(1, MAX_SHARDS)
}

/// Answers per counter item a run is sized for: every answer is a transaction on its counter,
/// and DynamoDB cancels a transaction that meets another one on the same item, so a counter must
/// stay cold enough for retries to get through (docs/data-model.md, "Counters at 150,000 chargers").
pub const RESULTS_PER_COUNTER: u64 = 25;
/// At most this many counters (reached at 25,000 results): a 150,000-charger run answering at
/// 5,000 a second puts 5 transactions a second on each; ten BatchGetItem calls, in parallel, sum them.
pub const MAX_COUNTERS: u32 = 1_000;

/// How a run's items are spread: its results over `results` partitions, its counters over
/// `counters` items. Fixed at creation (stored on META).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub results: u32,
    pub counters: u32,
    /// The run's positions: `0..total`.
    pub total: u64,
}

impl Layout {
    pub fn for_run(total: u64) -> Layout {
        let counters =
            u32::try_from(total.div_ceil(RESULTS_PER_COUNTER)).unwrap_or(MAX_COUNTERS).clamp(1, MAX_COUNTERS);
        Layout { results: shard_count(total), counters, total }
    }

    /// The results partition of position `seq`: the one place the shard rule is written.
    pub fn shard_of(&self, seq: u64) -> u64 {
        seq % u64::from(self.results.max(1))
    }

    /// The counter item that counts position `seq`.
    pub fn counter_of(&self, seq: u64) -> u32 {
        (seq % u64::from(self.counters.max(1))) as u32
    }
}

pub fn meta_key(run: Uuid) -> Item {
    Item::from([("pk".into(), string(format!("RUN#{run}"))), ("sk".into(), string("META"))])
}

/// A cancelled run's mark, beside its META: what every dispatch reads (`RunStore::cancelled_at`),
/// each worker once a second per run. META may hold up to 240 KB of command data, and a read is
/// charged by the item's size whatever it projects (60 read units a consistent read); this item
/// is one unit.
pub fn cancel_key(run: Uuid) -> Item {
    Item::from([("pk".into(), string(format!("RUN#{run}"))), ("sk".into(), string("CANCEL"))])
}

/// The marker of a written chunk of a run created in chunks (`write_results`).
/// The sort keys of a run's chunk markers begin so.
pub const CHUNK_PREFIX: &str = "CHUNK#";

pub fn chunk_key(run: Uuid, chunk: u32) -> Item {
    Item::from([
        ("pk".into(), string(format!("RUN#{run}"))),
        ("sk".into(), string(format!("{CHUNK_PREFIX}{chunk:06}"))),
    ])
}

pub fn counter_key(run: Uuid, shard: u32) -> Item {
    Item::from([("pk".into(), string(format!("RUN#{run}#C{shard}"))), ("sk".into(), string("C"))])
}

/// The partition holding shard `shard` of a run's results.
pub fn results_partition(run: Uuid, shard: u64) -> String {
    format!("RUN#{run}#R{shard}")
}

/// The run a results partition (`results_partition`) belongs to.
pub fn run_of_partition(pk: &str) -> Option<Uuid> {
    let rest = pk.strip_prefix("RUN#")?;
    let (run, _) = rest.split_once("#R")?;
    Uuid::try_parse(run).ok()
}

pub fn result_key(run: Uuid, layout: Layout, seq: u64) -> Item {
    let shard = layout.shard_of(seq);
    Item::from([("pk".into(), string(results_partition(run, shard))), ("sk".into(), string(format!("{seq:012}")))])
}

pub fn owner_sort_key(created_at: DateTime<Utc>, id: Uuid) -> String {
    format!("{:020}#{id}", created_at.timestamp_micros())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_grow_with_the_run() {
        assert_eq!(shard_count(0), 1);
        assert_eq!(shard_count(5_000), 1);
        assert_eq!(shard_count(5_001), 2);
        assert_eq!(shard_count(150_000), 30);
        assert_eq!(shard_count(10_000_000), MAX_SHARDS);
    }
}

#[cfg(test)]
mod sizing {
    //! The arithmetic of docs/data-model.md, checked against the real key functions.

    use std::collections::HashMap;

    use super::*;
    use crate::aws::runs::items::run_items;
    use crate::domain::{ChargerRef, ResultRecord, Run};

    /// A partition's sustained write capacity, in write units per second.
    const PARTITION_WCU: u64 = 1_000;

    fn pk(item: &Item) -> String {
        item["pk"].as_s().cloned().unwrap_or_default()
    }

    #[test]
    fn writes_per_partition_stay_under_the_limit() {
        let total: u64 = 150_000;
        let data = serde_json::json!({"type": "Soft"});
        let run = Run::new(Uuid::new_v4(), "alice".into(), "Reset".into(), data, total, Utc::now(), 30);
        let results: Vec<ResultRecord> = (0..total)
            .map(|seq| {
                ResultRecord::pending(
                    seq,
                    ChargerRef { uuid: Uuid::new_v4(), identity: format!("CP{seq}"), reference: None },
                )
            })
            .collect();

        // Creation, in under 10 s: one write unit per item.
        let (items, meta) = run_items(&run, &results);
        let mut creation: HashMap<String, u64> = HashMap::new();
        for item in items.iter().chain(std::iter::once(&meta)) {
            *creation.entry(pk(item)).or_default() += 1;
        }
        let busiest = creation.values().max().copied().unwrap_or(0);
        assert_eq!(
            creation.len() as u64,
            1 + u64::from(shard_count(total)),
            "META and S result partitions (counters are created by their first answers)"
        );
        assert!(busiest / 10 <= PARTITION_WCU / 2, "creation: {busiest} writes on one partition in 10 s");

        // Acknowledgement, within 60 s: mark_called (1 WCU) and the transaction (2 WCU per item).
        let layout = Layout::for_run(total);
        let mut answers: HashMap<String, u64> = HashMap::new();
        for seq in 0..total {
            *answers.entry(pk(&result_key(run.id, layout, seq))).or_default() += 3;
            *answers.entry(pk(&counter_key(run.id, layout.counter_of(seq)))).or_default() += 2;
        }
        let busiest = answers.values().max().copied().unwrap_or(0);
        assert!(busiest / 60 <= PARTITION_WCU / 2, "answers: {busiest} write units on one partition in 60 s");

        // Unsharded, the same run would overload one partition 15 times over at creation.
        assert!(total / 10 > 10 * PARTITION_WCU);
    }
}
