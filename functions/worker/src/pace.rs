//! The stack-wide cap on CALLs a second (`DISPATCH_PER_SECOND`, 3,000 by default): every worker
//! invocation takes its batch's CALLs from the current second's budget (`DispatchBudget`) before it
//! sends any; those the second has no room for are queued again 1 to 3 s later, as new messages,
//! and their deliveries succeed. Dead letters are not held back (their one attempt is theirs). The
//! cap sits below what API Gateway lets through: each CALL is one PostToConnection and one answer on
//! the WebSocket API's `$default` route, both counted against the account's 10,000 requests a
//! second, beside the chargers' heartbeats (docs/data-model.md, "What AWS enforces": the route's
//! arithmetic).

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

/// How long a held-back CALL waits: 1 to 3 s, spread, so a backlog does not come back all at once.
pub fn hold_back_seconds() -> u32 {
    fastrand::u32(1..=3)
}
