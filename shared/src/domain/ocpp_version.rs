//! The OCPP versions ocpp-bulk speaks, named by their WebSocket subprotocols, and the rule that
//! picks one for a connection: the first the charger offers that ocpp-bulk speaks.

use serde::{Deserialize, Serialize};

/// An OCPP version, serialised as its subprotocol (`ocpp1.6`, `ocpp2.0.1`). A record written before
/// versions were kept reads as 1.6, the only version there was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub enum OcppVersion {
    #[default]
    #[serde(rename = "ocpp1.6")]
    V16,
    #[serde(rename = "ocpp2.0.1")]
    V201,
}

impl OcppVersion {
    /// Every version, oldest first: the order a command's schemas are tried in.
    pub const ALL: [OcppVersion; 2] = [OcppVersion::V16, OcppVersion::V201];

    /// The WebSocket subprotocol that names it.
    pub fn subprotocol(self) -> &'static str {
        match self {
            OcppVersion::V16 => "ocpp1.6",
            OcppVersion::V201 => "ocpp2.0.1",
        }
    }

    /// How a message to a person names it.
    pub fn name(self) -> &'static str {
        match self {
            OcppVersion::V16 => "OCPP 1.6",
            OcppVersion::V201 => "OCPP 2.0.1",
        }
    }

    pub fn from_subprotocol(name: &str) -> Option<OcppVersion> {
        OcppVersion::ALL.into_iter().find(|v| v.subprotocol() == name.trim())
    }

    /// The version for a handshake whose `Sec-WebSocket-Protocol` header values are `offers` (each
    /// may list several, comma-separated): the first offered that ocpp-bulk speaks, as RFC 6455
    /// leaves the choice to the server and the charger lists its preference first.
    pub fn negotiate<'a>(offers: impl IntoIterator<Item = &'a str>) -> Option<OcppVersion> {
        offers.into_iter().flat_map(|value| value.split(',')).find_map(OcppVersion::from_subprotocol)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_version_offered_that_is_spoken_wins() {
        assert_eq!(OcppVersion::negotiate(["ocpp2.0.1, ocpp1.6"]), Some(OcppVersion::V201));
        assert_eq!(OcppVersion::negotiate(["ocpp1.6", "ocpp2.0.1"]), Some(OcppVersion::V16));
        assert_eq!(OcppVersion::negotiate(["ocpp2.1,ocpp2.0.1"]), Some(OcppVersion::V201));
        assert_eq!(OcppVersion::negotiate(["ocpp2.0", "ocpp1.5"]), None);
        assert_eq!(OcppVersion::negotiate([]), None);
    }

    #[test]
    fn versions_serialise_as_their_subprotocols() {
        assert_eq!(serde_json::to_value(OcppVersion::V201).unwrap(), "ocpp2.0.1");
        assert_eq!(serde_json::from_value::<OcppVersion>("ocpp1.6".into()).unwrap(), OcppVersion::V16);
    }
}
