//! The stack-wide cap on CALLs a second (`DISPATCH_PER_SECOND`, 3,000 by default): every worker
//! invocation takes its batch's CALLs from the current second's budget (`DispatchBudget`) before it
//! sends any; those the second has no room for are queued again a second later, as new messages,
//! and their deliveries succeed. The cap sits below what API Gateway lets through: each CALL is one
//! PostToConnection and one answer on the WebSocket API's `$default` route, both counted against the
//! account's 10,000 requests a second, beside the chargers' heartbeats (docs/data-model.md, "What
//! AWS enforces": the route's arithmetic).

use std::sync::Arc;

use chrono::Utc;
use shared::ports::DispatchBudget;

/// CALLs a second, stack-wide, unless DISPATCH_PER_SECOND says otherwise.
pub const DEFAULT_DISPATCH_PER_SECOND: u32 = 3_000;

#[derive(Clone)]
pub struct Cap {
    pub budget: Arc<dyn DispatchBudget>,
    pub per_second: u32,
}

impl Cap {
    /// How many of `calls` CALLs may go out this second. A budget that cannot be read lets them all
    /// go: API Gateway's own throttle is behind it, and a stalled dispatch is worse than a throttled one.
    pub async fn admits(&self, calls: usize) -> usize {
        let wanted = u32::try_from(calls).unwrap_or(u32::MAX);
        match self.budget.take(Utc::now().timestamp(), wanted, self.per_second).await {
            Ok(granted) => usize::try_from(granted).unwrap_or(calls).min(calls),
            Err(err) => {
                tracing::warn!(error = %err, "the dispatch budget could not be read; the batch's CALLs go out");
                calls
            }
        }
    }
}
