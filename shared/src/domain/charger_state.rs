//! What the fleet view knows of each charger (`GET /v3/chargers`), and the filter that lists and
//! targets chargers by it. The WebSocket handler keeps the state from what chargers send:
//! `$connect` / `$disconnect`, BootNotification, StatusNotification, and any CALL as a sign of life.
//! Every rule about that state is here: what a filter matches, how firmware versions compare,
//! when `last_seen` is worth a write, when a connection counts as live.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::access::Charger;
use super::ocpp_version::OcppVersion;

/// The heartbeat interval, in seconds, given to every charger that boots (`ocpp::charger_calls`).
pub const HEARTBEAT_INTERVAL_SECONDS: u32 = 300;

/// `last_seen` is kept to within this much while a charger stays connected: a sign of life
/// writes only when the stored one is older. Three heartbeat intervals: a connected charger's
/// liveness is its connection; `last_seen` matters once it is gone, and `$disconnect` records
/// that moment exactly. One write per charger per 15 minutes instead of one per heartbeat.
pub const LAST_SEEN_RESOLUTION: Duration = Duration::minutes(15);

/// A charger counts as connected while its connection is registered and it was seen within
/// this long. API Gateway documents `$disconnect` as best effort, so a connection that ended
/// without one must not count as live for ever: `last_seen` at its resolution plus two missed
/// heartbeats (and API Gateway closes a connection idle for 10 minutes).
pub fn liveness_window() -> Duration {
    LAST_SEEN_RESOLUTION + Duration::seconds(2 * i64::from(HEARTBEAT_INTERVAL_SECONDS))
}

/// What the charger said of itself in its last BootNotification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Boot {
    pub vendor: String,
    pub model: String,
    pub firmware: Option<String>,
    pub serial: Option<String>,
    pub at: DateTime<Utc>,
}

impl Boot {
    /// From a BootNotification payload of `version` that passed its schema (2.0.1 names the
    /// station in `chargingStation`).
    pub fn from_payload(version: OcppVersion, payload: &serde_json::Value, at: DateTime<Utc>) -> Option<Boot> {
        let text = |from: &serde_json::Value, name: &str| {
            from.get(name).and_then(serde_json::Value::as_str).map(str::to_owned)
        };
        match version {
            OcppVersion::V16 => Some(Boot {
                vendor: text(payload, "chargePointVendor")?,
                model: text(payload, "chargePointModel")?,
                firmware: text(payload, "firmwareVersion"),
                serial: text(payload, "chargePointSerialNumber").or_else(|| text(payload, "chargeBoxSerialNumber")),
                at,
            }),
            OcppVersion::V201 => {
                let station = payload.get("chargingStation")?;
                Some(Boot {
                    vendor: text(station, "vendorName")?,
                    model: text(station, "model")?,
                    firmware: text(station, "firmwareVersion"),
                    serial: text(station, "serialNumber"),
                    at,
                })
            }
        }
    }
}

/// Where a status belongs: an OCPP 1.6 connector (0 is the charger itself), or a connector of an
/// OCPP 2.0.1 EVSE. Named `{connector}` or `{evse}/{connector}` where a name is needed (a store's map
/// key), so the two never collide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct ConnectorKey {
    pub evse: Option<u32>,
    pub connector: u32,
}

impl ConnectorKey {
    pub fn parse(name: &str) -> Option<ConnectorKey> {
        let number = |text: &str| text.parse::<u32>().ok().filter(|n| *n <= MAX_CONNECTOR_ID);
        match name.split_once('/') {
            Some((evse, connector)) => Some(ConnectorKey { evse: Some(number(evse)?), connector: number(connector)? }),
            None => Some(ConnectorKey { evse: None, connector: number(name)? }),
        }
    }
}

impl From<ConnectorKey> for String {
    fn from(key: ConnectorKey) -> String {
        match key.evse {
            Some(evse) => format!("{evse}/{}", key.connector),
            None => key.connector.to_string(),
        }
    }
}

impl TryFrom<String> for ConnectorKey {
    type Error = String;
    fn try_from(name: String) -> Result<ConnectorKey, String> {
        ConnectorKey::parse(&name).ok_or_else(|| format!("{name:?} names no connector"))
    }
}

/// A connector's last StatusNotification (2.0.1 has no error code in a status).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectorStatus {
    pub status: String,
    pub error_code: Option<String>,
    pub at: DateTime<Utc>,
}

