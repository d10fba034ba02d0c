//! Test harness: a running embedded stack on a free port, fleets, raw and simulated chargers,
//! and the contract suite every adapter set must pass.

pub mod aws;
pub mod contract;
pub mod failing;
pub mod harness;
