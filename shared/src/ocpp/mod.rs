//! OCPP-J 1.6 and 2.0.1: frames, the command catalogue with its official schemas, and answers to
//! chargers. A connection speaks the version its handshake negotiated (`OcppVersion`).

pub mod call_id;
pub mod catalogue;
pub mod charger_calls;
pub mod frame;
mod schema;

pub use crate::domain::OcppVersion;
pub use catalogue::Command;
pub use frame::{encode_call, ErrorCode, Frame, FrameError};
