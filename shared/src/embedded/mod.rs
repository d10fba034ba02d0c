//! Embedded adapters: every port in-process, for the local stack and for tests.

pub mod connections;
pub mod queue;
pub mod store;

pub use connections::{LocalConnections, Outbound};
pub use queue::{LocalQueue, QueueConsumer, QueueOptions};
pub use store::MemoryStore;
