//! OCPP 1.6-J: frames, the command catalogue with its official schemas, and answers to chargers.

pub mod call_id;
pub mod catalogue;
pub mod charger_calls;
pub mod frame;
mod schema;

pub use catalogue::Command;
pub use frame::{encode_call, ErrorCode, Frame, FrameError};

/// The WebSocket subprotocol a charger must offer.
pub const SUBPROTOCOL: &str = "ocpp1.6";
