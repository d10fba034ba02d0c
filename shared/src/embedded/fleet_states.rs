//! The fleet view in process: every charger's state, ordered as listings read it (team, uuid).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::charger_state::{Boot, ChargerState, ConnectorKey, ConnectorStatus, FleetFilter, FleetKey};
use crate::domain::{Charger, OcppVersion};
use crate::error::Result;
use crate::ports::{FleetIndex, FleetStates};
use crate::sync::locked;

#[derive(Default)]
struct Fleet {
    states: BTreeMap<(String, Uuid), ChargerState>,
    /// identity → its key in `states`, and the connection it is connected on.
    by_identity: HashMap<String, ((String, Uuid), Option<String>)>,
}

#[derive(Default)]
pub struct MemoryFleet {
    fleet: Mutex<Fleet>,
}

impl MemoryFleet {
    /// A state per charger, keeping what was observed of chargers already known.
    pub fn import(&self, chargers: &[Charger]) {
        let mut fleet = locked(&self.fleet);
        for charger in chargers {
            let key = (charger.team.clone(), charger.uuid);
            let old = fleet.by_identity.remove(&charger.identity);
            let mut state = match &old {
                Some((old_key, _)) => fleet.states.remove(old_key).unwrap_or_else(|| ChargerState::new(charger)),
                None => ChargerState::new(charger),
            };
            state.uuid = charger.uuid;
            state.team = charger.team.clone();
            state.reference = charger.reference.clone();
            fleet.states.insert(key.clone(), state);
            fleet.by_identity.insert(charger.identity.clone(), (key, old.and_then(|(_, c)| c)));
        }
    }

    /// Changes the state of `identity`, if the directory holds it.
    fn update(&self, identity: &str, change: impl FnOnce(&mut ChargerState, &mut Option<String>)) {
        let mut fleet = locked(&self.fleet);
        let Fleet { states, by_identity } = &mut *fleet;
        if let Some((key, connection)) = by_identity.get_mut(identity) {
            if let Some(state) = states.get_mut(key) {
                change(state, connection);
            }
        }
    }
}

#[async_trait]
impl FleetStates for MemoryFleet {
    async fn connected(
        &self,
        charger: &Charger,
        connection: &str,
        version: OcppVersion,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let identity = charger.identity.as_str();
        if !locked(&self.fleet).by_identity.contains_key(identity) {
            self.import(std::slice::from_ref(charger));
        }
        self.update(identity, |state, live| {
            *live = Some(connection.to_owned());
            state.connected = true;
            state.connected_since = Some(at);
            state.ocpp_version = Some(version);
            state.last_seen = Some(at);
        });
        Ok(())
    }

    async fn disconnected(&self, identity: &str, connection: &str, at: DateTime<Utc>) -> Result<()> {
        self.update(identity, |state, live| {
            if live.as_deref() == Some(connection) {
                *live = None;
                state.connected = false;
                state.last_seen = Some(at);
            }
        });
        Ok(())
    }

    async fn booted(&self, identity: &str, boot: &Boot) -> Result<()> {
        self.update(identity, |state, _| {
            state.last_seen = Some(boot.at);
            state.boot = Some(boot.clone());
        });
        Ok(())
    }

    async fn connector_status(&self, identity: &str, key: ConnectorKey, status: &ConnectorStatus) -> Result<()> {
        self.update(identity, |state, _| {
            state.last_seen = Some(status.at);
            state.connectors.insert(key, status.clone());
        });
        Ok(())
    }

    async fn last_seen(&self, identity: &str) -> Result<Option<DateTime<Utc>>> {
        let fleet = locked(&self.fleet);
        Ok(fleet.by_identity.get(identity).and_then(|(key, _)| fleet.states.get(key)).and_then(|s| s.last_seen))
    }

    async fn seen(&self, identity: &str, at: DateTime<Utc>) -> Result<()> {
        self.update(identity, |state, _| state.last_seen = Some(at));
        Ok(())
    }

    async fn page(
        &self,
        teams: &[String],
        index: FleetIndex<'_>,
        after: Option<&FleetKey>,
        limit: usize,
        scan: usize,
        filter: &FleetFilter,
    ) -> Result<(Vec<ChargerState>, Option<FleetKey>)> {
        let fleet = locked(&self.fleet);
        let mut found = Vec::new();
        let mut scanned = 0;
        for team in teams.iter().filter(|team| after.is_none_or(|a| **team >= a.team)) {
            let from = match after.filter(|a| a.team == *team) {
                Some(a) => std::ops::Bound::Excluded((team.clone(), a.charger)),
                None => std::ops::Bound::Included((team.clone(), Uuid::nil())),
            };
            let to = std::ops::Bound::Included((team.clone(), Uuid::max()));
            for state in fleet.states.range((from, to)).map(|(_, state)| state) {
                let entry = state.entry();
                let in_index = match index {
                    FleetIndex::All => true,
                    FleetIndex::Connected => state.connected,
                    FleetIndex::Model(model) => entry.model.as_deref() == Some(model),
                };
                if !in_index {
                    continue;
                }
                if filter.may_match(&entry) {
                    found.push(state.clone());
                    if found.len() > limit {
                        found.truncate(limit);
                        return Ok((found.clone(), found.last().map(ChargerState::key)));
                    }
                }
                scanned += 1;
                if scanned >= scan {
                    return Ok((found, Some(state.key())));
                }
            }
        }
        Ok((found, None))
    }
}
