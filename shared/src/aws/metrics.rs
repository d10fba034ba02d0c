//! Counts AWS requests per operation with an SDK interceptor: operations (what the code asked
//! for) and attempts (what went over the wire, retries included).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::sync::locked;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

#[derive(Debug, Clone, Default)]
pub struct RequestCounter {
    counts: Arc<Mutex<BTreeMap<String, u64>>>,
    attempts: Arc<Mutex<BTreeMap<String, u64>>>,
}

fn bump(counts: &Mutex<BTreeMap<String, u64>>, cfg: &ConfigBag) {
    *locked(counts).entry(operation(cfg)).or_default() += 1;
}

fn operation(cfg: &ConfigBag) -> String {
    cfg.load::<Metadata>().map_or_else(|| "unknown".to_owned(), |m| format!("{}.{}", m.service(), m.name()))
}

impl RequestCounter {
    /// Operations called so far, by `Service.Operation`.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        locked(&self.counts).clone()
    }

    /// HTTP attempts so far (operations plus their retries), by `Service.Operation`.
    pub fn attempts(&self) -> BTreeMap<String, u64> {
        locked(&self.attempts).clone()
    }

    pub fn reset(&self) {
        locked(&self.counts).clear();
        locked(&self.attempts).clear();
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    /// Once per operation, before its attempts (the operation's name is known from here on).
    fn read_after_serialization(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        bump(&self.counts, cfg);
        Ok(())
    }

    /// Once per attempt.
    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        bump(&self.attempts, cfg);
        Ok(())
    }
}
