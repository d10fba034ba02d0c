//! The stack-wide cap on CALLs a second (`DISPATCH_PER_SECOND`, 3,000 by default): every worker
//! invocation takes its batch's CALLs from the current second's budget (`DispatchBudget`) before it
//! sends any, an inventory as ten (`INVENTORY_WEIGHT`); those the second has no room for are queued
//! again 1 to 3 s later, as new messages, and their deliveries succeed. Dead letters are not held
//! back (their one attempt is theirs). The cap sits below what API Gateway lets through: each CALL
//! is one PostToConnection and one answer on the WebSocket API's `$default` route, both counted
//! against the account's 10,000 requests a second, beside the chargers' heartbeats
//! (docs/data-model.md, "What AWS enforces": the route's arithmetic).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::Utc;
use shared::ports::DispatchBudget;

/// CALLs a second, stack-wide, unless DISPATCH_PER_SECOND says otherwise.
pub const DEFAULT_DISPATCH_PER_SECOND: u32 = 3_000;

#[derive(Clone)]
pub struct Cap {
    pub budget: Arc<dyn DispatchBudget>,
    pub per_second: u32,
    /// The latest second this process found spent: its later batches hold back without asking.
    spent: Arc<AtomicI64>,
}

impl Cap {
    pub fn new(budget: Arc<dyn DispatchBudget>, per_second: u32) -> Cap {
        Cap { budget, per_second, spent: Arc::new(AtomicI64::new(i64::MIN)) }
    }

    /// How many of `calls` CALLs may go out this second. A second this process already found spent
    /// is not asked again, so held-back batches do not pile onto its counter; a budget that cannot
    /// be read admits none (the claims that send a CALL are DynamoDB writes too, and a held-back
    /// CALL only waits a few seconds).
    pub async fn admits(&self, calls: usize) -> usize {
        let second = Utc::now().timestamp();
        if self.spent.load(Ordering::Relaxed) == second {
            return 0;
        }
        let wanted = u32::try_from(calls).unwrap_or(u32::MAX);
        let granted = match self.budget.take(second, wanted, self.per_second).await {
            Ok(granted) => usize::try_from(granted).unwrap_or(calls).min(calls),
            Err(err) => {
                tracing::warn!(error = %err, "the dispatch budget could not be read; the batch's CALLs wait");
                0
            }
        };
        if granted < calls {
            self.spent.store(second, Ordering::Relaxed);
        }
        granted
    }
}

/// What an inventory CALL takes of the budget: 1.6 GetConfiguration, 2.0.1 GetBaseReport, GetReport
/// and GetMonitoringReport answer with kilobytes (a GetConfiguration up to the 16 KB a result keeps)
/// or with reports in parts, each its own item. Measured under the strict stand-in (strict proof,
/// step 2c, a mixed inventory of 15 KB GetConfiguration answers and 20-part reports), such a run
/// writes 44 to 81 units an answer across its partitions, against about 5 for a Reset: at the cap
/// of 3,000 CALLs a second, 133,000 to 244,000 units a second, three to six times a table's default
/// quota of 40,000. At ten CALLs' worth each, 300 inventories a second write 13,000 to 24,000
/// (docs/data-model.md, "Hot keys at the scale of the test").
pub const INVENTORY_WEIGHT: u32 = 10;
const INVENTORIES: [&str; 4] = ["GetConfiguration", "GetBaseReport", "GetReport", "GetMonitoringReport"];

/// What a CALL of `action` takes of the second's budget.
pub fn weight(action: &str) -> u32 {
    if INVENTORIES.contains(&action) {
        INVENTORY_WEIGHT
    } else {
        1
    }
}

impl Cap {
    /// How many of the CALLs weighing `weights`, in order, may go out this second (`admits`). A
    /// weight over the whole cap counts as the cap, so an inventory still goes out, one a second,
    /// under a cap below its weight. Units granted past the last whole CALL are lost with the
    /// second: a grant falls short only when the second's budget is all but spent.
    pub async fn admits_weighted(&self, weights: &[u32]) -> usize {
        let cap = self.per_second.max(1) as usize;
        let weights: Vec<usize> = weights.iter().map(|w| (*w as usize).clamp(1, cap)).collect();
        let total = weights.iter().sum();
        let mut left = self.admits(total).await;
        weights
            .iter()
            .take_while(|w| match left.checked_sub(**w) {
                Some(rest) => {
                    left = rest;
                    true
                }
                None => false,
            })
            .count()
    }
}

/// How long a held-back CALL waits: 1 to 3 s, spread, so a backlog does not come back all at once.
pub fn hold_back_seconds() -> u32 {
    fastrand::u32(1..=3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_inventory_weighs_ten_calls_and_others_one() {
        assert_eq!(weight("GetConfiguration"), 10);
        assert_eq!(weight("GetBaseReport"), 10);
        assert_eq!(weight("Reset"), 1);
        assert_eq!(weight("GetVariables"), 1);
    }

    fn cap(per_second: u32) -> Cap {
        Cap::new(Arc::new(shared::embedded::MemoryStore::new()), per_second)
    }

    #[tokio::test]
    async fn inventories_take_their_weight_and_still_go_under_a_smaller_cap() {
        assert_eq!(cap(25).admits_weighted(&[10, 10, 10]).await, 2, "20 of 25: the third waits");
        assert_eq!(cap(25).admits_weighted(&[1, 10, 1]).await, 3);
        // Below an inventory's weight, one still goes out a second (it weighs the whole cap).
        assert_eq!(cap(5).admits_weighted(&[10, 10]).await, 1);
        assert_eq!(cap(5).admits_weighted(&[3, 10]).await, 1, "3 and 5 of 5: the inventory waits");
    }
}
