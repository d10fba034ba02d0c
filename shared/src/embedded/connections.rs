//! The in-process connection registry and in-flight CALL slots, beside the rest of the
//! `MemoryStore`: a charger's live connection with its OCPP version, its one CALL in flight with the
//! messages parked on it, and the report its latest report request asked for.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::store::MemoryStore;
use crate::domain::{FollowKind, OcppVersion};
use crate::error::Result;
use crate::messages::{DispatchMessage, FollowExpected, ReportExpected, FOLLOW_KEPT_DAYS, REPORT_KEPT_HOURS};
use crate::ports::{waiter_key, ConnectionRegistry, InflightCall, InflightCalls, LiveConnection, Parking};
use crate::sync::locked;

#[derive(Default)]
pub(super) struct Connections {
    by_identity: HashMap<String, LiveConnection>,
    by_connection: HashMap<String, (String, OcppVersion)>,
}

/// A charger's expected report, and until when it is kept.
pub(super) type Expected = (ReportExpected, DateTime<Utc>);

/// A charger's in-flight CALL and the messages parked on it, by result (`waiter_key`).
pub(super) type Slot = (InflightCall, HashMap<String, DispatchMessage>);

#[async_trait]
impl InflightCalls for MemoryStore {
    async fn acquire(&self, identity: &str, call: &InflightCall, now: DateTime<Utc>) -> Result<bool> {
        let mut inflight = locked(&self.inflight);
        match inflight.get_mut(identity) {
            Some((held, _)) if held.expires_at > now && held.call_id != call.call_id => Ok(false),
            // This CALL's already: its expiry moves on, its waiters stay.
            Some((held, _)) if held.expires_at > now => {
                *held = call.clone();
                Ok(true)
            }
            _ => {
                inflight.insert(identity.to_owned(), (call.clone(), HashMap::new()));
                Ok(true)
            }
        }
    }

    async fn current(&self, identity: &str) -> Result<Option<InflightCall>> {
        Ok(locked(&self.inflight).get(identity).map(|(call, _)| call.clone()))
    }

    async fn wait(&self, identity: &str, held_call_id: &str, message: &DispatchMessage) -> Result<Parking> {
        let mut inflight = locked(&self.inflight);
        match inflight.get_mut(identity) {
            Some((held, waiters)) if held.call_id == held_call_id => {
                match waiters.insert(waiter_key(message), message.clone()) {
                    None => Ok(Parking::Parked),
                    Some(_) => Ok(Parking::AlreadyParked),
                }
            }
            _ => Ok(Parking::NotHeld),
        }
    }

    async fn release(&self, identity: &str, call_id: &str) -> Result<Vec<DispatchMessage>> {
        let mut inflight = locked(&self.inflight);
        if inflight.get(identity).is_some_and(|(held, _)| held.call_id == call_id) {
            return Ok(inflight
                .remove(identity)
                .map(|(_, waiters)| waiters.into_values().collect())
                .unwrap_or_default());
        }
        Ok(Vec::new())
    }

    async fn expect_report(&self, identity: &str, report: &ReportExpected, now: DateTime<Utc>) -> Result<()> {
        let mut reports = locked(&self.reports);
        reports.retain(|_, (_, until)| *until > now);
        reports.insert(
            (identity.to_owned(), report.request_id),
            (report.clone(), now + chrono::Duration::hours(REPORT_KEPT_HOURS)),
        );
        Ok(())
    }

    async fn report_expected(&self, identity: &str, request_id: i64) -> Result<Option<ReportExpected>> {
        let reports = locked(&self.reports);
        let expected = reports.get(&(identity.to_owned(), request_id));
        Ok(expected.filter(|(_, until)| *until > Utc::now()).map(|(report, _)| report.clone()))
    }

    async fn expect_follow_up(&self, identity: &str, expected: &FollowExpected, now: DateTime<Utc>) -> Result<()> {
        let mut follows = locked(&self.follows);
        follows.retain(|_, (_, until)| *until > now);
        let until = now + chrono::Duration::days(FOLLOW_KEPT_DAYS);
        follows.insert((identity.to_owned(), expected.kind), (expected.clone(), until));
        Ok(())
    }

    async fn follow_up_expected(&self, identity: &str, kind: FollowKind) -> Result<Option<FollowExpected>> {
        let follows = locked(&self.follows);
        let expected = follows.get(&(identity.to_owned(), kind));
        Ok(expected.filter(|(_, until)| *until > Utc::now()).map(|(follow, _)| follow.clone()))
    }
}

#[async_trait]
impl ConnectionRegistry for MemoryStore {
    async fn register(&self, identity: &str, connection: &LiveConnection) -> Result<Option<String>> {
        let mut connections = locked(&self.connections);
        let (connection_id, live) = (connection.id.as_str(), connection.clone());
        let replaced = connections.by_identity.insert(identity.to_owned(), live);
        connections.by_connection.insert(connection_id.to_owned(), (identity.to_owned(), connection.version));
        Ok(replaced.map(|old| old.id).filter(|old| old != connection_id))
    }

    async fn connection_of(&self, identity: &str) -> Result<Option<LiveConnection>> {
        Ok(locked(&self.connections).by_identity.get(identity).cloned())
    }

    async fn identity_of(&self, connection_id: &str) -> Result<Option<(String, OcppVersion)>> {
        Ok(locked(&self.connections).by_connection.get(connection_id).cloned())
    }

    async fn unregister(&self, connection_id: &str) -> Result<Option<String>> {
        let mut connections = locked(&self.connections);
        let identity = connections.by_connection.remove(connection_id).map(|(identity, _)| identity);
        if let Some(identity) = &identity {
            if connections.by_identity.get(identity).is_some_and(|c| c.id == connection_id) {
                connections.by_identity.remove(identity);
            }
        }
        Ok(identity)
    }
}