impl ConnectorStatus {
    /// From a StatusNotification payload of `version` that passed its schema: where, and what.
    pub fn from_payload(
        version: OcppVersion,
        payload: &serde_json::Value,
        at: DateTime<Utc>,
    ) -> Option<(ConnectorKey, ConnectorStatus)> {
        let number = |name: &str| u32::try_from(payload.get(name)?.as_u64()?).ok().filter(|c| *c <= MAX_CONNECTOR_ID);
        let text = |name: &str| payload.get(name).and_then(serde_json::Value::as_str).map(str::to_owned);
        match version {
            OcppVersion::V16 => Some((
                ConnectorKey { evse: None, connector: number("connectorId")? },
                ConnectorStatus { status: text("status")?, error_code: Some(text("errorCode")?), at },
            )),
            OcppVersion::V201 => Some((
                ConnectorKey { evse: Some(number("evseId")?), connector: number("connectorId")? },
                ConnectorStatus { status: text("connectorStatus")?, error_code: None, at },
            )),
        }
    }
}

/// One charger of the fleet view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChargerState {
    pub uuid: Uuid,
    pub identity: String,
    pub reference: Option<String>,
    pub team: String,
    /// Its connection is registered (see `is_connected` for what the view reports).
    pub connected: bool,
    pub connected_since: Option<DateTime<Utc>>,
    /// The version its latest connection speaks (`None` before it first connected).
    #[serde(default)]
    pub ocpp_version: Option<OcppVersion>,
    pub last_seen: Option<DateTime<Utc>>,
    pub boot: Option<Boot>,
    pub connectors: BTreeMap<ConnectorKey, ConnectorStatus>,
}

impl ChargerState {
    /// A charger as imported, never seen.
    pub fn new(charger: &Charger) -> ChargerState {
        ChargerState {
            uuid: charger.uuid,
            identity: charger.identity.clone(),
            reference: charger.reference.clone(),
            team: charger.team.clone(),
            connected: false,
            connected_since: None,
            ocpp_version: None,
            last_seen: None,
            boot: None,
            connectors: BTreeMap::new(),
        }
    }

    /// Connected, and seen recently enough that the connection is believed (`liveness_window`).
    pub fn is_connected(&self, now: DateTime<Utc>) -> bool {
        self.connected && self.last_seen.is_some_and(|seen| now - seen <= liveness_window())
    }

    /// What an index holds of it.
    pub fn entry(&self) -> FleetEntry {
        let boot = self.boot.as_ref();
        FleetEntry {
            connected: self.connected,
            vendor: boot.map(|b| b.vendor.clone()),
            model: boot.map(|b| b.model.clone()),
            firmware: boot.and_then(|b| b.firmware.clone()),
        }
    }

    pub fn key(&self) -> FleetKey {
        FleetKey { team: self.team.clone(), charger: self.uuid, identity: self.identity.clone() }
    }
}

/// Whether a sign of life at `now` is worth writing, given the stored `last_seen`.
pub fn last_seen_is_stale(stored: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    stored.is_none_or(|seen| now - seen >= LAST_SEEN_RESOLUTION)
}

/// What an index entry tells about a charger, before its whole state is read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FleetEntry {
    pub connected: bool,
    pub vendor: Option<String>,
    pub model: Option<String>,
    pub firmware: Option<String>,
}

/// The narrowest way to read a team's chargers for a filter: every charger, the connected ones,
/// or those of one model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FleetIndex<'a> {
    All,
    Connected,
    Model(&'a str),
}

/// Index entries one page of a fleet listing reads at most (`FleetStates::page`).
pub const MAX_SCAN: usize = 2_000;

/// The longest value a filter field may hold (BootNotification's own fields are at most 50).
pub const MAX_FILTER_BYTES: usize = 128;

/// The highest connector id whose status is kept: a charger's state stays bounded whatever
/// connector ids it reports.
pub const MAX_CONNECTOR_ID: u32 = 100;

/// Where a fleet listing stands: chargers are listed by team, then by uuid.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct FleetKey {
    pub team: String,
    pub charger: Uuid,
    pub identity: String,
}

/// Which chargers a listing shows or a run targets. Every condition given must hold; none given
/// matches every charger the caller can reach.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connected: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The firmware version, exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware: Option<String>,
    /// Firmware older than this version (`compare_versions`); a charger of unknown firmware is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware_below: Option<String>,
}

impl FleetFilter {
    /// The teams to list, in order: the filter's team if the caller has it, else all of theirs.
    pub fn teams(&self, caller_teams: &[String]) -> Vec<String> {
        let mut teams: Vec<String> =
            caller_teams.iter().filter(|t| self.team.as_ref().is_none_or(|only| only == *t)).cloned().collect();
        teams.sort();
        teams.dedup();
        teams
    }

