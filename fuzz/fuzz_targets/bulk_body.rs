//! A POST body from an API client, as the handler reads it: JSON, then the bulk request's envelope
//! and the command's `data` against its schema. Nothing may panic, and the error report stays
//! bounded (at most MAX_REPORTED_ERRORS messages) whatever the body holds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::error::MAX_REPORTED_ERRORS;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if let Err(err) = api::create::BulkRequest::parse(body) {
        let answer = err.body();
        let reported: usize =
            answer["errors"].as_object().map_or(0, |fields| fields.values().filter_map(|v| v.as_array()).map(Vec::len).sum());
        assert!(reported <= MAX_REPORTED_ERRORS + 1, "{reported} errors reported");
    }
});
