//! The fleet view: states kept from what chargers send, listed through the narrowest index.

use chrono::{Duration, Utc};
use shared::clock::rfc3339;
use shared::domain::charger_state::{Boot, ChargerState, ConnectorKey, ConnectorStatus, FleetFilter, FleetKey};

use shared::ports::MAX_SCAN;

use crate::harness::cp;

use super::Ports;

async fn list(
    ports: &Ports,
    teams: &[&str],
    filter: &FleetFilter,
    after: Option<&FleetKey>,
    limit: usize,
) -> (Vec<ChargerState>, Option<FleetKey>) {
    let teams: Vec<String> = teams.iter().map(|t| (*t).to_owned()).collect();
    let (states, next) = ports.fleet.page(&teams, filter.index(), after, limit, MAX_SCAN, filter).await.expect("page");
    (states.into_iter().filter(|s| filter.matches(s, Utc::now())).collect(), next)
}

async fn charger(ports: &Ports, identity: &str) -> shared::domain::Charger {
    ports.chargers.charger_by_identity(identity).await.unwrap().expect("charger")
}

fn identities(states: &[ChargerState]) -> Vec<&str> {
    states.iter().map(|s| s.identity.as_str()).collect()
}

fn boot(model: &str, firmware: &str) -> Boot {
    Boot {
        vendor: "ABB".into(),
        model: model.into(),
        firmware: Some(firmware.into()),
        serial: Some("SN-1".into()),
        at: Utc::now(),
    }
}

