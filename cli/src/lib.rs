//! The `ocpp-bulk` CLI as a library, so the end-to-end tests drive the very same code.

pub mod demo;
pub mod send;
pub mod server;
pub mod sim;
pub mod stack;
