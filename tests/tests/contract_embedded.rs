//! The contract suite against the embedded adapters.

use std::sync::Arc;

use e2e::contract::Ports;
use e2e::harness::fleet;
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
        limiter: store,
    }
}

e2e::contract_suite!(ports());
