//! The rules of ocpp-bulk, free of any transport or storage.

pub mod access;
pub mod charger_state;
pub mod cursor;
pub mod fleet;
pub mod follow_up;
pub mod ocpp_version;
pub mod report;
pub mod result;
pub mod rollout;
pub mod run;
pub mod webhook;

pub use access::{Charger, Identity};
pub use cursor::{Cursor, CursorKey};
pub use follow_up::{FollowKind, FollowState, FollowUp, OutcomePolicy};
pub use ocpp_version::OcppVersion;
pub use result::{ChargerRef, Expect, Outcome, ResultRecord};
pub use run::{Counters, ResultStatus, Run, RunStatus, VersionCommand};
