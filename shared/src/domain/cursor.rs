//! Opaque pagination cursors (Laravel's cursor paginator shape). A cursor names its listing, so a
//! cursor from another run or another user is refused like a forged one (422).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::error::Error;

/// A position in one listing: `scope` says which (a run id, a user), `after` is the last key seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    #[serde(rename = "s")]
    pub scope: String,
    #[serde(rename = "a")]
    pub after: String,
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Decodes a cursor and checks it belongs to `scope`.
    pub fn decode(text: &str, scope: &str) -> Result<Cursor, Error> {
        let invalid = || Error::invalid("cursor", "The cursor is invalid.");
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
        let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
        if cursor.scope != scope {
            return Err(invalid());
        }
        Ok(cursor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_forgeries() {
        let cursor = Cursor { scope: "run-1".into(), after: "42".into() };
        let text = cursor.encode();
        assert_eq!(Cursor::decode(&text, "run-1").unwrap(), cursor);
        assert_eq!(Cursor::decode(&text, "run-2").unwrap_err().status_code(), 422);
        assert_eq!(Cursor::decode("!!", "run-1").unwrap_err().status_code(), 422);
        assert_eq!(Cursor::decode("e30", "run-1").unwrap_err().status_code(), 422);
    }
}
