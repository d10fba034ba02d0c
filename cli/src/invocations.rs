//! What Lambda would bill the functions for, counted where the local stack invokes them: each
//! function's invocations and their summed duration (the handler's wall time, as Lambda bills it
//! per millisecond). For the cost figures of `scripts/aws-requests.sh`.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use shared::sync::locked;

static INVOCATIONS: Mutex<BTreeMap<&'static str, (u64, Duration)>> = Mutex::new(BTreeMap::new());

/// One invocation of `function` that took `elapsed`.
pub fn record(function: &'static str, elapsed: Duration) {
    let mut all = locked(&INVOCATIONS);
    let (count, total) = all.entry(function).or_default();
    *count += 1;
    *total += elapsed;
}

/// Invocations and their summed duration so far, by function.
pub fn snapshot() -> BTreeMap<&'static str, (u64, Duration)> {
    locked(&INVOCATIONS).clone()
}

pub fn reset() {
    locked(&INVOCATIONS).clear();
}
