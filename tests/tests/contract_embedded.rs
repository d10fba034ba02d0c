//! The contract suite against the embedded adapters.

use std::sync::Arc;

use ocpp_bulk_tests::contract::Ports;
use ocpp_bulk_tests::harness::fleet;
use shared::embedded::MemoryStore;

fn ports() -> Ports {
    let store = Arc::new(MemoryStore::new());
    store.import(&fleet(3).provision().expect("fleet"));
    Ports {
        tokens: store.clone(),
        chargers: store.clone(),
        runs: store.clone(),
        inflight: store.clone(),
        connections: store.clone(),
        idempotency: store.clone(),
        limiter: store.clone(),
        budget: store.clone(),
        fleet: store.fleet.clone(),
        webhooks: store.clone(),
        secrets: store,
    }
}

ocpp_bulk_tests::contract_suite!(ports());
