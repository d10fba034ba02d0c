//! Embedded adapters: every port in-process, for the local stack and for tests.

pub mod connections;
mod controls;
pub mod fleet_states;
pub mod gateway;
pub mod queue;
pub mod requests;
pub mod store;
pub mod webhooks;

pub use fleet_states::MemoryFleet;
pub use gateway::{MemoryGateway, Outbound};
pub use queue::{MemoryQueue, QueueConsumer, QueueOptions};
pub use store::MemoryStore;
