//! Opaque pagination cursors (Laravel's cursor paginator shape), signed: a cursor is its position
//! (base64 JSON) and an HMAC-SHA256 of it under the API's cursor key, so a cursor built or changed by
//! hand is refused (422), as is one from another run or another user (a cursor names its listing).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::Error;

/// The key cursors are signed with: from configuration on AWS (`CURSOR_SECRET`), generated per
/// process locally (cursors then last as long as the process). Keyed once; each use clones it.
#[derive(Clone)]
pub struct CursorKey(Hmac<Sha256>);

impl CursorKey {
    pub fn new(secret: impl AsRef<[u8]>) -> CursorKey {
        CursorKey(<Hmac<Sha256> as Mac>::new_from_slice(secret.as_ref()).expect("HMAC takes a key of any length"))
    }

    /// 32 random bytes (two UUID v4s: the system's random source).
    pub fn random() -> CursorKey {
        let mut bytes = uuid::Uuid::new_v4().as_bytes().to_vec();
        bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
        CursorKey::new(bytes)
    }

    fn mac(&self, payload: &str) -> Hmac<Sha256> {
        let mut mac = self.0.clone();
        mac.update(payload.as_bytes());
        mac
    }
}

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey(…)")
    }
}

/// A position in one listing: `scope` says which (a run id, a user), `after` is the last key seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    #[serde(rename = "s")]
    pub scope: String,
    #[serde(rename = "a")]
    pub after: String,
}

impl Cursor {
    pub fn encode(&self, key: &CursorKey) -> String {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default());
        let signature = URL_SAFE_NO_PAD.encode(key.mac(&payload).finalize().into_bytes());
        format!("{payload}.{signature}")
    }

    /// Decodes a cursor, checks its signature (in constant time) and that it belongs to `scope`.
    pub fn decode(text: &str, scope: &str, key: &CursorKey) -> Result<Cursor, Error> {
        let invalid = || Error::invalid("cursor", "The cursor is invalid.");
        let (payload, signature) = text.split_once('.').ok_or_else(invalid)?;
        let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| invalid())?;
        key.mac(payload).verify_slice(&signature).map_err(|_| invalid())?;
        let bytes = URL_SAFE_NO_PAD.decode(payload).map_err(|_| invalid())?;
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
        let key = CursorKey::random();
        let cursor = Cursor { scope: "run-1".into(), after: "42".into() };
        let text = cursor.encode(&key);
        assert_eq!(Cursor::decode(&text, "run-1", &key).unwrap(), cursor);
        assert_eq!(Cursor::decode(&text, "run-2", &key).unwrap_err().status_code(), 422);
        assert_eq!(Cursor::decode("!!", "run-1", &key).unwrap_err().status_code(), 422);
        assert_eq!(Cursor::decode("e30", "run-1", &key).unwrap_err().status_code(), 422);
        // A cursor built by hand with the right scope, unsigned or signed with another key.
        let (payload, _) = text.split_once('.').unwrap();
        assert_eq!(Cursor::decode(payload, "run-1", &key).unwrap_err().status_code(), 422);
        let forged = cursor.encode(&CursorKey::random());
        assert_eq!(Cursor::decode(&forged, "run-1", &key).unwrap_err().status_code(), 422);
        let moved = Cursor { scope: "run-1".into(), after: "99".into() }.encode(&key);
        let (_, signature) = text.split_once('.').unwrap();
        let spliced = format!("{}.{signature}", moved.split_once('.').unwrap().0);
        assert_eq!(Cursor::decode(&spliced, "run-1", &key).unwrap_err().status_code(), 422, "tampered position");
    }
}
