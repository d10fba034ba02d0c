//! The OCPP-J 1.6 frame codec: `[2,id,action,payload]` CALL, `[3,id,payload]` CALLRESULT,
//! `[4,id,code,description,details]` CALLERROR. Anything malformed is an error value, never a panic.

use serde_json::value::RawValue;
use serde_json::Value;

use crate::domain::OcppVersion;

/// The longest message id OCPP-J allows (it is a string of at most 36 characters).
pub const MAX_MESSAGE_ID_LEN: usize = 36;

#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Call { id: String, action: String, payload: Value },
    CallResult { id: String, payload: Value },
    CallError { id: String, code: String, description: String, details: Value },
}

/// The CALLERROR codes of OCPP-J 1.6 (section 4.2.3), spelled as the specification spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    NotImplemented,
    NotSupported,
    InternalError,
    ProtocolError,
    SecurityError,
    FormationViolation,
    PropertyConstraintViolation,
    OccurenceConstraintViolation,
    TypeConstraintViolation,
    GenericError,
}

impl ErrorCode {
    /// The code as `version` spells it: OCPP-J 2.0.1 renamed FormationViolation to FormatViolation
    /// and fixed the spelling of OccurrenceConstraintViolation.
    pub fn spelled(self, version: OcppVersion) -> &'static str {
        match (version, self) {
            (OcppVersion::V201, ErrorCode::FormationViolation) => "FormatViolation",
            (OcppVersion::V201, ErrorCode::OccurenceConstraintViolation) => "OccurrenceConstraintViolation",
            _ => self.as_str(),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::NotImplemented => "NotImplemented",
            ErrorCode::NotSupported => "NotSupported",
            ErrorCode::InternalError => "InternalError",
            ErrorCode::ProtocolError => "ProtocolError",
            ErrorCode::SecurityError => "SecurityError",
            ErrorCode::FormationViolation => "FormationViolation",
            ErrorCode::PropertyConstraintViolation => "PropertyConstraintViolation",
            ErrorCode::OccurenceConstraintViolation => "OccurenceConstraintViolation",
            ErrorCode::TypeConstraintViolation => "TypeConstraintViolation",
            ErrorCode::GenericError => "GenericError",
        }
    }
}

/// Why a text is not a frame. `id` is set when one could be read, so the peer can get a CALLERROR.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("malformed OCPP-J frame: {reason}")]
pub struct FrameError {
    pub id: Option<String>,
    pub reason: String,
}

impl FrameError {
    fn new(id: Option<&str>, reason: impl Into<String>) -> Self {
        FrameError { id: id.map(str::to_owned), reason: reason.into() }
    }
}

impl Frame {
    pub fn parse(text: &str) -> Result<Frame, FrameError> {
        let value: Value = serde_json::from_str(text).map_err(|e| FrameError::new(None, format!("not JSON: {e}")))?;
        let Value::Array(mut items) = value else {
            return Err(FrameError::new(None, "not a JSON array"));
        };
        let id = match items.get(1) {
            Some(Value::String(id)) if !id.is_empty() && id.len() <= MAX_MESSAGE_ID_LEN => id.clone(),
            Some(Value::String(_)) => {
                return Err(FrameError::new(None, "message id is empty or longer than 36 characters"))
            }
            _ => return Err(FrameError::new(None, "no message id string at position 1")),
        };
        let kind = items.first().and_then(Value::as_u64);
        let malformed = |reason: &str| Err(FrameError::new(Some(&id), reason));
        match (kind, items.len()) {
            (Some(2), 4) => {
                let payload = items.pop().unwrap_or(Value::Null);
                let Some(Value::String(action)) = items.pop() else {
                    return malformed("CALL action is not a string");
                };
                if !payload.is_object() {
                    return malformed("CALL payload is not an object");
                }
                Ok(Frame::Call { id, action, payload })
            }
            (Some(3), 3) => {
                let payload = items.pop().unwrap_or(Value::Null);
                if !payload.is_object() {
                    return malformed("CALLRESULT payload is not an object");
                }
                Ok(Frame::CallResult { id, payload })
            }
            (Some(4), 5) => {
                let details = items.pop().unwrap_or(Value::Null);
                let (Some(Value::String(description)), Some(Value::String(code))) = (items.pop(), items.pop()) else {
                    return malformed("CALLERROR code and description must be strings");
                };
                Ok(Frame::CallError { id, code, description, details })
            }
            (Some(2..=4), n) => malformed(&format!("wrong number of elements ({n}) for its message type")),
            _ => malformed("unknown message type id"),
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Frame::Call { id, .. } | Frame::CallResult { id, .. } | Frame::CallError { id, .. } => id,
        }
    }