pub async fn fleet_states_are_kept_and_listed(ports: &Ports) {
    let all = FleetFilter::default();
    let (acme, next) = list(ports, &["acme"], &all, None, 100).await;
    assert_eq!(acme.len(), 4, "CP00000-2 and LOCKED1: {:?}", identities(&acme));
    assert!(next.is_none());
    let mut uuids: Vec<_> = acme.iter().map(|s| s.uuid).collect();
    uuids.sort();
    assert_eq!(acme.iter().map(|s| s.uuid).collect::<Vec<_>>(), uuids, "by uuid within a team");
    assert!(acme.iter().all(|s| !s.connected && s.boot.is_none() && s.last_seen.is_none()));
    let (other, _) = list(ports, &["other"], &all, None, 100).await;
    assert_eq!(identities(&other), ["FOREIGN1"], "teams see their own chargers only");

    // Connected, and a stale disconnection of an older connection changes nothing.
    let now = Utc::now();
    let version = shared::domain::OcppVersion::V201;
    ports.fleet.connected(&charger(ports, &cp(0)).await, "conn-a", version, now).await.unwrap();
    ports.fleet.disconnected(&cp(0), "conn-older", now).await.unwrap();
    let online = FleetFilter { connected: Some(true), ..FleetFilter::default() };
    let (live, _) = list(ports, &["acme"], &online, None, 100).await;
    assert_eq!(identities(&live), [cp(0).as_str()]);
    assert_eq!(live[0].connected_since.map(rfc3339), Some(rfc3339(now)));
    assert_eq!(live[0].ocpp_version, Some(version), "the version its connection speaks");

    // Boots: the model index follows a charger whose model changes.
    ports.fleet.booted(&cp(1), &boot("Terra AC", "1.8.1")).await.unwrap();
    ports.fleet.booted(&cp(2), &boot("Terra AC", "1.10.0")).await.unwrap();
    let old_terra =
        FleetFilter { model: Some("Terra AC".into()), firmware_below: Some("1.9".into()), ..FleetFilter::default() };
    assert_eq!(identities(&list(ports, &["acme"], &old_terra, None, 100).await.0), [cp(1).as_str()]);
    let terra = FleetFilter { model: Some("Terra AC".into()), ..FleetFilter::default() };
    assert_eq!(list(ports, &["acme"], &terra, None, 100).await.0.len(), 2);
    ports.fleet.booted(&cp(1), &boot("Terra DC", "2.0")).await.unwrap();
    assert_eq!(identities(&list(ports, &["acme"], &terra, None, 100).await.0), [cp(2).as_str()]);
    let (dc, _) =
        list(ports, &["acme"], &FleetFilter { model: Some("Terra DC".into()), ..FleetFilter::default() }, None, 100)
            .await;
    assert_eq!(dc[0].boot.as_ref().and_then(|b| b.firmware.as_deref()), Some("2.0"));
    assert_eq!(dc[0].boot.as_ref().and_then(|b| b.serial.as_deref()), Some("SN-1"));

    // Statuses per connector, and signs of life.
    let charging = ConnectorStatus { status: "Charging".into(), error_code: Some("NoError".into()), at: now };
    let key = |evse, connector| ConnectorKey { evse, connector };
    ports.fleet.connector_status(&cp(0), key(None, 1), &charging).await.unwrap();
    ports
        .fleet
        .connector_status(&cp(0), key(None, 0), &ConnectorStatus { status: "Available".into(), ..charging.clone() })
        .await
        .unwrap();
    // OCPP 2.0.1: EVSE 1's two connectors, with no error code, beside 1.6's connector 1.
    let occupied = ConnectorStatus { status: "Occupied".into(), error_code: None, at: now };
    ports.fleet.connector_status(&cp(0), key(Some(1), 1), &occupied).await.unwrap();
    let free = ConnectorStatus { status: "Available".into(), ..occupied.clone() };
    ports.fleet.connector_status(&cp(0), key(Some(1), 2), &free).await.unwrap();
    let later = now + Duration::minutes(20);
    ports.fleet.seen(&cp(0), later).await.unwrap();
    assert_eq!(ports.fleet.last_seen(&cp(0)).await.unwrap().map(rfc3339), Some(rfc3339(later)));
    let (live, _) = list(ports, &["acme"], &online, None, 100).await;
    let status = |k: ConnectorKey| live[0].connectors.get(&k).map(|c| (c.status.clone(), c.error_code.clone()));
    assert_eq!(status(key(None, 1)), Some(("Charging".into(), Some("NoError".into()))));
    assert_eq!(status(key(None, 0)).map(|s| s.0), Some("Available".into()));
    assert_eq!(status(key(Some(1), 1)), Some(("Occupied".into(), None)));
    assert_eq!(status(key(Some(1), 2)), Some(("Available".into(), None)));

    // Pages resume where they stopped.
    let (first, next) = list(ports, &["acme"], &all, None, 3).await;
    let (rest, end) = list(ports, &["acme"], &all, next.as_ref(), 3).await;
    assert_eq!((first.len(), rest.len()), (3, 1), "{next:?}");
    assert!(end.is_none());
    assert!(!identities(&first).contains(&rest[0].identity.as_str()));

    // The registered connection's disconnection; a charger the directory does not hold is ignored.
    ports.fleet.disconnected(&cp(0), "conn-a", later).await.unwrap();
    assert!(list(ports, &["acme"], &online, None, 100).await.0.is_empty());
    let offline = FleetFilter { connected: Some(false), ..FleetFilter::default() };
    assert_eq!(list(ports, &["acme"], &offline, None, 100).await.0.len(), 4);
    ports.fleet.booted("NOPE", &boot("Terra AC", "1")).await.unwrap();
    assert!(ports.fleet.last_seen("NOPE").await.unwrap().is_none());
}

/// Every page of `filter`'s listing of `team`, `limit` at a time and reading at most `scan` index
/// entries a page, end to end: what was listed, and in how many pages.
async fn every_page(
    ports: &Ports,
    team: &str,
    filter: &FleetFilter,
    limit: usize,
    scan: usize,
) -> (Vec<ChargerState>, usize) {
    let (mut all, mut after) = (Vec::new(), None);
    let teams = [team.to_owned()];
    for pages in 1..=100 {
        let (page, next) =
            ports.fleet.page(&teams, filter.index(), after.as_ref(), limit, scan, filter).await.expect("page");
        assert!(page.len() <= limit);
        all.extend(page.into_iter().filter(|s| filter.matches(s, Utc::now())));
        match next {
            Some(next) => after = Some(next),
            None => return (all, pages),
        }
    }
    panic!("the listing never ended")
}