    /// The conditions an index entry can answer (what does not change with every heartbeat):
    /// a charger that fails them fails `matches` too.
    pub fn may_match(&self, entry: &FleetEntry) -> bool {
        let same = |wanted: &Option<String>, have: &Option<String>| wanted.is_none() || wanted == have;
        self.connected.is_none_or(|wanted| !wanted || entry.connected)
            && same(&self.vendor, &entry.vendor)
            && same(&self.model, &entry.model)
            && same(&self.firmware, &entry.firmware)
            && self.firmware_below.as_deref().is_none_or(|below| {
                entry.firmware.as_deref().is_some_and(|have| compare_versions(have, below) == Ordering::Less)
            })
    }

    pub fn matches(&self, state: &ChargerState, now: DateTime<Utc>) -> bool {
        self.team.as_ref().is_none_or(|team| *team == state.team)
            && self.connected.is_none_or(|wanted| wanted == state.is_connected(now))
            && self.may_match(&FleetEntry { connected: true, ..state.entry() })
    }

    /// The narrowest index that holds every charger this filter can match.
    pub fn index(&self) -> FleetIndex<'_> {
        match (&self.model, self.connected) {
            (Some(model), _) => FleetIndex::Model(model),
            (None, Some(true)) => FleetIndex::Connected,
            _ => FleetIndex::All,
        }
    }

    /// The first field longer than `MAX_FILTER_BYTES`, if any: a filter names teams, vendors,
    /// models and versions, and each field keys an index partition or is compared per charger.
    pub fn too_long(&self) -> Option<&'static str> {
        [
            ("team", &self.team),
            ("vendor", &self.vendor),
            ("model", &self.model),
            ("firmware", &self.firmware),
            ("firmware_below", &self.firmware_below),
        ]
        .into_iter()
        .find(|(_, value)| value.as_ref().is_some_and(|v| v.len() > MAX_FILTER_BYTES))
        .map(|(name, _)| name)
    }

    /// The filter as query parameters (for pagination links), in a fixed order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        let mut pairs = Vec::new();
        let mut add = |name: &str, value: Option<String>| {
            if let Some(value) = value {
                pairs.push((name.to_owned(), value));
            }
        };
        add("team", self.team.clone());
        add("connected", self.connected.map(|c| c.to_string()));
        add("vendor", self.vendor.clone());
        add("model", self.model.clone());
        add("firmware", self.firmware.clone());
        add("firmware_below", self.firmware_below.clone());
        pairs
    }
}

/// Compares firmware versions as chargers write them ("1.8.2", "v2.10", "4.0.1-rc2"): runs of
/// digits compare as numbers, anything else as text, case-insensitively, a leading "v" ignored;
/// a version that is a prefix of another ("1.8" of "1.8.1") is older.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let parts = |v: &str| -> Vec<Part> {
        let v = v.trim();
        let v = v.strip_prefix(['v', 'V']).unwrap_or(v);
        let mut parts = Vec::new();
        let mut rest = v;
        while let Some(first) = rest.chars().next() {
            let digits = first.is_ascii_digit();
            let end = rest.find(|c: char| c.is_ascii_digit() != digits || matches!(c, '.' | '-' | '_' | '+'));
            let (part, tail) = rest.split_at(end.unwrap_or(rest.len()).max(first.len_utf8()));
            if digits {
                let trimmed = part.trim_start_matches('0');
                parts.push(Part::Number(trimmed.len(), trimmed.to_owned()));
            } else if !matches!(part, "." | "-" | "_" | "+") {
                parts.push(Part::Text(part.to_ascii_lowercase()));
            }
            rest = tail;
        }
        parts
    };
    parts(a).cmp(&parts(b))
}

