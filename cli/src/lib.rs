//! The `ocpp-bulk` CLI as a library, so the end-to-end tests drive the very same code.

pub mod demo;
pub mod demo_rollout;
pub mod directory;
pub mod fleet_gen;
pub mod invocations;
pub mod lambda_like;
pub mod runs;
pub mod send;
pub mod server;
pub mod sim;
pub mod sim_answers;
pub mod sim_jobs;
pub mod stack;

/// Chooses the TLS crypto provider once per process (the AWS SDK's, aws-lc-rs): rustls refuses to
/// guess when more than one is compiled in, and `wss://` chargers and `https://` APIs need one.
pub fn init_tls() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}
