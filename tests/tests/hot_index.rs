//! A team's chargers all reconnecting at once, on the strict stand-in with the directory table
//! scaled down to the test's size: no index partition may take a whole team's writes; and a state
//! written before the split still listed. AWS only.

use chrono::Utc;
use ocpp_bulk_tests::aws::{partitions_matching, ports_on, scale_table};
use ocpp_bulk_tests::harness::{charger_uuid, fleet};
use shared::domain::{Charger, OcppVersion};
use shared::ports::MAX_SCAN;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_team_reconnecting_at_once_throttles_no_index_partition() {
    let (ports, tables) = ports_on("hot-index", &fleet(1)).await;
    // 160 chargers of one team against partitions of 80 writes a second: 150,000 against 1,000
    // would be the same storm ("A team's index partitions: split sixteen ways" in docs/data-model.md).
    scale_table(&tables.directory, 80).await;
    let team = format!("storm{}", uuid::Uuid::new_v4().simple());
    let chargers: Vec<Charger> = (0..160)
        .map(|i| {
            let identity = format!("STORM{i:03}{team}");
            Charger {
                uuid: charger_uuid(&identity),
                identity,
                reference: None,
                team: team.clone(),
                password_hash: None,
            }
        })
        .collect();
    let now = Utc::now();
    let connects = chargers.iter().map(|c| ports.fleet.connected(c, &c.identity, OcppVersion::V16, now));
    for connected in futures::future::join_all(connects).await {
        connected.expect("connected");
    }
    let drops = chargers.iter().map(|c| ports.fleet.disconnected(&c.identity, &c.identity, now));
    for dropped in futures::future::join_all(drops).await {
        dropped.expect("disconnected");
    }
    let index_rows: Vec<_> =
        partitions_matching(&team).await.into_iter().filter(|(bucket, ..)| bucket.contains('/')).collect();
    assert!(!index_rows.is_empty(), "the index writes were charged");
    let throttled: Vec<_> = index_rows.iter().filter(|row| row.3 > 0).collect();
    assert!(throttled.is_empty(), "index partitions throttled: {throttled:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_written_before_the_split_is_still_listed() {
    use shared::aws::item::string;
    use shared::domain::charger_state::FleetFilter;
    let clients = ocpp_bulk_tests::aws::clients().await;
    let (ports, tables) = ports_on("unsplit", &fleet(1)).await;
    let team = format!("old{}", uuid::Uuid::new_v4().simple());
    let identity = format!("OLD{team}");
    let charger =
        Charger { uuid: charger_uuid(&identity), identity, reference: None, team: team.clone(), password_hash: None };
    ports.fleet.connected(&charger, "c1", OcppVersion::V16, Utc::now()).await.unwrap();
    // As a stack deployed before the split wrote it: one key per team.
    clients
        .dynamodb
        .update_item()
        .table_name(&tables.directory)
        .key("pk", string(format!("STATE#{}", charger.identity)))
        .update_expression("SET fleet_team = :team, fleet_online = :team")
        .expression_attribute_values(":team", string(&team))
        .send()
        .await
        .unwrap();
    for filter in [FleetFilter::default(), FleetFilter { connected: Some(true), ..FleetFilter::default() }] {
        let (listed, next) =
            ports.fleet.page(std::slice::from_ref(&team), filter.index(), None, 10, MAX_SCAN, &filter).await.unwrap();
        assert_eq!(listed.iter().map(|s| s.uuid).collect::<Vec<_>>(), [charger.uuid], "{filter:?}");
        assert!(next.is_none());
    }
    // Its next boot moves it to its shard.
    let boot = shared::domain::charger_state::Boot {
        vendor: "ABB".into(),
        model: "Terra".into(),
        firmware: None,
        serial: None,
        at: Utc::now(),
    };
    ports.fleet.booted(&charger.identity, &boot).await.unwrap();
    let key = [("pk".to_owned(), string(format!("STATE#{}", charger.identity)))].into();
    let item = shared::aws::item::get_item(&clients.dynamodb, &tables.directory, key, true).await.unwrap().unwrap();
    let keys = ["fleet_team", "fleet_online"].map(|name| shared::aws::item::opt_s(&item, name).map(str::to_owned));
    assert!(keys.iter().all(|k| k.as_ref().is_some_and(|k| k.starts_with(&format!("{team}#")))), "{keys:?}");
}
