//! Answers to the CALLs a charger sends to the central system (SPEC section 3).

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::catalogue::COMMANDS;
use super::frame::ErrorCode;
use crate::clock::rfc3339;

/// The heartbeat interval, in seconds, given to every charger that boots.
pub const HEARTBEAT_INTERVAL_SECONDS: u32 = 300;

/// Actions a charge point initiates in OCPP 1.6 that ocpp-bulk does not handle.
const OTHER_CHARGER_ACTIONS: [&str; 3] = ["Authorize", "StartTransaction", "StopTransaction"];

/// The payload of the CALLRESULT for a charger's CALL, or the CALLERROR code and text.
pub fn answer(action: &str, now: DateTime<Utc>) -> Result<Value, (ErrorCode, String)> {
    match action {
        "BootNotification" => Ok(json!({
            "status": "Accepted", "currentTime": rfc3339(now), "interval": HEARTBEAT_INTERVAL_SECONDS,
        })),
        "Heartbeat" => Ok(json!({ "currentTime": rfc3339(now) })),
        "StatusNotification" | "MeterValues" | "DiagnosticsStatusNotification" | "FirmwareStatusNotification" => {
            Ok(json!({}))
        }
        "DataTransfer" => Ok(json!({ "status": "UnknownVendorId" })),
        known if OTHER_CHARGER_ACTIONS.contains(&known) || COMMANDS.iter().any(|c| c.action == known) => {
            Err((ErrorCode::NotSupported, format!("{known} is not supported by this central system")))
        }
        _ => Err((ErrorCode::NotImplemented, "unknown action".to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_follow_the_spec() {
        let now = Utc::now();
        let boot = answer("BootNotification", now).unwrap();
        assert_eq!(boot["status"], "Accepted");
        assert_eq!(boot["interval"], 300);
        assert!(boot["currentTime"].as_str().unwrap().ends_with('Z'));
        assert!(answer("Heartbeat", now).unwrap()["currentTime"].is_string());
        assert_eq!(answer("MeterValues", now).unwrap(), json!({}));
        assert_eq!(answer("DataTransfer", now).unwrap()["status"], "UnknownVendorId");
        assert_eq!(answer("StartTransaction", now).unwrap_err().0, ErrorCode::NotSupported);
        assert_eq!(answer("Reset", now).unwrap_err().0, ErrorCode::NotSupported);
        assert_eq!(answer("Teleport", now).unwrap_err().0, ErrorCode::NotImplemented);
    }
}