/// A piece of a version: numbers (by length without leading zeros, then digits: any size) come
/// before text, so "1.8.2" < "1.8.2a" and "1.9" < "1.10".
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Part {
    Number(usize, String),
    Text(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_by_their_numbers() {
        use Ordering::*;
        assert_eq!(compare_versions("1.8.1", "1.8.2"), Less);
        assert_eq!(compare_versions("1.9", "1.10"), Less);
        assert_eq!(compare_versions("v2.0", "2.0"), Equal);
        assert_eq!(compare_versions("1.8", "1.8.0"), Less);
        assert_eq!(compare_versions("1.08", "1.8"), Equal);
        assert_eq!(compare_versions("4.0.1-rc2", "4.0.1-rc10"), Less);
        assert_eq!(compare_versions("99999999999999999999999.1", "1.0"), Greater);
        assert_eq!(compare_versions("", "1"), Less);
        assert_eq!(compare_versions("Rev-Ä", "rev-ä"), Less, "non-ASCII text compares as it is");
    }

    fn state(connected: bool, last_seen_minutes_ago: i64, firmware: Option<&str>) -> (ChargerState, DateTime<Utc>) {
        let now = Utc::now();
        let charger = Charger {
            uuid: Uuid::new_v4(),
            identity: "CP1".into(),
            reference: None,
            team: "acme".into(),
            password_hash: None,
        };
        let mut state = ChargerState::new(&charger);
        state.connected = connected;
        state.last_seen = Some(now - Duration::minutes(last_seen_minutes_ago));
        state.boot = Some(Boot {
            vendor: "ABB".into(),
            model: "Terra AC".into(),
            firmware: firmware.map(str::to_owned),
            serial: None,
            at: now,
        });
        (state, now)
    }

    #[test]
    fn filters_match_every_condition_given() {
        let (s, now) = state(true, 1, Some("1.8.1"));
        let f = |json: serde_json::Value| serde_json::from_value::<FleetFilter>(json).unwrap();
        assert!(FleetFilter::default().matches(&s, now));
        assert!(
            f(serde_json::json!({"model": "Terra AC", "firmware_below": "1.8.2", "connected": true})).matches(&s, now)
        );
        assert!(!f(serde_json::json!({"firmware_below": "1.8.1"})).matches(&s, now));
        assert!(!f(serde_json::json!({"vendor": "Alfen"})).matches(&s, now));
        assert!(!f(serde_json::json!({"connected": false})).matches(&s, now));
        assert!(!f(serde_json::json!({"team": "other"})).matches(&s, now));
        let (unknown, now) = state(false, 1, None);
        assert!(!f(serde_json::json!({"firmware_below": "9"})).matches(&unknown, now));
        assert!(f(serde_json::json!({"connected": false})).matches(&unknown, now));
        assert!(serde_json::from_value::<FleetFilter>(serde_json::json!({"colour": "red"})).is_err());
    }

    #[test]
    fn a_connection_unseen_too_long_is_not_believed() {
        let (fresh, now) = state(true, 20, None);
        assert!(fresh.is_connected(now));
        let (stale, now) = state(true, 30, None);
        assert!(!stale.is_connected(now));
    }

    #[test]
    fn last_seen_is_written_once_per_resolution() {
        let now = Utc::now();
        assert!(last_seen_is_stale(None, now));
        assert!(!last_seen_is_stale(Some(now - Duration::minutes(14)), now));
        assert!(last_seen_is_stale(Some(now - Duration::minutes(15)), now));
    }

    #[test]
    fn teams_are_the_callers_only() {
        let mine = vec!["b".to_owned(), "a".to_owned()];
        assert_eq!(FleetFilter::default().teams(&mine), vec!["a", "b"]);
        let other = FleetFilter { team: Some("z".into()), ..FleetFilter::default() };
        assert!(other.teams(&mine).is_empty());
    }

    #[test]
    fn boots_and_statuses_read_in_either_version() {
        let now = Utc::now();
        let boot16 =
            serde_json::json!({"chargePointVendor": "ABB", "chargePointModel": "Terra", "chargeBoxSerialNumber": "S1"});
        let boot = Boot::from_payload(OcppVersion::V16, &boot16, now).unwrap();
        assert_eq!((boot.vendor.as_str(), boot.serial.as_deref()), ("ABB", Some("S1")));
        let boot201 = serde_json::json!({"reason": "PowerUp", "chargingStation":
            {"vendorName": "Alpitronic", "model": "HYC300", "firmwareVersion": "2.1", "serialNumber": "S2"}});
        let boot = Boot::from_payload(OcppVersion::V201, &boot201, now).unwrap();
        assert_eq!((boot.model.as_str(), boot.firmware.as_deref()), ("HYC300", Some("2.1")));
        assert!(Boot::from_payload(OcppVersion::V201, &boot16, now).is_none());

        let status201 = serde_json::json!({"timestamp": "2026-12-03T10:00:00Z", "connectorStatus": "Occupied",
            "evseId": 2, "connectorId": 1});
        let (key, status) = ConnectorStatus::from_payload(OcppVersion::V201, &status201, now).unwrap();
        assert_eq!((key, status.error_code), (ConnectorKey { evse: Some(2), connector: 1 }, None));
        assert_eq!(String::from(key), "2/1");
        let status16 = serde_json::json!({"connectorId": 1, "errorCode": "NoError", "status": "Charging"});
        let (key, status) = ConnectorStatus::from_payload(OcppVersion::V16, &status16, now).unwrap();
        assert_eq!((String::from(key), status.status.as_str()), ("1".to_owned(), "Charging"));
        assert_eq!(ConnectorKey::parse("2/1"), Some(ConnectorKey { evse: Some(2), connector: 1 }));
        assert_eq!(ConnectorKey::parse("0"), Some(ConnectorKey { evse: None, connector: 0 }));
        assert_eq!(ConnectorKey::parse("2/x"), None);
    }
}
