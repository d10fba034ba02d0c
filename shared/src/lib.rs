//! ocpp-bulk's core: the domain rules, OCPP-J frames and the official 1.6 schemas, the ports the
//! handlers talk through, and the embedded adapters. The AWS adapters live beside them.

pub mod answers;
pub mod aws;
pub mod clock;
pub mod domain;
pub mod embedded;
pub mod error;
pub mod follow_ups;
pub mod messages;
pub mod ocpp;
pub mod plans;
pub mod ports;
pub mod queue_message;
pub mod reports;
pub mod retry;
pub mod sync;
pub mod telemetry;
pub mod views;
pub mod webhook;
pub mod window;

pub use error::{Error, Result};