    pub fn to_text(&self) -> String {
        let value = match self {
            Frame::Call { id, action, payload } => serde_json::json!([2, id, action, payload]),
            Frame::CallResult { id, payload } => serde_json::json!([3, id, payload]),
            Frame::CallError { id, code, description, details } => {
                serde_json::json!([4, id, code, description, details])
            }
        };
        value.to_string()
    }

    /// A CALLERROR to a charger speaking `version`.
    pub fn call_error(id: &str, version: OcppVersion, code: ErrorCode, description: impl Into<String>) -> Frame {
        Frame::CallError {
            id: id.to_owned(),
            code: code.spelled(version).to_owned(),
            description: description.into(),
            details: Value::Object(Default::default()),
        }
    }
}

/// Builds a CALL from a payload that is already JSON (`RawValue`), so a run's payload is encoded
/// once and each charger's frame copies it verbatim.
pub fn encode_call(id: &str, action: &str, payload: &RawValue) -> String {
    serde_json::to_string(&(2, id, action, payload)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_the_three_frame_types() {
        assert_eq!(
            Frame::parse(r#"[2,"1","Heartbeat",{}]"#).unwrap(),
            Frame::Call { id: "1".into(), action: "Heartbeat".into(), payload: json!({}) }
        );
        assert_eq!(
            Frame::parse(r#"[3,"a",{"status":"Accepted"}]"#).unwrap(),
            Frame::CallResult { id: "a".into(), payload: json!({"status":"Accepted"}) }
        );
        assert_eq!(
            Frame::parse(r#"[4,"b","NotSupported","nope",{}]"#).unwrap(),
            Frame::CallError {
                id: "b".into(),
                code: "NotSupported".into(),
                description: "nope".into(),
                details: json!({})
            }
        );
    }

    #[test]
    fn malformed_frames_are_errors_with_an_id_when_one_is_readable() {
        for (text, has_id) in [
            ("", false),
            ("{}", false),
            ("[2]", false),
            ("[2, 5, \"Heartbeat\", {}]", false),
            ("[\"x\", \"\"]", false),
            (&format!("[2,\"{}\",\"A\",{{}}]", "x".repeat(37)), false),
            ("[2,\"1\",\"Heartbeat\"]", true),
            ("[2,\"1\",7,{}]", true),
            ("[2,\"1\",\"Heartbeat\",[]]", true),
            ("[3,\"1\",\"x\"]", true),
            ("[4,\"1\",5,\"d\",{}]", true),
            ("[9,\"1\",{}]", true),
            ("[\"2\",\"1\",\"A\",{}]", true),
        ] {
            let err = Frame::parse(text).expect_err(text);
            assert_eq!(err.id.is_some(), has_id, "{text}: {err:?}");
        }
    }

    #[test]
    fn encoded_call_round_trips() {
        let payload = serde_json::value::to_raw_value(&json!({"type": "Soft"})).unwrap();
        let text = encode_call("m-1", "Reset", &payload);
        assert_eq!(text, r#"[2,"m-1","Reset",{"type":"Soft"}]"#);
        assert_eq!(
            Frame::parse(&text).unwrap(),
            Frame::Call { id: "m-1".into(), action: "Reset".into(), payload: json!({"type":"Soft"}) }
        );
        let err = Frame::call_error("9", OcppVersion::V16, ErrorCode::FormationViolation, "bad");
        assert_eq!(err.to_text(), r#"[4,"9","FormationViolation","bad",{}]"#);
        let err = Frame::call_error("9", OcppVersion::V201, ErrorCode::FormationViolation, "bad");
        assert_eq!(err.to_text(), r#"[4,"9","FormatViolation","bad",{}]"#);
    }
}