pub async fn a_big_team_is_listed_in_charger_order_page_by_page(ports: &Ports) {
    let team = format!("pages-{}", uuid::Uuid::new_v4().simple());
    let now = Utc::now();
    let chargers: Vec<shared::domain::Charger> = (0..40)
        .map(|i| shared::domain::Charger {
            uuid: uuid::Uuid::new_v4(),
            identity: format!("PAGE{i:02}-{team}"),
            reference: None,
            team: team.clone(),
            password_hash: None,
        })
        .collect();
    for (i, charger) in chargers.iter().enumerate() {
        ports.fleet.connected(charger, &format!("c{i}"), shared::domain::OcppVersion::V16, now).await.unwrap();
        if i % 2 == 0 {
            ports.fleet.booted(&charger.identity, &boot("Big", "1.0")).await.unwrap();
        }
        if i % 4 == 1 {
            ports.fleet.disconnected(&charger.identity, &format!("c{i}"), now).await.unwrap();
        }
    }
    let mut uuids: Vec<_> = chargers.iter().map(|c| c.uuid).collect();
    uuids.sort();
    let expect = |keep: &dyn Fn(usize) -> bool| -> Vec<uuid::Uuid> {
        let kept: Vec<_> = chargers.iter().enumerate().filter(|(i, _)| keep(*i)).map(|(_, c)| c.uuid).collect();
        uuids.iter().copied().filter(|u| kept.contains(u)).collect()
    };
    let uuids_of = |(states, _): (Vec<ChargerState>, usize)| states.into_iter().map(|s| s.uuid).collect::<Vec<_>>();

    let all = FleetFilter::default();
    let every = expect(&|_| true);
    assert_eq!(uuids_of(every_page(ports, &team, &all, 7, MAX_SCAN).await), every, "every charger once, in order");
    let online = FleetFilter { connected: Some(true), ..FleetFilter::default() };
    let connected = expect(&|i| i % 4 != 1);
    assert_eq!(uuids_of(every_page(ports, &team, &online, 6, MAX_SCAN).await), connected, "the connected");
    let big = FleetFilter { model: Some("Big".into()), ..FleetFilter::default() };
    assert_eq!(uuids_of(every_page(ports, &team, &big, 5, MAX_SCAN).await), expect(&|i| i % 2 == 0), "one model");
    let big_offline = FleetFilter { connected: Some(false), ..big.clone() };
    assert_eq!(uuids_of(every_page(ports, &team, &big_offline, 1, MAX_SCAN).await), Vec::<uuid::Uuid>::new());

    // Pages cut short by their scan budget (as `MAX_SCAN` cuts a big team's) resume where the
    // reading stopped: nothing is listed twice or skipped, down to one entry read per share.
    let offline = FleetFilter { connected: Some(false), ..FleetFilter::default() };
    for (filter, limit, scan, expected) in [(&all, 40, 34, &every), (&online, 100, 9, &connected)] {
        let (listed, pages) = every_page(ports, &team, filter, limit, scan).await;
        assert_eq!(uuids_of((listed, pages)), *expected, "{filter:?} reading {scan} a page");
        assert!(pages > expected.len().div_ceil(limit), "cut short: {pages} pages of {limit}, reading {scan}");
    }
    let (listed, pages) = every_page(ports, &team, &offline, 100, 12).await;
    assert_eq!(uuids_of((listed, pages)), expect(&|i| i % 4 == 1), "few matches among many entries read");
    assert!(pages > 1, "cut short: {pages}");
}
