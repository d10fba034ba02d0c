//! A frame from a charger: parsed, and when it is a CALL, answered (its payload checked against the
//! action's schema, in each version). Nothing may panic; an answer's CALLERROR description stays short.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::ocpp::{charger_calls, Frame, OcppVersion};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Frame::parse(text) {
        Ok(Frame::Call { id, action, payload }) => {
            for version in OcppVersion::ALL {
                if let Err((code, description)) = charger_calls::answer(version, &action, &payload, chrono::Utc::now()) {
                    assert!(description.len() < 1_024, "a CALLERROR description of {} bytes", description.len());
                    let _ = Frame::call_error(&id, version, code, description).to_text();
                }
            }
        }
        Ok(frame) => {
            let _ = frame.to_text();
        }
        Err(err) => {
            let _ = err.to_string();
        }
    }
});
