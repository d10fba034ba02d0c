//! The contract every adapter set must keep, written once. `contract_suite!` expands to one test
//! per check for a given way to build the ports (embedded now, AWS on moto's server too).
//! Every check uses fresh run ids, so checks can share one store.

mod access;
mod connections;
mod fleet_view;
mod follow_ups;
mod reports;
mod runs;
mod webhooks;

use std::sync::Arc;

use chrono::Utc;
use shared::domain::{ChargerRef, ResultRecord, Run};
use shared::ports::{
    ChargerDirectory, ConnectionRegistry, DispatchBudget, FleetStates, IdempotencyKeys, InflightCalls, RateLimiter,
    RunStore, RunWebhooks, TokenStore, WebhookSecrets,
};
use uuid::Uuid;

pub use access::*;
pub use connections::*;
pub use fleet_view::*;
pub use follow_ups::*;
pub use reports::*;
pub use runs::*;
pub use webhooks::*;

/// The ports under test. The directory and tokens hold `harness::fleet(n)` for some n ≥ 3.
#[derive(Clone)]
pub struct Ports {
    pub tokens: Arc<dyn TokenStore>,
    pub chargers: Arc<dyn ChargerDirectory>,
    pub runs: Arc<dyn RunStore>,
    pub inflight: Arc<dyn InflightCalls>,
    pub connections: Arc<dyn ConnectionRegistry>,
    pub idempotency: Arc<dyn IdempotencyKeys>,
    pub limiter: Arc<dyn RateLimiter>,
    pub budget: Arc<dyn DispatchBudget>,
    pub fleet: Arc<dyn FleetStates>,
    pub webhooks: Arc<dyn RunWebhooks>,
    pub secrets: Arc<dyn WebhookSecrets>,
}

/// A CALL whose answer is due in a minute, as `RunStore::mark_called` records it.
pub fn called(call_id: &str) -> shared::ports::Called {
    shared::ports::Called::new(call_id, chrono::Utc::now() + chrono::Duration::minutes(1))
}

/// A run of `pending` chargers plus `skipped` unresolvable ids, stored.
pub async fn new_run(ports: &Ports, owner: &str, pending: usize, skipped: usize) -> (Run, Vec<ResultRecord>) {
    new_run_with(ports, owner, pending, skipped, |_| {}).await
}

/// `new_run`, the run changed by `shape` before it is stored.
pub async fn new_run_with(
    ports: &Ports,
    owner: &str,
    pending: usize,
    skipped: usize,
    shape: impl FnOnce(&mut Run),
) -> (Run, Vec<ResultRecord>) {
    let mut results: Vec<ResultRecord> = (0..pending)
        .map(|i| {
            let identity = format!("X{}", Uuid::new_v4().simple());
            ResultRecord::pending(
                i as u64,
                ChargerRef { uuid: Uuid::new_v4(), identity, reference: Some(format!("bay {i}")) },
            )
        })
        .collect();
    results.extend((0..skipped).map(|i| ResultRecord::skipped((pending + i) as u64, format!("not-a-uuid-{i}"))));
    let data = serde_json::json!({"type": "Soft"});
    let mut run =
        Run::new(Uuid::new_v4(), owner.to_owned(), "Reset".into(), data, results.len() as u64, Utc::now(), 30);
    run.counters.skipped = skipped as u64;
    shape(&mut run);
    ports.runs.create_run(&run, results.clone()).await.expect("create_run");
    (run, results)
}

/// One `#[tokio::test]` per contract check, for ports built by `$ports` (an async expression).
#[macro_export]
macro_rules! contract_suite {
    ($ports:expr) => {
        $crate::contract_suite!(@tests $ports;
            tokens_and_chargers_resolve, runs_and_results_round_trip, mark_called_is_conditional,
            finish_counts_once_and_completes, a_long_answer_reads_back_whole, racing_finishes_make_one_transition,
            racing_dispatches_mark_one_call, big_run_completes_exactly, runs_listed_newest_first,
            waiting_messages_are_woken_by_the_release, an_undelivered_call_is_taken_back,
            inflight_slot_is_exclusive, connections_newest_wins, idempotency_keys_claim_once,
            rate_limits_count_per_user_and_minute, dispatch_budgets_give_what_each_second_has_left,
            cancelling_is_recorded_once,
            fleet_states_are_kept_and_listed, a_big_team_is_listed_in_charger_order_page_by_page,
            webhook_steps_are_claimed_once,
            an_answer_counts_once_from_its_charger_in_time, a_chunk_is_written_once,
            report_parts_are_kept_once_within_the_item_limit,
            outcomes_move_once_per_revision_and_complete_the_run);
    };
    (@tests $ports:expr; $($check:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let ports = $ports;
                $crate::contract::$check(&ports).await;
            }
        )*
    };
}
